"""Progress reporting on stderr: a live line on a terminal, quiet plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def stderr_progress(stream: TextIO | None = None) -> Callable[[str], None]:
    """A ``progress(msg)`` callable for long runs.

    On a terminal it rewrites one status line (with the elapsed time); otherwise (CI, a
    pipe, a log file) it prints one plain line per message, so logs stay readable.
    """
    stream = stream or sys.stderr
    t0 = time.perf_counter()
    tty = hasattr(stream, "isatty") and stream.isatty()

    def progress(msg: str) -> None:
        elapsed = time.perf_counter() - t0
        if tty:
            stream.write(f"\r\x1b[K[{elapsed:6.1f}s] {msg}")
        else:
            stream.write(f"[{elapsed:6.1f}s] {msg}\n")
        stream.flush()

    def close() -> None:
        if tty:
            stream.write("\n")
            stream.flush()

    progress.close = close  # type: ignore[attr-defined]
    return progress
