"""Probes: commands that explore one claim at one point of its hypothesis region.

A check decides a claim over its whole hypothesis region; a probe lets a reader ask the same
question at one point of their choosing (``lora-theorems m-delta --width 64 --rank 64
--variance 0.014`` for claim L4) and get the numbers with their intervals.

A paper declares its probes next to its ``PAPER``, in ``lora_theorems/claims/<paper>/__init__.py``::

    PROBES = (Probe(name="m-delta", claim="L4", summary="...", add_arguments=..., run=..., render=...,
                    api=(explore_m_delta, MDeltaReport)),)

and nothing else is edited: the CLI makes one sub-command per probe (its options from
``add_arguments``, plus ``--json``), and ``lora_theorems`` exports each object in ``api``
under its ``__name__`` (``lt.explore_m_delta``).  Discovery imports only the papers'
``__init__`` modules, so ``lora-theorems --help`` and ``list`` stay fast; a probe's module
imports its numerics inside ``run``.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Probe", "ProbeReport", "all_probes", "get_probe", "number", "probe_exports", "seed_arg"]

_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_CLAIM_ID = re.compile(r"[A-Z]+[0-9]+")


class ProbeReport(Protocol):
    """What a probe's ``run`` returns: any object with a JSON form (``--json`` prints it)."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Probe:
    """One probe: a CLI sub-command and the public functions behind it.

    Parameters
    ----------
    name:
        The sub-command (``"m-delta"``): lower case words joined by ``-``.
    claim:
        The id of the claim it probes (``"L4"``).
    summary:
        One line for ``lora-theorems --help``.
    add_arguments:
        ``add_arguments(parser)`` adds the probe's options (``--json`` is added by the CLI).
    run:
        ``run(args, progress) -> report``: validates through the public API (``ValueError``
        with one line for bad input, which the CLI prints and exits 2 on) and returns a
        :class:`ProbeReport`; ``progress(msg)`` may be called during long work.
    render:
        ``render(report) -> str``: the text the CLI prints without ``--json``.
    description:
        The sub-command's ``--help`` description (default: ``summary``).
    example:
        An example command line without the program name, shown in ``lora-theorems --help``.
    api:
        Functions and classes exported as ``lora_theorems.<__name__>``.
    """

    name: str
    claim: str
    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Callable[[str], None]], ProbeReport]
    render: Callable[[Any], str]
    description: str = ""
    example: str = ""
    api: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"probe name must be lower-case words joined by '-', got {self.name!r}")
        if not isinstance(self.claim, str) or not _CLAIM_ID.fullmatch(self.claim):
            raise ValueError(f"probe {self.name}: claim must be a claim id such as 'L4', got {self.claim!r}")
        for field_name in ("add_arguments", "run", "render"):
            if not callable(getattr(self, field_name)):
                raise ValueError(f"probe {self.name}: {field_name} must be callable")
        for obj in self.api:
            if not isinstance(getattr(obj, "__name__", None), str):
                raise ValueError(f"probe {self.name}: api entries must be named functions or classes, got {obj!r}")

    def exports(self) -> dict[str, Any]:
        """The objects of :attr:`api` by name."""
        return {obj.__name__: obj for obj in self.api}


def _collect(declared: list[tuple[str, Any]]) -> tuple[Probe, ...]:
    """Check the ``PROBES`` of each paper package (``(package name, PROBES)``) and concatenate them."""
    found: list[Probe] = []
    names: dict[str, str] = {}
    exported: dict[str, str] = {}
    for package, probes in declared:
        if not isinstance(probes, (tuple, list)):
            raise RuntimeError(f"{package}.PROBES must be a tuple of Probe, got {type(probes).__name__}")
        for probe in probes:
            if not isinstance(probe, Probe):
                raise RuntimeError(f"{package}.PROBES holds {probe!r}, not a Probe")
            if probe.name in names:
                raise RuntimeError(f"probe {probe.name!r} declared twice ({names[probe.name]}, {package})")
            names[probe.name] = package
            for export in probe.exports():
                if export in exported:
                    raise RuntimeError(f"probe {probe.name!r} exports {export!r}, already exported by probe {exported[export]!r}")
                exported[export] = probe.name
            found.append(probe)
    return tuple(found)


@functools.cache
def all_probes() -> tuple[Probe, ...]:
    """Every paper's probes, paper by paper (by paper id), each in its declared order."""
    from .registry import paper_packages

    return _collect([(pkg.__name__, getattr(pkg, "PROBES", ())) for pkg in paper_packages()])


def get_probe(name: str) -> Probe:
    """The probe called ``name``; ``ValueError`` if there is none."""
    for probe in all_probes():
        if probe.name == name:
            return probe
    known = ", ".join(p.name for p in all_probes())
    raise ValueError(f"unknown probe {name!r} (known: {known})")


def probe_exports() -> dict[str, Any]:
    """The public objects of every probe by name (``lt.explore_m_delta``, ``lt.AttackReport``...)."""
    out: dict[str, Any] = {}
    for probe in all_probes():
        out.update(probe.exports())
    return out


# ----------------------------------------------------------------------------- option types


def seed_arg(text: str) -> int:
    """An argparse ``type`` for ``--seed``: a non-negative integer (the one-line error of the CLI)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value}")
    return value


def number(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse ``type`` parsing ``kind`` (``int`` or ``float``); range checks are left to the
    API, so the CLI and the API refuse a value with the same words."""

    def parse(text: str) -> int | float:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None

    return parse
