"""Where claim L8's attack probe used to live; it is now :mod:`lora_theorems.claims.paper_l.probes`
(``lt.simulate_attack``, ``lora-theorems attack``).  These names stay importable from here for
code written against the old location."""

from lora_theorems.claims.paper_l.probes import (
    ACTIVATIONS,
    ALPHA,
    REGIMES,
    AttackReport,
    ReadingResult,
    render_attack,
    report_from_run,
    simulate_attack,
    summarize_run,
)

__all__ = [
    "ACTIVATIONS",
    "ALPHA",
    "REGIMES",
    "AttackReport",
    "ReadingResult",
    "render_attack",
    "report_from_run",
    "simulate_attack",
    "summarize_run",
]
