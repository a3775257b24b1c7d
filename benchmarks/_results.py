"""Sections of ``benchmarks/RESULTS.md`` that different scripts write.

``bench_peers.py`` writes the file's head and the peer comparisons; other scripts
(``bench_report.py``) own a section between ``<!-- section: NAME -->`` and
``<!-- /section: NAME -->`` that a rerun of either script keeps.
"""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
_SECTION = re.compile(r"<!-- section: (?P<name>[\w-]+) -->\n.*?<!-- /section: (?P=name) -->\n?", re.S)


def sections(path: Path = RESULTS) -> dict[str, str]:
    """The named sections of ``path`` (each with its markers), in file order."""
    if not path.exists():
        return {}
    return {m["name"]: m.group(0) for m in _SECTION.finditer(path.read_text())}


def replace_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Put ``body`` in section ``name`` of ``path`` (replacing it, or appended at the end)."""
    block = f"<!-- section: {name} -->\n{body.rstrip()}\n<!-- /section: {name} -->\n"
    text = path.read_text() if path.exists() else ""
    old = sections(path).get(name)
    if old is not None:
        text = text.replace(old, block)
    else:
        text = text.rstrip("\n") + "\n\n" + block if text else block
    path.write_text(text)
