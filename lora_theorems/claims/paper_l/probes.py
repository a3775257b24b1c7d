"""Paper L's probes: claim L4 at one $(n, r, \\sigma_a^2)$ (``m-delta``) and claim L8 at one
attack configuration (``attack``).

Each probe is its public function (``lt.explore_m_delta``, ``lt.simulate_attack``), its report
(a frozen dataclass with ``to_json()``), the text the CLI prints, and the CLI options; they
register through ``PROBES`` in this paper's ``__init__``.  The numerics are imported inside
the functions, so ``lora-theorems --help`` and ``list`` do not load them.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lora_theorems.ledger import jsonable
from lora_theorems.probes import Probe, number, seed_arg
from lora_theorems.render import format_value
from lora_theorems.validate import validate_positive_int, validate_rank, validate_seed, validate_variance

__all__ = [
    "PROBES",
    "AttackReport",
    "MDeltaReport",
    "ReadingResult",
    "explore_m_delta",
    "render_attack",
    "render_m_delta",
    "report_from_run",
    "simulate_attack",
]

# ----------------------------------------------------------------------------- L4: m-delta


@dataclass(frozen=True)
class MDeltaReport:
    """What :func:`explore_m_delta` found for one $(n, r, \\sigma_a^2)$ (claim L4)."""

    width: int
    rank: int
    variance: float
    trials: int
    seed: int
    p_nsd: float
    ci: tuple[float, float]
    confidence: float
    max_top_eigenvalue: float
    mp_top_edge: float
    exact_p_nsd: float | None
    failure_bound: float
    stated_eigenvalues: str
    exact_eigenvalues: str

    def to_json(self) -> dict[str, Any]:
        return jsonable(self)


def explore_m_delta(
    width: int,
    rank: int,
    variance: float,
    *,
    trials: int = 2000,
    seed: int = 0,
    confidence: float = 0.99,
    progress: Callable[[str], None] | None = None,
    max_seconds: float | None = None,
) -> MDeltaReport:
    """Probe claim L4 at one point: how often is $M_\\Delta = A^TA - I$ negative semi-definite?

    Draws ``trials`` matrices $A\\in\\mathbb R^{r\\times n}$ with i.i.d. $\\mathcal N(0,\\sigma_a^2)$
    entries (seeded) and reports the Monte Carlo $P(M_\\Delta\\preceq 0)$ with its exact
    Clopper-Pearson interval at ``confidence``, the exact value for $r = 1$
    ($F_{\\chi^2_n}(1/\\sigma_a^2)$), the Gaussian-concentration bound on $P(M_\\Delta\\not\\preceq0)$,
    and the Marchenko-Pastur edge $\\sigma_a^2(\\sqrt n+\\sqrt r)^2$ of $\\lambda_{\\max}(A^TA)$.

    The cost is estimated before any draw (:func:`lora_theorems.numerics.paper_l.m_delta.sweep_cost`):
    a batch needing more than 2 GiB, or an estimated time beyond ``max_seconds`` (default
    :data:`~lora_theorems.numerics.paper_l.m_delta.TIME_LIMIT_S`, 30 minutes), is refused with a
    ``ValueError`` stating the estimate and the limit.  ``progress(msg)``, if given, hears
    how far a long run is, about once a second.

    ``ValueError`` for rank > width, a negative, zero, NaN or infinite variance, a
    non-positive trial count, work beyond the limits, or a variance so large that
    $\\lambda_{\\max}$ overflows float64 (never a NaN counted as NSD).
    """
    from lora_theorems.numerics.paper_l.m_delta import (
        TIME_LIMIT_S,
        check_sweep_budget,
        clopper_pearson,
        mp_top_edge,
        nsd_failure_bound,
        nsd_probability_r1,
        sweep_top_eigenvalue,
    )


    rank, width = validate_rank(rank, width)
    variance = validate_variance(variance, "variance", allow_zero=False)
    trials = validate_positive_int(trials, "trials")
    seed = validate_seed(seed)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if max_seconds is None:
        max_seconds = TIME_LIMIT_S
    elif isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0:
        raise ValueError(f"max_seconds must be a positive number, got {max_seconds!r}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable, got {type(progress).__name__}")
    edge = mp_top_edge(width, rank, variance) - 1.0  # refuses a variance whose edge overflows, before any work
    check_sweep_budget(width, rank, trials, keep_values=False, time_limit=max_seconds)
    res = sweep_top_eigenvalue(np.random.default_rng(seed), width, rank, variance, trials, keep_witness=False,
                               keep_values=False, progress=progress)
    ok = trials - res["failures"]
    return MDeltaReport(
        width=width,
        rank=rank,
        variance=variance,
        trials=trials,
        seed=seed,
        p_nsd=ok / trials,
        ci=clopper_pearson(ok, trials, 1 - confidence),
        confidence=confidence,
        max_top_eigenvalue=res["max_lam_max"],
        mp_top_edge=edge,
        exact_p_nsd=nsd_probability_r1(width, variance) if rank == 1 else None,
        failure_bound=nsd_failure_bound(width, rank, variance),
        stated_eigenvalues=f"{variance * width:.6g} (x{rank}), 0 (x{width - rank})",
        exact_eigenvalues=f"s_i(A)^2 - 1 (x{rank}), -1 (x{width - rank})",
    )


def render_m_delta(rep) -> str:
    """Text for :func:`lora_theorems.api.explore_m_delta` (``lora-theorems m-delta``)."""
    lo, hi = rep.ci
    lines = [
        f"L4 probe: n = {rep.width}, r = {rep.rank}, sigma_a^2 = {rep.variance:.6g} "
        f"(sigma_a^2 n = {rep.variance * rep.width:.6g}), {rep.trials} draws, seed {rep.seed}",
        f"  P(A^T A - I NSD)         {rep.p_nsd:.4f}   [{lo:.4f}, {hi:.4f}] ({rep.confidence:g} Clopper-Pearson)",
    ]
    if rep.exact_p_nsd is not None:
        lines.append(f"  exact (r = 1, chi^2_n)    {rep.exact_p_nsd:.4f}")
    lines += [
        f"  bound P(not NSD) <=       {format_value(rep.failure_bound)}  (Gaussian concentration)",
        f"  max lambda_max seen       {rep.max_top_eigenvalue:.4g}",
        f"  Marchenko-Pastur edge     {rep.mp_top_edge:.4g}  (sigma_a^2 (sqrt n + sqrt r)^2 - 1)",
        f"  eigenvalues as stated     {rep.stated_eigenvalues}",
        f"  eigenvalues, exactly      {rep.exact_eigenvalues}",
    ]
    return "\n".join(lines)


def _m_delta_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=number(int), required=True, help="n, the input width of the layer")
    p.add_argument("--rank", type=number(int), required=True, help="r <= n")
    p.add_argument("--variance", type=number(float), required=True, help="sigma_a^2 > 0")
    p.add_argument("--trials", type=number(int), default=2000,
                   help="Monte Carlo draws (default 2000); work estimated beyond 2 GiB or 30 minutes is refused")
    p.add_argument("--seed", type=seed_arg, default=0, metavar="S", help="non-negative integer (default: 0)")


def _run_m_delta(args: argparse.Namespace, progress: Callable[[str], None]) -> MDeltaReport:
    return explore_m_delta(args.width, args.rank, args.variance, trials=args.trials, seed=args.seed, progress=progress)


# ----------------------------------------------------------------------------- L8: attack


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


def _attack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--attack", required=True, metavar="{label-flip,backdoor}", help="the poisoning attack")
    p.add_argument("--rate", type=number(float), required=True, help="poison rate in [0, 1)")
    p.add_argument("--rank", type=number(int), required=True, help="LoRA rank, 1..16 (the layer's width)")
    p.add_argument("--variance", type=number(float), required=True, help="variance of A's entries, > 0")
    p.add_argument("--regime", default="kernel", metavar="{kernel,finite}",
                   help="kernel: linearized fine-tuning (exact); finite: gradient descent (default: kernel)")
    p.add_argument("--activation", default="relu", metavar="{relu,erf}", help="default: relu")
    p.add_argument("--seeds", type=number(int), default=16, help="paired repetitions (default 16, at most 256)")
    p.add_argument("--seed", type=seed_arg, default=0, metavar="S", help="non-negative integer (default: 0)")


def _run_attack(args: argparse.Namespace, progress: Callable[[str], None]) -> AttackReport:
    return simulate_attack(args.attack, args.rate, args.rank, args.variance, regime=args.regime, seeds=args.seeds,
                           seed=args.seed, activation=args.activation)


PROBES = (
    Probe(
        name="m-delta",
        claim="L4",
        summary="probe claim L4 at one (width, rank, variance)",
        add_arguments=_m_delta_arguments,
        run=_run_m_delta,
        render=render_m_delta,
        example="m-delta --width 64 --rank 64 --variance 0.014",
        api=(explore_m_delta, MDeltaReport),
    ),
    Probe(
        name="attack",
        claim="L8",
        summary="probe claim L8 at one configuration: FF vs LoRA under poisoning",
        description="FF vs LoRA fine-tuning of a network pretrained on sklearn's digits, under "
                    "label-flip or backdoor poisoning: clean accuracy, accuracy under attack, ASR, "
                    "paired differences with intervals, per control reading.",
        add_arguments=_attack_arguments,
        run=_run_attack,
        render=render_attack,
        example="attack --attack backdoor --rate 0.05 --rank 4 --variance 0.0625",
        api=(simulate_attack, AttackReport),
    ),
)
