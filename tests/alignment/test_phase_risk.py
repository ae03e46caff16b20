"""The phase-risk report: the statistics against reference values, and the simulated plant's
first-piece pattern found from the data, through the CSV import path, when it is there and
not when it is not."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from pathlib import Path

import pytest

from plantguard.assets.models import Equipment
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.simulator.production import DEFAULT_START, FILES, _epoch, demo_machines, generate, write_history
from plantguard.tenancy.models import Area
from plantguard.timeseries.alignment.asof import PhaseSpan
from plantguard.timeseries.alignment.importers import Kind, import_csv
from plantguard.timeseries.alignment.phase_risk import HOUR_US, compute, phase_risk
from plantguard.timeseries.alignment.stats import (
    binom_test,
    clopper_pearson,
    gamma_ppf,
    poisson_ci,
    ratio_to_mean,
)
from tests.conftest import Db
from tests.factories import make_tenant

H = HOUR_US


# -- statistics ---------------------------------------------------------------------------------------


def test_reference_values() -> None:
    # Clopper–Pearson and Garwood intervals as tabulated (e.g. scipy.stats.binomtest(...).proportion_ci,
    # scipy.stats.chi2.ppf(q, 2k) / 2).
    assert clopper_pearson(5, 10) == pytest.approx((0.187086028, 0.812913972), abs=1e-8)
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 0.308497108), abs=1e-8)
    assert clopper_pearson(10, 10)[1] == 1.0
    assert poisson_ci(10) == pytest.approx((4.795389, 18.390356), abs=1e-5)
    assert poisson_ci(0) == pytest.approx((0.0, 3.688879), abs=1e-5)
    assert gamma_ppf(0.975, 10) == pytest.approx(34.16961 / 2, abs=1e-4)
    assert binom_test(7, 10, 0.5) == pytest.approx(0.34375, abs=1e-12)
    assert binom_test(0, 1000, 0.01) == pytest.approx(2 * 0.99**1000, rel=1e-9)


def test_ratio_to_mean() -> None:
    est = ratio_to_mean(40, 10.0, 100, 100.0)
    assert est is not None and est.ratio == pytest.approx(4.0)
    lo, hi = clopper_pearson(40, 100)
    assert (est.low, est.high) == pytest.approx((lo * 10, hi * 10))
    assert est.low > 1 and est.p_value < 1e-6
    assert ratio_to_mean(0, 10.0, 0, 100.0) is None
    whole = ratio_to_mean(7, 5.0, 7, 5.0)
    assert whole is not None and (whole.ratio, whole.low, whole.high) == (1.0, 1.0, 1.0)


def _poisson(rng: random.Random, mu: float) -> int:
    limit, k, p = math.exp(-mu), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def test_ratio_interval_covers_the_truth() -> None:
    """The interval is exact (conservative): over many simulated plants it covers the true
    ratio at least 95 % of the time, and is not absurdly wide."""
    rng = random.Random(11)
    t_p, t_r, lam_p, lam_r = 10.0, 90.0, 1.5, 0.8
    truth = lam_p * (t_p + t_r) / (lam_p * t_p + lam_r * t_r)
    covered = runs = 0
    for _ in range(400):
        k_p, k_r = _poisson(rng, lam_p * t_p), _poisson(rng, lam_r * t_r)
        est = ratio_to_mean(k_p, t_p, k_p + k_r, t_p + t_r)
        assert est is not None
        runs += 1
        covered += est.low <= truth <= est.high
    assert 0.93 <= covered / runs <= 0.995


# -- the report on spans and events in memory -------------------------------------------------------


def test_exposure_is_clipped_to_the_period_and_unassigned_events_are_counted() -> None:
    spans = [
        PhaseSpan(1, 0, 10 * H, "steady"),  # half of it before the period
        PhaseSpan(1, 10 * H, None, "first_piece"),  # open: until the next phase
        PhaseSpan(1, 12 * H, 30 * H, "steady"),  # half of it after the period
        PhaseSpan(2, 8 * H, 9 * H, "idle"),
    ]
    events = [(1, 4 * H), (1, 6 * H), (1, 10 * H), (1, 11 * H), (1, 13 * H), (1, 25 * H), (2, 10 * H), (3, 7 * H)]
    r = compute(spans, events, 5 * H, 20 * H)
    by = r.by_phase()
    assert by["steady"].exposure_h == pytest.approx(5 + 8)
    assert by["first_piece"].exposure_h == pytest.approx(2)
    assert by["idle"].exposure_h == pytest.approx(1)
    assert (by["steady"].events, by["first_piece"].events, by["idle"].events) == (2, 2, 0)
    assert r.unassigned == 2  # machine 2 after its idle phase; machine 3 has no phases
    assert r.events == 4 and r.exposure_h == pytest.approx(16) and r.equipment == 2
    assert r.mean_rate == pytest.approx(4 / 16)
    assert by["first_piece"].ratio == pytest.approx((2 / 2) / (4 / 16))
    assert [p.phase for p in r.phases] == ["first_piece", "steady", "idle"]  # the catalogue's order


def test_period_is_checked(sqlite_db: Db) -> None:
    actor = Actor(1, 1, Role.ADMIN, "a")
    with sqlite_db.factory() as s:
        for start, end, conf in ((10, 10, 0.95), (10, 5, 0.95), (0, 400 * 24 * H, 0.95), (0, H, 1.0)):
            with pytest.raises(ValidationFailed):
                phase_risk(s, actor, start, end, confidence=conf)


# -- the simulated plant, through the CSV import ---------------------------------------------------------

DAYS = 60
PERIOD = (_epoch(DEFAULT_START) * 1_000_000, _epoch(DEFAULT_START + timedelta(days=DAYS)) * 1_000_000)


def demo_machines_in(db: Db) -> Actor:
    """A tenant holding the demo plant's simulated machines (codes and workshops as in plant.yaml)."""
    tenant = make_tenant(db.factory, "DEMO", roles=(Role.SAFETY_MANAGER,))
    with db.factory() as s:
        bind_actor(s, None)
        areas = {"ST": tenant.area_id, "WD": tenant.area2_id}
        paint = Area(enterprise_id=tenant.enterprise_id, site_id=tenant.site_id, code="PT", name="涂装车间")
        s.add(paint)
        s.flush()
        areas["PT"] = paint.id
        s.add_all(Equipment(enterprise_id=tenant.enterprise_id, area_id=areas[m.area], code=m.code, name=m.code,
                            type=m.type) for m in demo_machines())
        s.commit()
    return Actor(1, tenant.enterprise_id, Role.SAFETY_MANAGER, "safety")


def load_history(db: Db, out: Path, factor: float, seed: int) -> Actor:
    """Write the simulated history as CSV and import it."""
    actor = demo_machines_in(db)
    files = write_history(out, DAYS, seed, factor, with_people=False, with_environment=False)
    with db.factory() as s:
        for kind in (Kind.MES_PHASES, Kind.PLC_EVENTS):
            result = import_csv(s, actor, kind, files.paths[kind.value].read_bytes())
            assert result.errors == [] and result.created == result.rows
        s.commit()
    return actor


def test_first_piece_debugging_stands_out(db: Db, tmp_path: Path) -> None:
    actor = load_history(db, tmp_path, 4.0, seed=1)
    with db.read_factory() as s:
        report = phase_risk(s, actor, *PERIOD)
    machines = len(demo_machines())
    assert report.unassigned == 0 and report.equipment == machines
    assert report.exposure_h == pytest.approx(machines * DAYS * 24)
    fp = report.by_phase()["first_piece"]
    assert fp.ratio is not None and fp.ratio_low is not None and fp.ratio_high is not None
    assert 3.5 <= fp.ratio <= 4.5, fp
    assert fp.ratio_low > 1 and fp.elevated
    assert [p.phase for p in report.phases if p.elevated] == ["first_piece"]


def test_no_pattern_no_flag(sqlite_db: Db, tmp_path: Path) -> None:
    """The statistics do not depend on the database: SQLite only."""
    actor = load_history(sqlite_db, tmp_path, 1.0, seed=1)
    with sqlite_db.read_factory() as s:
        report = phase_risk(s, actor, *PERIOD)
    assert report.events > 5000
    for p in report.phases:
        assert p.ratio_low is not None and p.ratio_high is not None
        assert p.ratio_low <= 1 <= p.ratio_high, p
        assert not p.elevated


def test_the_history_is_deterministic(tmp_path: Path) -> None:
    a = write_history(tmp_path / "a", 3, 5, 4.0)
    write_history(tmp_path / "b", 3, 5, 4.0)
    for name in FILES.values():
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a.history.rates["first_piece"] > a.history.rates["steady"]
    flat = generate(3, 5, 1.0, with_people=False, with_environment=False)
    assert flat.rates["first_piece"] == pytest.approx(flat.rates["steady"])
