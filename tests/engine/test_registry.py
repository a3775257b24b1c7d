"""Discovery (lora_theorems.registry, lora_theorems.probes): papers, claims, checks and probes
are found from files alone, in a fixed order; duplicates and typos fail loudly; a new paper's
probe reaches the CLI and the API without editing them."""

import importlib
import json
import sys
import textwrap
import uuid

import pytest

import lora_theorems as lt
from lora_theorems import probes as probes_mod
from lora_theorems import registry
from lora_theorems.cli import COMMANDS, build_parser, main
from lora_theorems.probes import Probe

PAPER_A = """\
from lora_theorems.registry import Paper

PAPER = Paper(id="A", title="Paper A", reference="ref A")
"""


def claim_module(cid, checks=("second", "first"), formalization="w"):
    body = [
        "from lora_theorems.checks import Outcome, check",
        "from lora_theorems.ledger import Claim, Formalization",
        f'CLAIM = Claim(id="{cid}", paper="{cid[0]}", title="claim {cid}", statement="s", source="test",',
        '              formalizations=(Formalization("w", "layer", "x <= 1"),))',
    ]
    for name in checks:
        body += [
            f'@check("{formalization}", kind="numeric")',
            f"def {name}(ctx):",
            '    return Outcome(passed=True, summary="ok")',
        ]
    return "\n".join(body) + "\n"


def _clear_caches():
    registry.paper_packages.cache_clear()
    registry._discover.cache_clear()
    probes_mod.all_probes.cache_clear()


@pytest.fixture
def fake_claims(tmp_path, monkeypatch):
    """``make({"paper_a/__init__.py": ..., ...})`` makes a claims package of those files and
    points the registry at it for the test."""
    name = f"fake_claims_{uuid.uuid4().hex[:8]}"

    def make(files):
        root = tmp_path / name
        root.mkdir()
        (root / "__init__.py").write_text("")
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(registry, "_claims_pkg", importlib.import_module(name))
        _clear_caches()

    yield make
    _clear_caches()
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


# ----------------------------------------------------------------------------- the real ledger


def test_every_claim_belongs_to_a_registered_paper_and_is_ordered_by_paper_then_number():
    """Papers by (order, id): a follow-up paper (H) comes after the papers it answers."""
    papers = [p.id for p in registry.papers()]
    assert papers == [p.id for p in sorted(registry.papers(), key=lambda p: (p.order, p.id))] and papers[:3] == ["L", "M", "H"]
    claims = lt.list_claims()
    assert all(c.paper in papers and c.id.startswith(c.paper) for c in claims)
    key = [(papers.index(c.paper), int(c.id[len(c.paper):])) for c in claims]
    assert key == sorted(key) and len(set(key)) == len(key)


def test_every_real_check_targets_a_formalization_of_its_claim_and_names_are_unique():
    for c in lt.list_claims():
        specs = registry.checks_of(c.id)
        assert specs, f"{c.id} has no checks"
        names = [s.name for s in specs]
        assert len(names) == len(set(names)), c.id
        keys = {f.key for f in c.formalizations}
        assert {s.formalization for s in specs} <= keys


def test_every_real_probe_names_a_registered_claim_and_is_exported():
    probes = probes_mod.all_probes()
    assert [p.name for p in probes if p.claim.startswith("L")][:2] == ["m-delta", "attack"]
    for p in probes:
        lt.get_claim(p.claim)
        for name, obj in p.exports().items():
            assert getattr(lt, name) is obj and name in lt.__all__


def test_the_old_public_names_still_work():
    from lora_theorems.attack import report_from_run, simulate_attack

    assert lt.simulate_attack is simulate_attack and callable(report_from_run)
    assert lt.explore_m_delta.__name__ == "explore_m_delta" and lt.MDeltaReport.__name__ == "MDeltaReport"
    assert lt.AttackReport.__name__ == "AttackReport"


# ----------------------------------------------------------------------------- resolve_ids


def test_resolve_ids_canonical_and_without_repeats():
    assert registry.resolve_ids(None) == tuple(c.id for c in lt.list_claims())
    assert registry.resolve_ids("l4") == ("L4",)
    assert registry.resolve_ids(["m3", "L4", "l4", "M3"]) == ("M3", "L4")
    assert registry.resolve_ids(iter(["L1"])) == ("L1",)
    assert registry.resolve_ids([]) == ()


@pytest.mark.parametrize(
    "ids,words",
    [
        ("L9", "unknown claim id 'L9' (known: "),
        (["L4", "Q"], "unknown claim id 'Q' (known: "),
        ([5], "unknown claim id 5 (known: "),
        ([None], "unknown claim id None (known: "),
        (b"L4", "claim ids must be str, got b'L4'"),
        (5, "claim ids must be a claim id or a list of them, got 5"),
        ("", "unknown claim id '' (known: "),
    ],
)
def test_resolve_ids_errors_are_one_line_and_name_the_id(ids, words):
    with pytest.raises(ValueError) as info:
        registry.resolve_ids(ids)
    assert str(info.value).startswith(words) and "\n" not in str(info.value)


def test_get_claim_refuses_non_strings():
    with pytest.raises(ValueError, match="unknown claim id 4"):
        registry.get_claim(4)


# ----------------------------------------------------------------------------- discovery from files


def test_discovery_orders_papers_by_id_and_claims_by_number(fake_claims):
    fake_claims({
        "paper_b/__init__.py": PAPER_A.replace('"A"', '"B"').replace("Paper A", "Paper B"),
        "paper_b/b1.py": claim_module("B1"),
        "paper_a/__init__.py": PAPER_A,
        "paper_a/a10.py": claim_module("A10"),
        "paper_a/a2.py": claim_module("A2"),
        "paper_a/a1.py": claim_module("A1"),
        "paper_a/helpers.py": "X = 1\n",  # no CLAIM: not a claim
        "no_paper/__init__.py": "",  # no PAPER: not a paper
        "no_paper/z1.py": claim_module("Z1"),
        "loose.py": claim_module("Y1"),  # a module, not a package: not a paper
    })
    assert [p.id for p in registry.papers()] == ["A", "B"]
    assert [c.id for c in lt.list_claims()] == ["A1", "A2", "A10", "B1"]  # natural order, not A1, A10, A2
    assert registry.resolve_ids(None) == ("A1", "A2", "A10", "B1")
    with pytest.raises(ValueError, match="unknown claim id 'Z1' \\(known: A1, A2, A10, B1\\)"):
        registry.get_claim("Z1")


def test_checks_are_listed_in_source_order_and_imported_checks_are_not_counted(fake_claims):
    fake_claims({
        "paper_a/__init__.py": PAPER_A,
        "paper_a/a1.py": claim_module("A1", checks=("zeta", "alpha", "mid")),
        "paper_a/a2.py": claim_module("A2", checks=("own",)) + "from .a1 import alpha  # noqa\n",
    })
    assert [s.name for s in registry.checks_of("A1")] == ["zeta", "alpha", "mid"]
    assert [s.name for s in registry.checks_of("a2")] == ["own"]


def test_a_check_of_an_unknown_formalization_fails_when_listed(fake_claims):
    fake_claims({"paper_a/__init__.py": PAPER_A, "paper_a/a1.py": claim_module("A1", formalization="typo")})
    with pytest.raises(ValueError, match="claim A1 has no formalization 'typo'"):
        registry.checks_of("A1")


def test_a_claim_id_defined_twice_is_refused_naming_both_modules(fake_claims):
    fake_claims({
        "paper_a/__init__.py": PAPER_A,
        "paper_a/a1.py": claim_module("A1"),
        "paper_a/copy.py": claim_module("A1"),
    })
    with pytest.raises(RuntimeError, match=r"claim id A1 defined twice \(.*paper_a\.a1, .*paper_a\.copy\)"):
        lt.list_claims()


def test_a_paper_id_defined_twice_or_a_bad_paper_is_refused(fake_claims):
    fake_claims({"paper_a/__init__.py": PAPER_A, "paper_a2/__init__.py": PAPER_A})
    with pytest.raises(RuntimeError, match="paper id defined twice: A"):
        registry.papers()


def test_a_paper_that_is_not_a_paper_is_refused(fake_claims):
    fake_claims({"paper_a/__init__.py": "PAPER = 'A'\n"})
    with pytest.raises(RuntimeError, match="PAPER must be a Paper, got str"):
        registry.papers()


# ----------------------------------------------------------------------------- probes

PROBE_PAPER = PAPER_A + '''
from dataclasses import dataclass

from lora_theorems.probes import Probe


@dataclass(frozen=True)
class SquareReport:
    x: float
    square: float

    def to_json(self):
        return {"x": self.x, "square": self.square}


def square_probe(x):
    """Claim A1 at one point: x squared."""
    if x != x:
        raise ValueError("x is NaN")
    return SquareReport(x, x * x)


def _arguments(p):
    p.add_argument("--x", type=float, required=True, help="the point")


PROBES = (
    Probe(name="square", claim="A1", summary="probe claim A1 at one x", add_arguments=_arguments,
          run=lambda args, progress: square_probe(args.x), render=lambda r: f"{r.x:g}^2 = {r.square:g}",
          example="square --x 3", api=(square_probe, SquareReport)),
)
'''


def test_a_new_papers_probe_reaches_the_cli_and_the_api_without_editing_them(fake_claims, capsys):
    fake_claims({"paper_a/__init__.py": PROBE_PAPER, "paper_a/a1.py": claim_module("A1")})
    assert [p.name for p in probes_mod.all_probes()] == ["square"]
    assert main(["square", "--x", "3"]) == 0 and capsys.readouterr().out == "3^2 = 9\n"
    assert main(["square", "--x", "1.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"x": 1.5, "square": 2.25}
    assert main(["square", "--x", "nan"]) == 2
    assert capsys.readouterr().err == "lora-theorems: error: x is NaN\n"
    assert main(["square"]) == 2
    assert capsys.readouterr().err == "lora-theorems: error: the following arguments are required: --x\n"
    assert main([]) == 2
    assert capsys.readouterr().err == "lora-theorems: error: a command is required (list, show, check, ledger, derive, square, report)\n"
    help_text = build_parser().format_help()
    assert "lora-theorems square --x 3" in help_text and "probe claim A1 at one x" in help_text
    assert lt.square_probe(2.0).square == 4.0 and lt.SquareReport.__name__ == "SquareReport"
    with pytest.raises(AttributeError):
        lt.m_delta_of_another_paper  # noqa: B018


def test_two_probes_of_one_name_are_refused(fake_claims):
    fake_claims({
        "paper_a/__init__.py": PROBE_PAPER,
        "paper_b/__init__.py": PROBE_PAPER.replace('id="A"', 'id="B"').replace('api=(square_probe, SquareReport)', "api=()"),
    })
    with pytest.raises(RuntimeError, match="probe 'square' declared twice"):
        probes_mod.all_probes()


def test_two_probes_exporting_one_name_are_refused(fake_claims):
    fake_claims({
        "paper_a/__init__.py": PROBE_PAPER,
        "paper_b/__init__.py": PROBE_PAPER.replace('id="A"', 'id="B"').replace('name="square"', 'name="square-b"'),
    })
    with pytest.raises(RuntimeError, match="probe 'square-b' exports 'square_probe', already exported by probe 'square'"):
        probes_mod.all_probes()


def test_probes_must_be_probes(fake_claims):
    fake_claims({"paper_a/__init__.py": PAPER_A + "PROBES = ('m-delta',)\n"})
    with pytest.raises(RuntimeError, match="PROBES holds 'm-delta', not a Probe"):
        probes_mod.all_probes()


def test_a_probe_cannot_hide_a_command_of_the_cli(fake_claims):
    fake_claims({"paper_a/__init__.py": PROBE_PAPER.replace('name="square"', 'name="report"')})
    assert "report" in COMMANDS
    with pytest.raises(RuntimeError, match="probe 'report' would hide the CLI's own command"):
        build_parser()


def _probe(**kw):
    base = dict(name="p", claim="A1", summary="s", add_arguments=lambda p: None, run=lambda a, pr: None,
                render=str)
    return Probe(**{**base, **kw})


@pytest.mark.parametrize(
    "kw,words",
    [
        ({"name": "M-Delta"}, "probe name must be lower-case words joined by '-'"),
        ({"name": "m delta"}, "probe name must be"),
        ({"name": "-x"}, "probe name must be"),
        ({"claim": "l4"}, "claim must be a claim id such as 'L4'"),
        ({"run": "not callable"}, "run must be callable"),
        ({"api": (3,)}, "api entries must be named functions or classes"),
    ],
)
def test_a_malformed_probe_is_refused_where_it_is_declared(kw, words):
    with pytest.raises(ValueError, match=words):
        _probe(**kw)


def test_get_probe():
    assert probes_mod.get_probe("m-delta").claim == "L4"
    with pytest.raises(ValueError, match="unknown probe 'nope' \\(known: .*m-delta, attack"):
        probes_mod.get_probe("nope")
