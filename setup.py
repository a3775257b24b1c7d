"""Metadata lives in setup.cfg; this file only maps the design's top-level folders into the namespace.

The repository keeps the design's layout (``proofs/``, ``numerics/`` beside ``lora_theorems/``),
but nothing generic is installed: ``proofs/`` installs as ``lora_theorems.proofs`` and
``numerics/`` as ``lora_theorems.numerics`` (PyPI has unrelated projects called ``numerics``
and ``proofs``). In a source checkout ``lora_theorems/__init__.py`` makes the same names
resolve to the same folders, so code and tests import ``lora_theorems.numerics`` everywhere.
Sub-packages are found, so a third paper's folders need no edit here.
"""

from setuptools import find_packages, setup

MAPPED = ("proofs", "numerics")

packages = find_packages(include=["lora_theorems", "lora_theorems.*"])
package_dir = {}
for top in MAPPED:
    package_dir[f"lora_theorems.{top}"] = top
    packages += [f"lora_theorems.{top}"] + [f"lora_theorems.{top}.{sub}" for sub in find_packages(top)]

setup(packages=packages, package_dir=package_dir)
