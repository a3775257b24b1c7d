"""Public API of the attack simulator: FF vs LoRA under one poisoning attack (claim L8).

``lt.simulate_attack(...)`` is what ``lora-theorems attack`` prints; the setting (digits,
pretrained network, attacks, control readings) is described in
:mod:`lora_theorems.numerics.paper_l.attacks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ledger import jsonable
from .validate import validate_positive_int, validate_rank, validate_seed, validate_variance

__all__ = ["AttackReport", "ReadingResult", "simulate_attack"]

REGIMES = ("kernel", "finite")
ACTIVATIONS = ("relu", "erf")
#: one-sided false-alarm rate of the intervals printed (the rate L8's checks use)
ALPHA = 1e-3


@dataclass(frozen=True)
class ReadingResult:
    """FF and LoRA under one control reading: seed means, and the paired FF-minus-LoRA effect.

    ``effect`` is in the direction of the paper's finding (label flip: LoRA's accuracy drop
    minus FF's, positive = LoRA more vulnerable; backdoor: FF's ASR minus LoRA's, positive =
    LoRA more robust), with its two-sided ``1 - 2*alpha`` Student-t interval over seeds
    (each one-sided bound at ``alpha``).  ``per_seed`` lists the paired differences.
    """

    reading: str
    ff_clean_acc: float
    lora_clean_acc: float
    ff_attacked_acc: float
    lora_attacked_acc: float
    ff_asr: float
    lora_asr: float
    effect: float
    effect_ci: tuple[float, float]
    per_seed: tuple[float, ...]
    seeds_used: int


@dataclass(frozen=True)
class AttackReport:
    """What :func:`simulate_attack` found at one configuration (claim L8)."""

    attack: str
    rate: float
    rank: int
    variance: float
    regime: str
    activation: str
    seeds: int
    seed: int
    width: int
    n_train: int
    poisoned: int
    lora_fits: float
    ff_fits: float
    readings: tuple[ReadingResult, ...] = field(default_factory=tuple)
    alpha: float = ALPHA

    def reading(self, name: str) -> ReadingResult:
        """The result of one control reading; ``ValueError`` if this regime has no such reading."""
        for r in self.readings:
            if r.reading == name:
                return r
        raise ValueError(f"no reading {name!r} (have {', '.join(r.reading for r in self.readings)})")

    def to_json(self) -> dict[str, Any]:
        return jsonable(self)

    @property
    def command(self) -> str:
        """The one command that reruns this configuration."""
        return (f"lora-theorems attack --attack {self.attack} --rate {self.rate!r} --rank {self.rank} "
                f"--variance {self.variance!r} --regime {self.regime} --activation {self.activation} "
                f"--seeds {self.seeds} --seed {self.seed}")


def summarize_run(run, alpha: float = ALPHA) -> tuple[ReadingResult, ...]:
    """Seed means and paired intervals of a :class:`~lora_theorems.numerics.paper_l.attacks.AttackRun`."""
    from lora_theorems.numerics.paper_l.attacks import paired_interval

    out = []
    for rd in run.readings:
        e = run.effect(rd)
        keep = np.isfinite(e)
        if isinstance(run.diverged, dict):
            keep &= ~run.diverged.get(rd, np.zeros_like(keep))
        m, lo, hi = paired_interval(e[keep], 2 * alpha) if keep.any() else (math.nan, math.nan, math.nan)

        def mean(side, key, rd=rd, keep=keep):
            return float(np.mean(side[key][rd][keep])) if keep.any() else math.nan

        out.append(ReadingResult(
            reading=rd,
            ff_clean_acc=mean(run.ff, "clean_acc"), lora_clean_acc=mean(run.lora, "clean_acc"),
            ff_attacked_acc=mean(run.ff, "attacked_acc"), lora_attacked_acc=mean(run.lora, "attacked_acc"),
            ff_asr=mean(run.ff, "asr"), lora_asr=mean(run.lora, "asr"),
            effect=m, effect_ci=(lo, hi), per_seed=tuple(float(x) for x in e), seeds_used=int(keep.sum()),
        ))
    return tuple(out)


def simulate_attack(
    attack: str,
    rate: float,
    rank: int,
    variance: float,
    *,
    regime: str = "kernel",
    seeds: int = 16,
    seed: int = 0,
    activation: str = "relu",
) -> AttackReport:
    """FF vs LoRA under one poisoning attack at one configuration (claim L8, findings F1-F4).

    Parameters
    ----------
    attack : {"label-flip", "backdoor"}
        Label flip: ``round(rate N)`` training labels negated.  Backdoor: ``round(rate N)``
        non-target training images get the 2x2 corner trigger and the target label.
    rate : float in [0, 1)
        Poison rate (``N = 200`` training images of the digits target task).
    rank : int, 1..16
        LoRA rank of the adapted middle layer (width ``n = 16``).
    variance : float > 0
        Variance $\\sigma_a^2$ of the entries of $A$ (the authors' $1/n$ = 0.0625; PEFT's $1/(3n)$).
    regime : {"kernel", "finite"}
        ``kernel``: linearized fine-tuning $f_t = f_0 + K(x,X)K^{-1}(I-e^{-\\eta Kt})(y-f_0)$ with
        the exact finite-width kernels; ``finite``: gradient descent on the network.
    seeds, seed :
        Number of paired repetitions (own $A$, own poisoned indices) and the seed they come from.
    activation : {"relu", "erf"}

    Returns
    -------
    AttackReport
        Clean accuracy, accuracy under attack and ASR of FF and LoRA, and the paired effect
        with its interval, for each control reading (``equal-time``, ``converged`` (kernel
        only), ``matched-clean``, ``lr-ratio``); ``lora_fits`` is the share of seeds whose
        clean-trained LoRA model fits its training set (1.0 = every seed).

    ``ValueError`` (one line) for an unknown attack, regime or activation, a rate outside
    [0, 1), rank outside 1..16, a non-positive or non-finite variance, or a backdoor rate
    above the share of non-target training examples.
    """
    from lora_theorems.numerics.paper_l import attacks as at

    at.validate_attack(attack)
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r} (choose kernel or finite)")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r} (choose relu or erf)")
    rate = at.validate_rate(rate, 0, attack)
    rank, width = validate_rank(rank, at.WIDTH)
    variance = validate_variance(variance, "variance", allow_zero=False)
    seeds = validate_positive_int(seeds, "seeds")
    if seeds > 256:
        raise ValueError(f"seeds must be at most 256, got {seeds}")
    seed = validate_seed(seed)
    task = at.digits_task()
    if attack == "backdoor" and round(rate * len(task.y_train)) > int(np.sum(task.y_train != at.TARGET)):
        raise ValueError(f"backdoor rate {rate} poisons more than the {int(np.sum(task.y_train != at.TARGET))} "
                         f"non-target training examples")
    fn = at.kernel_attack if regime == "kernel" else at.finite_attack
    run = fn(attack, rate, rank, variance, seeds=seeds, seed=seed, activation=activation)
    return report_from_run(run)


def report_from_run(run) -> AttackReport:
    """An :class:`AttackReport` from a simulator run (used by L8's checks for counterexamples)."""
    from lora_theorems.numerics.paper_l import attacks as at

    task = at.digits_task()
    return AttackReport(
        attack=run.attack, rate=run.rate, rank=run.rank, variance=run.variance, regime=run.regime,
        activation=run.activation, seeds=run.seeds, seed=run.seed, width=at.WIDTH, n_train=len(task.y_train),
        poisoned=int(round(run.rate * len(task.y_train))),
        lora_fits=float(np.mean(run.lora["train_fit"] >= 1.0)), ff_fits=float(np.mean(run.ff["train_fit"] >= 1.0)),
        readings=summarize_run(run),
    )


def render_attack(rep: AttackReport) -> str:
    """Text for ``lora-theorems attack``."""
    what = "accuracy drop LoRA - FF" if rep.attack == "label-flip" else "ASR FF - LoRA"
    lines = [
        f"L8 attack: {rep.attack} at rate {rep.rate:g} ({rep.poisoned} of {rep.n_train} training images), "
        f"{rep.regime} regime, {rep.activation}, width {rep.width}, rank {rep.rank}, sigma_a^2 = {rep.variance:.6g}, "
        f"{rep.seeds} paired seeds from seed {rep.seed}",
        f"  clean-trained model fits its training set: FF {rep.ff_fits:.0%} of seeds, LoRA {rep.lora_fits:.0%}",
        f"  effect = {what} (positive = the paper's direction); interval: each side one-sided at {rep.alpha:g}",
        f"  {'reading':<14} {'FF clean':>8} {'LoRA cl.':>8} {'FF atk':>7} {'LoRA atk':>8} {'FF ASR':>7} "
        f"{'LoRA ASR':>8}  effect [interval]",
    ]
    for r in rep.readings:
        lo, hi = r.effect_ci
        lines.append(f"  {r.reading:<14} {r.ff_clean_acc:8.4f} {r.lora_clean_acc:8.4f} {r.ff_attacked_acc:7.4f} "
                     f"{r.lora_attacked_acc:8.4f} {r.ff_asr:7.4f} {r.lora_asr:8.4f}  {r.effect:+.4f} "
                     f"[{lo:+.4f}, {hi:+.4f}]")
    lines.append(f"  rerun: {rep.command}")
    return "\n".join(lines)
