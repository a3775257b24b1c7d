"""Wall time of the commands that must answer at once (issue 14: under 1 s), run by hand::

    python benchmarks/cli_startup.py

Each command runs in a fresh interpreter (``python -m lora_theorems``), 5 times; the median
and the worst are printed, with the target.  ``list`` and ``show ID --no-run`` run no check
and import neither SymPy, SciPy, matplotlib nor dp-accounting (``tests/engine/test_api_cli.py``
asserts that; this script measures the time, which tests never do).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

TARGET_S = 1.0
COMMANDS = (["list"], ["show", "L4", "--no-run"], ["--version"], ["--help"])


def wall(argv: list[str], repeat: int = 5) -> list[float]:
    """Seconds of ``lora-theorems argv`` in a fresh interpreter, ``repeat`` times."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lora_theorems", *argv], check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    worst_all = 0.0
    for argv in COMMANDS:
        times = wall(argv)
        worst_all = max(worst_all, max(times))
        print(f"lora-theorems {' '.join(argv):<22} median {statistics.median(times):.3f} s, "
              f"worst {max(times):.3f} s (target < {TARGET_S} s)")
    return 0 if worst_all < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
