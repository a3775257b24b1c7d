"""Peak memory (maximum resident set size) and wall time of one ``lora-theorems`` command.

Issue 14 set a budget: the full report under 2 GB peak.  Run by hand, e.g.::

    python benchmarks/peak_memory.py check L5 --profile full
    python benchmarks/peak_memory.py report --profile full --out /tmp/report-full

The command runs in a child process (the console script of this interpreter's environment);
its peak is read from ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (kilobytes on Linux, bytes on
macOS), the figure ``/usr/bin/time -v`` reports as "Maximum resident set size".  The command's
own output goes to /dev/null; one line with the measurement goes to stdout.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time


def peak_of(argv: list[str]) -> tuple[int, float, int]:
    """``(peak bytes, wall seconds, exit code)`` of ``lora-theorems argv`` in a child process."""
    cmd = [sys.executable, "-m", "lora_theorems.cli", *argv]
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null:
        rc = subprocess.run(cmd, stdout=null, stderr=null, check=False).returncode
    wall = time.perf_counter() - t0
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (maxrss if sys.platform == "darwin" else maxrss * 1024), wall, rc


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python benchmarks/peak_memory.py LORA-THEOREMS-ARGS...", file=sys.stderr)
        return 2
    peak, wall, rc = peak_of(argv)
    print(f"lora-theorems {' '.join(argv)}: peak RSS {peak / 2**20:.0f} MiB, wall {wall:.1f} s, exit {rc}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
