"""Every rule of GB 30871-2022 the permit checks, accepted and refused, on plain objects: fields,
grades (height, mass, night/rest day/holiday), validity, linked permits, people and their
certificates, gas limits, start and resume readiness. Clause-citing refusals are checked in
zh-CN and en."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.permits import gas, readiness, rules
from plantguard.permits.calendar import CalendarConfig
from plantguard.permits.models import GasAnalysis, Permit, PermitMeasure, PermitSignature
from plantguard.permits.types import PermitType, get_type
from plantguard.tenancy.models import Certificate, Person
from tests.permits.conftest import shown

CFG = CalendarConfig()
WED = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 09:00 Wednesday in Shanghai
NIGHT = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 21:00
SAT = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
NATIONAL_DAY = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)


def T(code: str) -> PermitType:
    t = get_type(code)
    assert t is not None
    return t


def fields_of(errors: list[FieldError]) -> list[str]:
    return [e.field for e in errors]


def both(errors: list[FieldError], clause: str) -> tuple[str, str]:
    """The single refusal in en and zh-CN; both cite the clause, and zh-CN is translated."""
    assert len(errors) == 1, errors
    en, zh = shown(errors, "en")[0], shown(errors, "zh_CN")[0]
    assert f"GB 30871-2022 {clause}" in en and f"GB 30871-2022 {clause}" in zh, (en, zh)
    assert zh != en and any("\u4e00" <= ch <= "\u9fff" for ch in zh), zh
    return en, zh


# --- fields ------------------------------------------------------------------------------------

def test_fields_accepted_and_each_kind_of_wrong_value_refused() -> None:
    hw, wh = T("hot_work"), T("work_at_height")
    assert rules.field_refusals(hw, {"hot_work_method": "welding", "in_confined_space": False, "medium": "蒸汽"}) == []
    assert fields_of(rules.field_refusals(hw, {})) == ["fields.hot_work_method"]  # required
    assert fields_of(rules.field_refusals(hw, {"hot_work_method": "laser"})) == ["fields.hot_work_method"]  # choice
    assert fields_of(rules.field_refusals(hw, {"hot_work_method": "welding", "fixed_area": "yes"})) == \
        ["fields.fixed_area"]  # bool
    assert fields_of(rules.field_refusals(hw, {"hot_work_method": "welding", "medium": 5})) == ["fields.medium"]
    assert fields_of(rules.field_refusals(hw, {"hot_work_method": "welding", "colour": "red"})) == ["fields.colour"]
    assert fields_of(rules.field_refusals(wh, {"height_m": "8"})) == ["fields.height_m"]  # number
    assert fields_of(rules.field_refusals(wh, {"height_m": True})) == ["fields.height_m"]
    assert rules.field_refusals(wh, {"height_m": 8, "hazard_factors": ["wind", "dark"]}) == []
    assert fields_of(rules.field_refusals(wh, {"height_m": 8, "hazard_factors": ["ghosts"]})) == \
        ["fields.hazard_factors"]  # multi
    assert fields_of(rules.field_refusals(wh, {"height_m": 8, "hazard_factors": "wind"})) == ["fields.hazard_factors"]


# --- grades ------------------------------------------------------------------------------------

def grade(code: str, requested: str | None, fields: dict[str, Any], start: datetime = WED,
          hours: float = 3) -> rules.GradeDecision:
    d, errors = rules.decide_grade(T(code), requested, fields, start, start + timedelta(hours=hours), CFG)
    assert errors == [] and d is not None, errors
    return d


def test_hot_work_grade_as_requested_on_a_working_day() -> None:
    d = grade("hot_work", "second", {"hot_work_method": "welding"})
    assert (d.grade, d.reasons) == ("second", [])
    assert grade("hot_work", "special", {}).grade == "special"


@pytest.mark.parametrize(("start", "requested", "expected", "why"), [
    (NIGHT, "second", "first", "at night"),
    (SAT, "second", "first", "on a rest day"),
    (NATIONAL_DAY, "first", "special", "on a holiday"),
    (NIGHT, "special", "special", "at night"),  # already the highest
])
def test_hot_work_raised_one_grade_at_night_rest_day_holiday(start: datetime, requested: str, expected: str,
                                                             why: str) -> None:
    d = grade("hot_work", requested, {}, start)
    assert d.grade == expected
    assert len(d.reasons) == 1
    assert why in d.reasons[0]["msgid"] and "GB 30871-2022 §5" in d.reasons[0]["msgid"]
    assert d.reasons[0]["params"] == {"from": requested, "to": expected}


def test_hot_work_in_a_fixed_area_is_not_raised_and_grade_is_required() -> None:
    assert grade("hot_work", "second", {"fixed_area": True}, NIGHT).grade == "second"
    d, errors = rules.decide_grade(T("hot_work"), None, {}, WED, WED + timedelta(hours=1), CFG)
    assert d is None and fields_of(errors) == ["grade"]
    d, errors = rules.decide_grade(T("hot_work"), "extreme", {}, WED, WED + timedelta(hours=1), CFG)
    assert d is None and fields_of(errors) == ["grade"]


@pytest.mark.parametrize(("height", "expected"), [(2, "I"), (5, "I"), (5.1, "II"), (15, "II"), (15.5, "III"),
                                                  (30, "III"), (31, "IV")])
def test_height_grade_from_height(height: float, expected: str) -> None:
    assert grade("work_at_height", None, {"height_m": height}).grade == expected


def test_height_below_2_m_is_not_work_at_height() -> None:
    d, errors = rules.decide_grade(T("work_at_height"), None, {"height_m": 1.8}, WED, WED + timedelta(hours=1), CFG)
    assert d is None
    en, _zh = both(errors, "§8")
    assert "not work at height" in en


def test_height_hazard_factors_raise_one_level_and_requested_is_never_lowered() -> None:
    d = grade("work_at_height", None, {"height_m": 8, "hazard_factors": ["wind"]})
    assert d.grade == "III" and "§8" in d.reasons[0]["params"]["clause"]
    assert grade("work_at_height", None, {"height_m": 35, "hazard_factors": ["wind"]}).grade == "IV"
    # asked for stricter: kept
    assert grade("work_at_height", "III", {"height_m": 3}).grade == "III"
    # asked for milder than the height gives: the height's grade, with why
    d = grade("work_at_height", "I", {"height_m": 8})
    assert d.grade == "II" and d.reasons[-1]["params"]["requested"] == "I"


@pytest.mark.parametrize(("mass", "expected"), [(120, "first"), (100.5, "first"), (100, "second"), (40, "second"),
                                                (39.9, "third"), (12, "third")])
def test_lifting_grade_from_mass(mass: float, expected: str) -> None:
    d = grade("lifting", None, {"mass_t": mass})
    assert d.grade == expected and d.reasons == []


def test_lifting_under_10_t_accepted_with_a_note() -> None:
    d = grade("lifting", None, {"mass_t": 5})
    assert d.grade == "third"
    assert "risk analysis" in d.reasons[0]["msgid"] and d.reasons[0]["params"]["clause"] == "GB 30871-2022 §9"


def test_lifting_plan_required_for_grades_1_and_2() -> None:
    lf = T("lifting")
    en, _zh = both(rules.plan_refusals(lf, "first", {"mass_t": 120}), "§9")
    assert "lifting plan" in en
    assert fields_of(rules.plan_refusals(lf, "second", {"lifting_plan": "  "})) == ["fields.lifting_plan"]
    assert rules.plan_refusals(lf, "second", {"lifting_plan": "FA-1"}) == []
    assert rules.plan_refusals(lf, "third", {}) == []


# --- validity ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "grade_code", "fields", "max_h", "clause"), [
    ("hot_work", "special", {}, 8, "§5"),
    ("hot_work", "first", {}, 8, "§5"),
    ("hot_work", "second", {}, 72, "§5"),
    ("confined_space", "none", {}, 24, "§6"),
    ("work_at_height", "II", {}, 168, "§8"),
    ("temp_electricity", "none", {}, 360, "§10"),
    ("temp_electricity", "none", {"special_case": True}, 720, "§10"),
])
def test_validity_by_type_and_grade(code: str, grade_code: str, fields: dict[str, Any], max_h: float,
                                    clause: str) -> None:
    t = T(code)
    assert rules.validity_refusals(t, grade_code, fields, WED, WED + timedelta(hours=max_h), CFG) == []
    errors = rules.validity_refusals(t, grade_code, fields, WED, WED + timedelta(hours=max_h, minutes=1), CFG)
    en, _zh = both(errors, clause)
    assert f"at most {max_h} h" in en


def test_validity_where_the_standard_sets_none_uses_the_plants_limit() -> None:
    bp = T("blind_plate")
    assert rules.validity_refusals(bp, "none", {}, WED, WED + timedelta(hours=24), CFG) == []
    errors = rules.validity_refusals(bp, "none", {}, WED, WED + timedelta(hours=25), CFG)
    assert len(errors) == 1 and "sets no validity" in shown(errors, "en")[0]
    assert "24" in shown(errors, "zh_CN")[0]
    own = CalendarConfig(overrides={"blind_plate": {"validity_max_h": 48}})
    assert rules.validity_refusals(bp, "none", {}, WED, WED + timedelta(hours=48), own) == []
    # the standard's own limits are not overridable
    hw_own = CalendarConfig(overrides={"hot_work": {"validity_max_h": 100}})
    assert rules.validity_refusals(T("hot_work"), "second", {}, WED, WED + timedelta(hours=73), hw_own) != []


def test_validity_end_after_start_and_temp_power_follows_its_linked_permit() -> None:
    te = T("temp_electricity")
    assert fields_of(rules.validity_refusals(te, "none", {}, WED, WED, CFG)) == ["planned_end"]
    hot = Permit(type_code="hot_work", number="DH-1", status="approved", planned_start=WED,
                 planned_end=WED + timedelta(hours=8))
    assert rules.validity_refusals(te, "none", {}, WED, WED + timedelta(hours=8), CFG, [hot]) == []
    errors = rules.validity_refusals(te, "none", {}, WED, WED + timedelta(hours=9), CFG, [hot])
    en, _zh = both(errors, "§10")
    assert "DH-1" in en
    # a link to another kind of permit does not bind the window
    height = Permit(type_code="work_at_height", number="GC-1", status="approved", planned_end=WED)
    assert rules.validity_refusals(te, "none", {}, WED, WED + timedelta(hours=9), CFG, [height]) == []


# --- links -------------------------------------------------------------------------------------

def cs(status: str = "approved") -> Permit:
    return Permit(type_code="confined_space", number="SX-1", status=status)


def test_hot_work_in_a_confined_space_needs_a_live_confined_space_permit() -> None:
    hw = T("hot_work")
    errors = rules.link_refusals(hw, {"in_confined_space": True}, [])
    en, zh = both(errors, "§5")
    assert "GB 30871-2022 §6" in en and "GB 30871-2022 §6" in zh
    assert rules.link_refusals(hw, {"in_confined_space": True}, [cs("approved")]) == []
    assert rules.link_refusals(hw, {"in_confined_space": False}, []) == []
    refused = rules.link_refusals(hw, {"in_confined_space": True}, [cs("cancelled")])
    assert sorted(fields_of(refused)) == ["links", "links.0"]


def test_deep_excavation_where_material_may_accumulate_is_a_confined_space() -> None:
    ex = T("excavation")
    en, _zh = both(rules.link_refusals(ex, {"depth_m": 1.5, "may_accumulate": True}, []), "§11")
    assert "1.2" in en
    assert rules.link_refusals(ex, {"depth_m": 1.5, "may_accumulate": True}, [cs("pending_approval")]) == []
    assert rules.link_refusals(ex, {"depth_m": 1.2, "may_accumulate": True}, []) == []
    assert rules.link_refusals(ex, {"depth_m": 3, "may_accumulate": False}, []) == []


# --- people ------------------------------------------------------------------------------------

def person(name: str, *kinds: str, expires: date | None = date(2030, 1, 1)) -> Person:
    p = Person(name=name)
    for k in kinds:
        p.certificates.append(Certificate(kind=k, kind_code=k, number=f"{k}-{name}", expires_on=expires))
    return p


def people(code: str, **kw: Any) -> list[FieldError]:
    args: dict[str, Any] = {"leader": person("刘"), "guardian": person("孙", "HW-WATCH", "CS-TRAIN"),
                            "workers": [person("赵", "TZ-WELD", "CS-TRAIN", "TZ-HEIGHT")],
                            "until": date(2026, 11, 25), **kw}
    return rules.people_refusals(T(code), CFG, **args)


def test_people_accepted() -> None:
    assert people("hot_work") == []
    assert people("confined_space") == []
    assert people("lifting", guardian=None, workers=[person("周", "SE-Q2")]) == []
    assert people("road_breaking", guardian=None, workers=[person("吴")]) == []  # no certificate required


def test_people_leader_guardian_workers_required() -> None:
    assert fields_of(people("hot_work", leader=None)) == ["work_leader_id"]
    assert fields_of(people("hot_work", workers=[])) == ["workers"]
    en, _zh = both(people("hot_work", guardian=None), "4.10")
    assert "guardian" in en


def test_worker_without_a_valid_certificate_is_named_with_the_kind() -> None:
    errors = people("hot_work", workers=[person("赵", "TZ-WELD"), person("钱", "TZ-LV")])
    assert fields_of(errors) == ["workers.1.person_id"]
    en, zh = both(errors, "Appendix A")
    assert "钱" in en and "TZ-WELD" in en and "钱" in zh and "TZ-WELD" in zh
    # expired before the work ends: refused; valid through the last day: accepted
    assert fields_of(people("hot_work", workers=[person("赵", "TZ-WELD", expires=date(2026, 11, 24))])) == \
        ["workers.0.person_id"]
    assert people("hot_work", workers=[person("赵", "TZ-WELD", expires=date(2026, 11, 25))]) == []
    assert people("hot_work", workers=[person("赵", "TZ-WELD", expires=None)]) == []
    assert fields_of(people("temp_electricity", workers=[person("赵", "TZ-WELD")])) == ["workers.0.person_id"]
    assert people("temp_electricity", workers=[person("赵", "TZ-HV")]) == []


def test_guardian_certificate_and_one_job_at_a_time() -> None:
    en, _zh = both(people("hot_work", guardian=person("孙", "CS-TRAIN")), "4.10 a")
    assert "HW-WATCH" in en
    busy = Permit(number="DH-20261125-007")
    en, _zh = both(people("hot_work", guardian_busy=[busy]), "4.10")
    assert "DH-20261125-007" in en
    # the enterprise's own certificate kinds (⚠ per enterprise)
    own = CalendarConfig(overrides={"hot_work": {"certificates": {"workers": ["MY-WELD"], "guardian": []}}})
    assert rules.people_refusals(T("hot_work"), own, leader=person("刘"), guardian=person("孙"),
                                 workers=[person("赵", "MY-WELD")], until=date(2026, 11, 25)) == []


# --- gas ---------------------------------------------------------------------------------------

def ev(code: str, kind: str, value: float, unit: str, gas_code: str | None = None,
       **fields: Any) -> tuple[bool, float | None, str]:
    p = Permit(type_code=code, fields=fields, gas_code="methane")
    return gas.evaluate(T(code), p, kind, gas_code, value, unit)


def test_combustible_limit_on_the_absolute_concentration() -> None:
    assert ev("hot_work", "combustible", 10, "%LEL") == (True, 0.5, "≤0.5%vol (LEL 5%) GB 30871-2022 5.3.2")
    ok, vol, _ = ev("hot_work", "combustible", 11, "%LEL")
    assert not ok and vol == pytest.approx(0.55)
    assert ev("hot_work", "combustible", 0.2, "%vol", "propane")[0]  # LEL 2.1 % < 4 %: ≤ 0.2 % vol
    assert not ev("hot_work", "combustible", 0.21, "%vol", "propane")[0]
    assert ev("hot_work", "combustible", 0.5, "%vol", "hydrogen")[0]  # LEL exactly 4 %: ≤ 0.5 %
    assert not ev("confined_space", "combustible", 0.51, "%vol", "methane")[0]  # 6.4 c: the same limits


def test_oxygen_limits() -> None:
    assert ev("confined_space", "oxygen", 19.5, "%vol")[0] and ev("confined_space", "oxygen", 21.0, "%vol")[0]
    assert not ev("confined_space", "oxygen", 19.4, "%vol")[0]
    ok, _, limit = ev("confined_space", "oxygen", 21.1, "%vol")
    assert not ok and "6.4 a" in limit
    assert ev("confined_space", "oxygen", 23.0, "%vol", oxygen_enriched=True)[0]
    assert not ev("confined_space", "oxygen", 23.6, "%vol", oxygen_enriched=True)[0]
    ok, _, limit = ev("hot_work", "oxygen", 23.6, "%vol", oxygen_service=True)
    assert not ok and "5.2.7" in limit
    assert ev("hot_work", "oxygen", 23.5, "%vol", oxygen_service=True)[0]


def test_toxic_limits() -> None:
    assert ev("confined_space", "toxic", 10, "mg/m3", "hydrogen_sulfide")[0]
    ok, vol, limit = ev("confined_space", "toxic", 10.5, "mg/m3", "hydrogen_sulfide")
    assert not ok and vol is None and "MAC" in limit and "6.4 b" in limit
    assert ev("confined_space", "toxic", 30, "mg/m3", "carbon_monoxide")[0]  # short-term limit
    assert not ev("confined_space", "toxic", 31, "mg/m3", "carbon_monoxide")[0]


@pytest.mark.parametrize(("kind", "value", "unit", "gas_code", "field"), [
    ("combustible", 1, "%LEL", "unobtainium", "gas_code"),
    ("combustible", 1, "ppm", "methane", "unit"),
    ("oxygen", 20, "%LEL", None, "unit"),
    ("toxic", 1, "mg/m3", "methane", "gas_code"),
    ("combustible", 120, "%LEL", "methane", "value"),
    ("radiation", 1, "%vol", None, "kind"),
])
def test_gas_unknown_gas_unit_or_kind_refused(kind: str, value: float, unit: str, gas_code: str | None,
                                              field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        ev("confined_space", kind, value, unit, gas_code)
    assert exc.value.errors[0].field == field


def test_required_gas_kinds_by_type() -> None:
    assert gas.required_kinds(T("hot_work"), {}) == ["combustible"]
    assert gas.required_kinds(T("hot_work"), {"oxygen_service": True}) == ["combustible", "oxygen"]
    assert gas.required_kinds(T("confined_space"), {}) == ["combustible", "oxygen"]
    assert gas.required_kinds(T("temp_electricity"), {}) == []
    assert gas.required_kinds(T("temp_electricity"), {"hazardous_area": True}) == ["combustible"]  # 10.1
    assert gas.required_kinds(T("work_at_height"), {}) == []


# --- start readiness ---------------------------------------------------------------------------

START = WED + timedelta(minutes=30)


def permit_of(code: str = "hot_work", grade_code: str = "second", **kw: Any) -> Permit:
    base: dict[str, Any] = {"type_code": code, "grade": grade_code, "status": "approved", "number": "DH-1",
                            "planned_start": WED, "planned_end": WED + timedelta(hours=3), "fields": {},
                            "guardian_id": 2, "work_leader_id": 1, "continuous_monitoring": False}
    return Permit(**{**base, **kw})


def sample(kind: str, minutes_before: float, passed: bool = True, at: datetime = START) -> GasAnalysis:
    return GasAnalysis(kind=kind, sampled_at=at - timedelta(minutes=minutes_before), passed=passed, value=0.1,
                       unit="%vol", limit_text="≤0.5%vol")


def signed(*steps: str) -> list[PermitSignature]:
    return [PermitSignature(step=s, decision="signed") for s in steps]


ALL_SIGNED = signed("work_leader", "guardian", "briefer", "briefee")
DONE = [PermitMeasure(code="HW01", applicable=True, confirmed_by_name="刘"),
        PermitMeasure(code="HW02", applicable=False, confirmed_by_name="刘")]


def start_errors(p: Permit, *, at: datetime = START, analyses: list[GasAnalysis] | None = None,
                 sigs: list[PermitSignature] = ALL_SIGNED, measures: list[PermitMeasure] = DONE,
                 **kw: Any) -> list[FieldError]:
    found = [sample("combustible", 10)] if analyses is None else analyses
    return readiness.start_refusals(T(p.type_code), p, at, analyses=found, signatures=sigs, measures=measures, **kw)


def test_start_ready() -> None:
    assert start_errors(permit_of()) == []


def test_start_outside_the_window_refused() -> None:
    en, _zh = both(start_errors(permit_of(), at=WED - timedelta(minutes=1),
                                analyses=[sample("combustible", 10, at=WED)]), "4.16")
    assert "validity" in en
    assert fields_of(start_errors(permit_of(), at=WED + timedelta(hours=3),
                                  analyses=[sample("combustible", 1, at=WED + timedelta(hours=3))])) == \
        ["planned_start"]
    assert fields_of(start_errors(permit_of(status="pending_approval"))) == ["status"]


def test_start_needs_sign_offs_and_briefing() -> None:
    both(start_errors(permit_of(), sigs=signed("guardian", "briefer", "briefee")), "Appendix A")
    both(start_errors(permit_of(), sigs=signed("work_leader", "briefer", "briefee")), "4.10")
    both(start_errors(permit_of(), sigs=signed("work_leader", "guardian", "briefer")), "Appendix A")
    # no guardian on the permit (lifting): no guardian signature needed
    assert start_errors(permit_of("lifting", "third", guardian_id=None),
                        sigs=signed("work_leader", "briefer", "briefee")) == []


def test_start_needs_every_measure_decided_and_confirmed() -> None:
    errors = start_errors(permit_of(), measures=[*DONE, PermitMeasure(code="HW03", applicable=None)])
    en, _zh = both(errors, "Appendix A")
    assert "HW03" in en
    errors = start_errors(permit_of(), measures=[PermitMeasure(code="HW04", applicable=True, confirmed_by_name="")])
    assert "HW04" in shown(errors, "en")[0]


def test_start_gas_analysis_at_most_30_min_before() -> None:
    assert start_errors(permit_of(), analyses=[sample("combustible", 30)]) == []
    en, _zh = both(start_errors(permit_of(), analyses=[sample("combustible", 31)]), "5.3.1 c")
    assert "30 min" in en
    both(start_errors(permit_of(), analyses=[]), "5.3.1 c")
    # confined space: oxygen too, cited 6.3 a
    p = permit_of("confined_space", "none")
    assert start_errors(p, analyses=[sample("combustible", 5), sample("oxygen", 5)]) == []
    en, _zh = both(start_errors(p, analyses=[sample("combustible", 5)]), "6.3 a")
    assert "oxygen" in en


def test_start_refused_when_the_latest_analysis_failed() -> None:
    errors = start_errors(permit_of(), analyses=[sample("combustible", 20), sample("combustible", 5, passed=False)])
    assert fields_of(errors) == ["gas_analyses"] and "failed" in shown(errors, "en")[0]
    # a failed one followed by a passed one: fine
    assert start_errors(permit_of(), analyses=[sample("combustible", 20, passed=False),
                                               sample("combustible", 5)]) == []


def test_start_continuous_monitoring_stands_for_the_analysis_of_special_grade() -> None:
    special = permit_of(grade="special")
    assert start_errors(special, analyses=[], continuous_ok=True) == []
    assert fields_of(start_errors(special, analyses=[], continuous_ok=False)) == ["gas_analyses"]
    # second grade does not use it unless the permit is bound to continuous monitoring
    assert fields_of(start_errors(permit_of(), analyses=[], continuous_ok=True)) == ["gas_analyses"]
    assert start_errors(permit_of(continuous_monitoring=True), analyses=[], continuous_ok=True) == []


def test_start_temp_power_gas_only_in_a_hazardous_area() -> None:
    te = permit_of("temp_electricity", "none")
    assert start_errors(te, analyses=[]) == []
    both(start_errors(permit_of("temp_electricity", "none", fields={"hazardous_area": True}), analyses=[]), "10.1")


def test_start_guardian_on_another_active_job_refused() -> None:
    en, _zh = both(start_errors(permit_of(), guardian_elsewhere=[Permit(number="SX-9")]), "4.10")
    assert "SX-9" in en


# --- resume ------------------------------------------------------------------------------------

def resume_errors(code: str, grade_code: str, break_min: float, analyses: list[GasAnalysis],
                  reason: str = "break") -> list[FieldError]:
    now = WED + timedelta(hours=1)
    p = permit_of(code, grade_code, status="suspended", suspended_at=now - timedelta(minutes=break_min),
                  suspend_reason=reason)
    return readiness.resume_refusals(T(code), p, now, analyses=analyses)


NOW = WED + timedelta(hours=1)


@pytest.mark.parametrize(("code", "grade_code", "limit", "clause"), [
    ("hot_work", "special", 30, "5.3.1 d"), ("hot_work", "first", 30, "5.3.1 d"),
    ("hot_work", "second", 60, "5.3.1 d"), ("confined_space", "none", 60, "6.3 f"),
])
def test_resume_after_a_break_longer_than_the_limit_needs_a_new_analysis(code: str, grade_code: str, limit: int,
                                                                         clause: str) -> None:
    early = [sample(k, 70, at=NOW) for k in ("combustible", "oxygen")]  # before the break, same day
    assert resume_errors(code, grade_code, limit, early) == []
    errors = resume_errors(code, grade_code, limit + 1, early)
    assert errors and all(e.field == "gas_analyses" for e in errors)
    _en, _zh = both(errors[:1], clause)
    fresh = [*early, *[sample(k, 5, at=NOW) for k in ("combustible", "oxygen")]]
    assert resume_errors(code, grade_code, limit + 1, fresh) == []


def test_resume_after_a_gas_alarm_always_needs_a_new_analysis() -> None:
    before = [sample("combustible", 8, at=NOW)]  # sampled before the 5-minute stop
    _en, _zh = both(resume_errors("hot_work", "second", 5, before, reason="gas_alarm"), "6.5")
    assert resume_errors("hot_work", "second", 5, [*before, sample("combustible", 2, at=NOW)],
                         reason="gas_alarm") == []
    # a new one that failed again: still refused
    assert resume_errors("hot_work", "second", 5, [sample("combustible", 2, passed=False, at=NOW)],
                         reason="gas_alarm") != []


def test_resume_hot_work_needs_an_analysis_of_the_current_day() -> None:
    yesterday = [sample("combustible", 60 * 24, at=NOW)]
    en, _zh = both(resume_errors("hot_work", "second", 10, yesterday), "5.3.1 d")
    assert "every day" in en
    assert resume_errors("work_at_height", "II", 600, []) == []  # no gas rules for height work
