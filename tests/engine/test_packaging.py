"""Packaging (issue 9): nothing generic is installed; the code imports the namespaced names."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_source_imports_the_bare_top_level_folders():
    bare = re.compile(r"^\s*(from|import)\s+(numerics|proofs)\b", re.M)
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("lora_theorems", "numerics", "proofs", "tests", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
        if bare.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_setup_installs_only_the_toolkit_namespace():
    code = (
        "import sys, setuptools; sys.argv = ['setup.py', '--name'];"
        "captured = {};"
        "setuptools.setup = lambda **kw: captured.update(kw);"
        "exec(open('setup.py').read());"
        "print(sorted(captured['packages'])); print(captured['package_dir'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    packages = eval(out.splitlines()[0])
    assert all(p == "lora_theorems" or p.startswith("lora_theorems.") for p in packages)
    assert {"lora_theorems.numerics", "lora_theorems.proofs", "lora_theorems.claims"} <= set(packages)


def test_the_namespaced_modules_are_the_checkout_folders():
    import lora_theorems.numerics.paper_l.ntk as ntk
    import lora_theorems.proofs.paper_l.m_delta as md

    assert Path(ntk.__file__).parent.parent.name == "numerics" and Path(md.__file__).parent.parent.name == "proofs"
