"""Progress reporting on stderr: a live line on a terminal, quiet plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StderrProgress:
    """A ``progress(msg)`` callable for long runs; :meth:`close` ends its status line.

    On a terminal it rewrites one status line (with the elapsed time); otherwise (CI, a
    pipe, a log file) it prints one plain line per message, so logs stay readable.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.written = False

    def __call__(self, msg: str) -> None:
        elapsed = time.perf_counter() - self.t0
        if self.tty:
            self.stream.write(f"\r\x1b[K[{elapsed:6.1f}s] {msg}")
        else:
            self.stream.write(f"[{elapsed:6.1f}s] {msg}\n")
        self.stream.flush()
        self.written = True

    def close(self) -> None:
        """End the live status line on a terminal (nothing to do if nothing was shown)."""
        if self.tty and self.written:
            self.stream.write("\n")
            self.stream.flush()


def stderr_progress(stream: TextIO | None = None) -> StderrProgress:
    """A :class:`StderrProgress` on ``stream`` (default: ``sys.stderr``)."""
    return StderrProgress(stream)
