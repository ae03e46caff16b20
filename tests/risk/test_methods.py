"""The assessment methods as data: the shipped tables (regulations.md §3.2–3.3), the maths and
the bands of every variant (boundaries included), refusals of values outside a table, and the
checks an edited table must pass. Pure functions: no database."""

from __future__ import annotations

import pytest

from plantguard.core.errors import ValidationFailed
from plantguard.risk import methods
from plantguard.risk.contract import RiskLevel, highest

MAJOR, SIG, GEN, LOW = RiskLevel.MAJOR, RiskLevel.SIGNIFICANT, RiskLevel.GENERAL, RiskLevel.LOW


def test_shipped_tables_are_the_documented_ones() -> None:
    lec = methods.shipped_spec("lec")
    assert methods.allowed_values(lec, "L") == [10, 6, 3, 1, 0.5, 0.2, 0.1]
    assert methods.allowed_values(lec, "E") == [10, 6, 3, 2, 1, 0.5]
    assert methods.allowed_values(lec, "C") == [100, 40, 15, 7, 3, 1]
    # E is exposure and C consequence (one public repository swaps the labels)
    assert "连续暴露" in lec["factors"]["E"]["values"][0]["label"]["zh_CN"]
    assert "死亡" in lec["factors"]["C"]["values"][0]["label"]["zh_CN"]
    assert [b["min"] for b in lec["bands"]] == [320, 160, 70, 20, 0]
    ls = methods.shipped_spec("ls")
    assert methods.allowed_values(ls, "L") == [5, 4, 3, 2, 1] == methods.allowed_values(ls, "S")
    assert methods.default_variant("lec") == "A" and methods.default_variant("ls") == "V1"
    assert set(methods.shipped_variants("lec")) == {"A", "B"}
    assert set(methods.shipped_variants("ls")) == {"V1", "V2", "V3"}
    for m, variants in (("lec", "AB"), ("ls", ("V1", "V2", "V3"))):
        for v in variants:
            assert methods.check_spec(methods.shipped_spec(m, v)) == []
    assert len(methods.accident_types()) == 20  # GB 6441-1986 accident categories


@pytest.mark.parametrize(("values", "score", "band", "a", "b"), [
    ({"L": 10, "E": 10, "C": 100}, 10000, "extreme", MAJOR, MAJOR),
    ({"L": 6, "E": 6, "C": 15}, 540, "extreme", MAJOR, MAJOR),
    ({"L": 10, "E": 6, "C": 3}, 180, "high", MAJOR, SIG),
    ({"L": 3, "E": 6, "C": 7}, 126, "substantial", SIG, GEN),
    ({"L": 1, "E": 10, "C": 7}, 70, "substantial", SIG, GEN),  # boundary: the higher band
    ({"L": 3, "E": 3, "C": 7}, 63, "possible", GEN, LOW),
    ({"L": 1, "E": 2, "C": 1}, 2, "slight", LOW, LOW),
    ({"L": 1, "E": 10, "C": 3}, 30, "possible", GEN, LOW),
    ({"L": 10, "E": 2, "C": 1}, 20, "possible", GEN, LOW),  # boundary 20
    ({"L": 0.1, "E": 0.5, "C": 1}, 0.05, "slight", LOW, LOW),
])
def test_lec_score_band_and_level_per_mapping(values: dict[str, float], score: float, band: str, a: RiskLevel,
                                              b: RiskLevel) -> None:
    ra = methods.compute(methods.shipped_spec("lec", "A"), values)
    rb = methods.compute(methods.shipped_spec("lec", "B"), values)
    assert ra.score == pytest.approx(score) and rb.score == pytest.approx(score)
    assert ra.band == band == rb.band
    assert (ra.level, rb.level) == (a, b)


@pytest.mark.parametrize(("l_", "s", "v1", "v2", "v3"), [
    (5, 5, MAJOR, MAJOR, MAJOR),      # 25
    (5, 4, MAJOR, MAJOR, MAJOR),      # 20
    (4, 4, SIG, SIG, MAJOR),          # 16
    (5, 3, SIG, SIG, MAJOR),          # 15
    (3, 4, SIG, SIG, SIG),            # 12
    (5, 2, GEN, SIG, SIG),            # 10
    (3, 3, GEN, GEN, SIG),            # 9
    (4, 2, GEN, GEN, GEN),            # 8
    (5, 1, GEN, GEN, GEN),            # 5
    (2, 2, LOW, GEN, GEN),            # 4
    (3, 1, LOW, LOW, LOW),            # 3
    (1, 1, LOW, LOW, LOW),            # 1
])
def test_matrix_levels_per_variant(l_: int, s: int, v1: RiskLevel, v2: RiskLevel, v3: RiskLevel) -> None:
    got = [methods.compute(methods.shipped_spec("ls", v), {"L": l_, "S": s}) for v in ("V1", "V2", "V3")]
    assert all(r.score == l_ * s and r.band == "" for r in got)
    assert [r.level for r in got] == [v1, v2, v3]


def test_value_outside_its_table_is_refused_naming_the_factor() -> None:
    with pytest.raises(ValidationFailed) as exc:
        methods.compute(methods.shipped_spec("lec"), {"L": 4, "E": 6, "C": 7})
    [err] = exc.value.errors
    assert err.field == "values.L"
    assert err.params["factor"] == "L" and err.params["value"] == "4"
    assert "0.5" in err.params["allowed"]
    with pytest.raises(ValidationFailed) as exc:
        methods.compute(methods.shipped_spec("ls"), {"L": 6, "S": 0})
    assert [e.field for e in exc.value.errors] == ["values.L", "values.S"]
    with pytest.raises(ValidationFailed) as exc:
        methods.compute(methods.shipped_spec("ls"), {"L": 2, "X": 1})
    assert {e.field for e in exc.value.errors} == {"values.S", "values.X"}


def test_edited_tables_are_checked() -> None:
    spec = methods.shipped_spec("ls")
    spec["levels"][1]["min"] = 30  # above the major threshold
    spec["factors"]["S"]["values"][1]["value"] = 5  # duplicate
    spec["factors"]["L"]["values"][0]["label"] = {"zh_CN": "", "en": "x"}
    fields = {e.field for e in methods.check_spec(spec)}
    assert fields == {"levels.1.min", "factors.S.values.1.value", "factors.L.values.0.label"}
    bad = methods.shipped_spec("lec")
    bad["levels"] = bad["levels"][:3]
    assert [e.field for e in methods.check_spec(bad)] == ["levels"]
    assert [e.field for e in methods.check_spec({"method": "xyz"})] == ["method"]


def test_highest_orders_levels() -> None:
    assert highest(["low", None, "significant", "general"]) == SIG
    assert highest([None, "bogus"]) is None
    assert MAJOR.rank > SIG.rank > GEN.rank > LOW.rank
    assert MAJOR.colour.startswith("#")
