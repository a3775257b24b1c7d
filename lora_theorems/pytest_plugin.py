"""pytest as theorem checks.

- ``@pytest.mark.claim("L4")`` ties a test to a claim of the ledger;
- the fixture ``claim_result`` runs a claim's checks once per session (profile and seed from
  ``--lt-profile``/``--lt-seed``, default quick/0) and returns its evidence and verdict;
- ``@pytest.mark.heavy`` tests run only with ``--run-heavy``;
- ``--lt-jobs N`` runs the claims the collected tests ask ``claim_result`` for in ``N`` local
  processes, all at once on first use (the results are the same as serial);
- at the end of a run, a ledger summary: claim, verdict, tests passed, failed and skipped.

Loaded by ``tests/conftest.py`` (``pytest_plugins = ["lora_theorems.pytest_plugin"]``).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from . import api
from .ledger import ClaimResult

_STATS: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0})
_CLAIM_OF: dict[str, str] = {}
#: the session's claim results, kept on the pytest config (not in the API: it caches nothing)
_RESULTS = pytest.StashKey[dict]()
#: claims that collected tests will ask ``claim_result`` for (prefetched together with --lt-jobs)
_WANTED = pytest.StashKey[list]()

#: what the heavy tests cost, for --help (measured for issue 14 on the project's shared 2-core machine)
HEAVY_HELP = (
    "also run tests marked heavy. They are slow by design: the 20 mpmath quadrature references of "
    "tests/paper_l/test_analytic_ntk_reference.py take about 1 min each (up to 3.5 min: ReLU, depth 2, "
    "collinear inputs), so about 20-25 min together on 2 loaded cores; tests/engine/test_profiles.py runs "
    "every claim in both profiles (a full report's checks, about 260 CPU-s, plus the quick ones); with "
    "--lt-profile full the claim_result tests add another full run (use --lt-jobs 2). Budget 45-60 min on "
    "2 cores for --run-heavy --lt-profile full"
)


def pytest_addoption(parser):
    group = parser.getgroup("lora-theorems")
    group.addoption("--lt-profile", default="quick", help="profile of the claim checks (quick or full)")
    group.addoption("--lt-seed", default=0, type=int, help="seed of the claim checks")
    group.addoption("--lt-jobs", default=1, type=int,
                    help="local processes for the claim checks behind claim_result (default 1)")
    group.addoption("--run-heavy", action="store_true", help=HEAVY_HELP)


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id): ties a test to a claim of the ledger")
    config.addinivalue_line("markers", "heavy: heavy sweep, only with --run-heavy (see --help for the expected time)")
    try:
        api.validate_run_options(config.getoption("--lt-profile"), config.getoption("--lt-seed"), "numpy",
                                 config.getoption("--lt-jobs"))
    except ValueError as exc:  # a clean usage error (exit 4), not an INTERNALERROR traceback
        raise pytest.UsageError(f"lora-theorems: {exc}") from None


def pytest_collection_modifyitems(config, items):
    skip_heavy = pytest.mark.skip(reason="heavy sweep: run with --run-heavy")
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is not None:
            if not marker.args:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim needs a claim id")
            _CLAIM_OF[item.nodeid] = api.get_claim(marker.args[0]).id
        if "heavy" in item.keywords and not config.getoption("--run-heavy"):
            item.add_marker(skip_heavy)


def pytest_collection_finish(session):
    """The claims the selected, not skipped tests will ask ``claim_result`` for (after -k/-m)."""
    wanted: list[str] = []
    for item in session.items:
        cid = _CLAIM_OF.get(item.nodeid)
        skipped = any(m.name == "skip" for m in item.iter_markers())
        if cid is not None and not skipped and "claim_result" in getattr(item, "fixturenames", ()) and cid not in wanted:
            wanted.append(cid)
    session.config.stash[_WANTED] = wanted


def pytest_runtest_logreport(report):
    cid = _CLAIM_OF.get(report.nodeid)
    if cid is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "skipped" if report.skipped else ("passed" if report.passed else "failed")
        _STATS[cid][outcome] += 1


@pytest.fixture(scope="session")
def claim_result(request):
    """``claim_result("L4")``: the claim's :class:`ClaimResult` for the session's profile and seed."""
    profile = request.config.getoption("--lt-profile")
    seed = request.config.getoption("--lt-seed")
    jobs = request.config.getoption("--lt-jobs")

    results = request.config.stash.setdefault(_RESULTS, {})

    def get(claim_id: str) -> ClaimResult:
        cid = api.get_claim(claim_id).id
        if cid not in results:  # each claim runs once per session
            # with several processes, every claim the collected tests want runs in one go
            ids = [cid] + [c for c in request.config.stash.get(_WANTED, []) if c not in results and c != cid]
            if jobs == 1:
                ids = [cid]
            for r in api.build_ledger(ids, profile=profile, seed=seed, jobs=jobs).results:
                results[r.claim.id] = r
        return results[cid]

    return get


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _STATS:
        return
    tr = terminalreporter
    tr.section("lora-theorems ledger")
    tr.write_line(f"{'claim':6} {'verdict':12} {'passed':>6} {'failed':>6} {'skipped':>7}")
    for claim in api.list_claims():
        if claim.id not in _STATS:
            continue
        s = _STATS[claim.id]
        cached = config.stash.get(_RESULTS, {}).get(claim.id)
        verdict = cached.verdict.verdict.value if cached is not None else "(not run)"
        tr.write_line(f"{claim.id:6} {verdict:12} {s['passed']:>6} {s['failed']:>6} {s['skipped']:>7}")
