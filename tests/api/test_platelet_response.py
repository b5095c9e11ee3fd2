"""The platelet response engine over HTTP (DOMAIN.md "Platelet transfusion response").

Records go in through the mutations (sites, subjects, body measurements, CAR-T infusions,
transfusions with their counts) and the derived values are read back: BSA, attributed counts,
CCI early/late, PPR, the per-transfusion response, the subject's sustained response, the primary
endpoint with its Clopper-Pearson interval, and what a protocol amendment or a corrected count
changes. The last test proves the site view and the endpoint query run a number of SQL statements
that does not grow with the cohort.

Worked numbers used throughout: 180 cm / 80 kg -> Mosteller BSA 2.0 m^2; dose 3.0 x10^11; pre
5 x10^9/L; early 35 -> CCI 30 x 1000 x 2.0 / 3.0 = 20,000; late 25 -> 40,000 / 3 = 13,333.33.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from server.db import models as m
from server.domain.enums import AboCompatibility, CarTProduct, Diagnosis, RemissionStatus, Sex, SubjectStatus

from .fixtures_data import create_site, enroll_subject, mutate
from .stored_responses import clear_stored, refresh_all

CD19_AT = datetime(2026, 2, 7, 10, 0, tzinfo=timezone.utc)
BCMA_AT = datetime(2026, 2, 21, 10, 0, tzinfo=timezone.utc)
DAY_1 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)  # transfusions after CAR-T start here
BEFORE_CAR_T = datetime(2026, 2, 3, 8, 0, tzinfo=timezone.utc)

RESPONSIVE_REASON = "early and late CCI above their thresholds"
NON_RESPONSIVE_REASON = "an evaluable CCI is at or below its threshold"

TRANSFUSION_VIEW = """
  id startedAt endedAt doseE11 doseBasis
  bsa { valueM2 formula heightCm weightKg heightMeasuredAt weightMeasuredAt }
  preCount { minutesFromTransfusion hoursFromTransfusion count { id valueE9PerL drawnAt } }
  earlyCount { minutesFromTransfusion hoursFromTransfusion count { id valueE9PerL drawnAt } }
  lateCount { minutesFromTransfusion hoursFromTransfusion count { id valueE9PerL drawnAt } }
  cciEarly cciLate pprEarly
  response { category reason notEvaluableReasons parameterVersion rule }
"""

PLATELET_RESPONSE_VIEW = """
  baselineRefractory sustained firstInfusionAt firstResponseAt daysToResponse longestResponsiveRun
  lostResponse lostResponseAt evaluableTransfusions responsiveTransfusions parameterVersion rule
"""

SUBJECT_QUERY = f"""query($code: String!) {{
  subject(code: $code) {{
    transfusions {{ {TRANSFUSION_VIEW} }}
    plateletResponse {{ {PLATELET_RESPONSE_VIEW} }}
  }}
}}"""

ENDPOINT_FIELDS = "population subjects responders proportion ciLower ciUpper confidence parameterVersion rule"
ENDPOINT_QUERY = f"""{{
  trial {{
    infused: primaryEndpoint(population: INFUSED) {{ {ENDPOINT_FIELDS} }}
    perProtocol: primaryEndpoint(population: PER_PROTOCOL) {{ {ENDPOINT_FIELDS} }}
    bySite: primaryEndpointBySite(population: PER_PROTOCOL) {{ site {{ code }} endpoint {{ {ENDPOINT_FIELDS} }} }}
  }}
}}"""


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def cci(pre: float, post: float, bsa: float = 2.0, dose: float = 3.0) -> float:
    """The expected CCI, written out independently of the engine."""
    return (post - pre) * 1000 * bsa / dose


# --- recording through the API -----------------------------------------------------------------


async def new_subject(
    gql: Any,
    admin: str,
    code: str,
    site: str = "S01",
    *,
    products: tuple[str, ...] = ("CD19",),
    height: float | None = 180.0,
    weight: float | None = 80.0,
) -> None:
    """Enrols a subject, measures 180 cm / 80 kg (BSA 2.0) and records the CAR-T infusions given."""
    await enroll_subject(gql, admin, code, site)
    if height is not None or weight is not None:
        result = await mutate(
            gql,
            admin,
            "recordBodyMeasurement",
            "RecordBodyMeasurementInput",
            {"subjectCode": code, "measuredAt": "2026-02-01T08:00:00Z", "heightCm": height, "weightKg": weight},
            "... on BodyMeasurementSuccess { bodyMeasurement { id } }",
        )
        assert "bodyMeasurement" in result, result
    for product in products:
        at = CD19_AT if product == "CD19" else BCMA_AT
        result = await mutate(
            gql,
            admin,
            "recordCarTInfusion",
            "RecordCarTInfusionInput",
            {
                "subjectCode": code,
                "product": product,
                "infusedAt": iso(at),
                "lotNumber": f"LOT-{product}-{code}",
                "carPositiveCellsPerKg": 1e6,
            },
            "... on CarTInfusionSuccess { infusion { id } }",
        )
        assert "infusion" in result, result


async def transfuse(
    gql: Any,
    token: str,
    code: str,
    start: datetime,
    *,
    pre: tuple[float, timedelta] | None = None,
    posts: tuple[tuple[float, timedelta], ...] = (),
    units: list[dict[str, Any]] | None = None,
    abo: str = "IDENTICAL",
    minutes: int = 30,
) -> tuple[str, list[str]]:
    """Records a transfusion lasting `minutes` with a pre-count (value, time before the START) and
    post counts (value, time after the END); returns the transfusion id and the count ids."""
    end = start + timedelta(minutes=minutes)
    variables: dict[str, Any] = {
        "subjectCode": code,
        "startedAt": iso(start),
        "endedAt": iso(end),
        "units": units if units is not None else [{"kind": "APHERESIS", "contentE11": 3.0}],
        "aboCompatibility": abo,
        "postCounts": [{"valueE9PerL": v, "drawnAt": iso(end + after)} for v, after in posts],
    }
    if pre is not None:
        variables["preCount"] = {"valueE9PerL": pre[0], "drawnAt": iso(start - pre[1])}
    result = await mutate(
        gql,
        token,
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        variables,
        "... on PlateletTransfusionSuccess { transfusion { id } counts { id } }",
    )
    assert "transfusion" in result, result
    return result["transfusion"]["id"], [c["id"] for c in result["counts"]]


HOUR = timedelta(hours=1)


async def responsive(gql: Any, token: str, code: str, start: datetime) -> tuple[str, list[str]]:
    """pre 5 (1 h before), early 35 (+30 min), late 25 (+20 h): CCI 20,000 / 13,333 -> R."""
    return await transfuse(
        gql, token, code, start, pre=(5.0, HOUR), posts=((35.0, timedelta(minutes=30)), (25.0, 20 * HOUR))
    )


async def refractory(gql: Any, token: str, code: str, start: datetime) -> tuple[str, list[str]]:
    """pre 5, early 8, late 6: CCI 2,000 / 666.67 -> N (and counts towards refractoriness)."""
    return await transfuse(
        gql, token, code, start, pre=(5.0, HOUR), posts=((8.0, timedelta(minutes=30)), (6.0, 20 * HOUR))
    )


async def read_subject(gql: Any, token: str, code: str) -> dict[str, Any]:
    return (await gql.data(token, SUBJECT_QUERY, {"code": code}))["subject"]


@pytest.fixture
async def site_s01(gql: Any, token: Any) -> str:
    return await create_site(gql, token("admin"), "S01")


# --- one transfusion -----------------------------------------------------------------------------


async def test_cci_early_and_late_are_computed_from_the_attributed_counts(gql, token, site_s01):
    # given: 180 cm / 80 kg, a 3.0 x10^11 apheresis unit, pre 5 at -60 min, 35 at +30 min, 25 at +20 h
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    transfusion_id, (pre_id, early_id, late_id) = await responsive(gql, coordinator, "S01-001", DAY_1)
    # when
    subject = await read_subject(gql, coordinator, "S01-001")
    # then
    (t,) = subject["transfusions"]
    assert t["id"] == transfusion_id
    assert t["doseE11"] == 3.0 and t["doseBasis"] == "MEASURED"
    assert t["bsa"] == {
        "valueM2": 2.0,
        "formula": "MOSTELLER",
        "heightCm": 180.0,
        "weightKg": 80.0,
        "heightMeasuredAt": "2026-02-01T08:00:00+00:00",
        "weightMeasuredAt": "2026-02-01T08:00:00+00:00",
    }
    assert t["preCount"] == {
        "minutesFromTransfusion": -60.0,
        "hoursFromTransfusion": -1.0,
        "count": {"id": pre_id, "valueE9PerL": 5.0, "drawnAt": "2026-03-02T07:00:00+00:00"},
    }
    assert t["earlyCount"] == {
        "minutesFromTransfusion": 30.0,
        "hoursFromTransfusion": 0.5,
        "count": {"id": early_id, "valueE9PerL": 35.0, "drawnAt": "2026-03-02T09:00:00+00:00"},
    }
    assert t["lateCount"] == {
        "minutesFromTransfusion": 1200.0,
        "hoursFromTransfusion": 20.0,
        "count": {"id": late_id, "valueE9PerL": 25.0, "drawnAt": "2026-03-03T04:30:00+00:00"},
    }
    assert t["cciEarly"] == 20000.0
    assert t["cciLate"] == pytest.approx(13333.333333333334, rel=1e-12)
    # PPR: 30,000/uL x (80 kg x 70 mL/kg x 1000 uL/mL) / 3.0e11 x 100 = 56.0 %
    assert t["pprEarly"] == pytest.approx(56.0, rel=1e-12)
    assert t["response"]["category"] == "RESPONSIVE"
    assert t["response"]["reason"] == RESPONSIVE_REASON
    assert t["response"]["notEvaluableReasons"] == []
    assert t["response"]["parameterVersion"] == 1
    assert t["response"]["rule"].startswith("response-v2")


async def test_not_evaluable_transfusions_say_why(gql, token, site_s01):
    # given: one subject, transfusions three days apart so no count reaches a neighbour
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    early = timedelta(minutes=30)
    no_pre, _ = await transfuse(gql, coordinator, "S01-001", DAY_1, posts=((35.0, early), (25.0, 20 * HOUR)))
    early_at_61, _ = await transfuse(
        gql,
        coordinator,
        "S01-001",
        DAY_1 + timedelta(days=3),
        pre=(5.0, HOUR),
        posts=((35.0, timedelta(minutes=61)), (25.0, 20 * HOUR)),
    )
    early_at_60, _ = await transfuse(
        gql,
        coordinator,
        "S01-001",
        DAY_1 + timedelta(days=6),
        pre=(5.0, HOUR),
        posts=((35.0, timedelta(minutes=60)), (25.0, 24 * HOUR)),
    )
    no_dose, _ = await transfuse(
        gql,
        coordinator,
        "S01-001",
        DAY_1 + timedelta(days=9),
        pre=(5.0, HOUR),
        posts=((35.0, early), (25.0, 20 * HOUR)),
        units=[{"kind": "APHERESIS", "contentE11": None, "contentBasis": "NOMINAL"}],
    )
    # when
    by_id = {t["id"]: t for t in (await read_subject(gql, coordinator, "S01-001"))["transfusions"]}
    # then: no pre-count
    t = by_id[no_pre]
    assert (t["preCount"], t["cciEarly"], t["cciLate"], t["pprEarly"]) == (None, None, None, None)
    assert t["earlyCount"]["count"]["valueE9PerL"] == 35.0  # the counts are still shown
    assert t["response"] == {
        "category": "NOT_EVALUABLE",
        "reason": "not evaluable: no pre count",
        "notEvaluableReasons": ["NO_PRE_COUNT"],
        "parameterVersion": 1,
        "rule": t["response"]["rule"],
    }
    # then: an early count at 61 min is outside the window; the late CCI is still computed
    t = by_id[early_at_61]
    assert t["earlyCount"] is None and t["cciEarly"] is None and t["pprEarly"] is None
    assert t["cciLate"] == pytest.approx(cci(5, 25))
    assert t["response"]["category"] == "NOT_EVALUABLE"
    assert t["response"]["notEvaluableReasons"] == ["NO_EARLY_COUNT"]
    # then: 60 min and 24 h 00 min are inside (bounds inclusive)
    t = by_id[early_at_60]
    assert t["earlyCount"]["minutesFromTransfusion"] == 60.0
    assert t["lateCount"]["hoursFromTransfusion"] == 24.0
    assert t["response"]["category"] == "RESPONSIVE"
    # then: a nominal unit with no content gives no dose, never an infinity
    t = by_id[no_dose]
    assert t["doseE11"] is None and t["doseBasis"] == "NOMINAL"
    assert t["bsa"]["valueM2"] == 2.0
    assert (t["cciEarly"], t["cciLate"], t["pprEarly"]) == (None, None, None)
    assert t["response"]["notEvaluableReasons"] == ["NO_DOSE"]
    assert t["response"]["reason"] == "not evaluable: no platelet dose"


async def test_without_height_or_weight_the_cci_is_not_evaluable(gql, token, site_s01):
    # given: a weight but no height
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001", height=None, weight=80.0)
    await responsive(gql, coordinator, "S01-001", DAY_1)
    # when
    (t,) = (await read_subject(gql, coordinator, "S01-001"))["transfusions"]
    # then
    assert t["bsa"] is None and t["cciEarly"] is None and t["cciLate"] is None
    assert t["response"]["category"] == "NOT_EVALUABLE"
    assert t["response"]["notEvaluableReasons"] == ["NO_BSA"]


async def test_negative_and_threshold_ccis_are_non_responsive(gql, token, site_s01):
    # given
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    early = timedelta(minutes=30)
    falling, _ = await transfuse(
        gql, coordinator, "S01-001", DAY_1, pre=(10.0, HOUR), posts=((7.0, early), (8.0, 20 * HOUR))
    )
    at_threshold, _ = await transfuse(
        gql,
        coordinator,
        "S01-001",
        DAY_1 + timedelta(days=3),
        pre=(5.0, HOUR),
        posts=((16.25, early), (25.0, 20 * HOUR)),
    )
    early_fail_no_late, _ = await transfuse(
        gql, coordinator, "S01-001", DAY_1 + timedelta(days=6), pre=(5.0, HOUR), posts=((14.0, early),)
    )
    # when
    by_id = {t["id"]: t for t in (await read_subject(gql, coordinator, "S01-001"))["transfusions"]}
    # then: post below pre gives a negative CCI, kept as it is
    assert by_id[falling]["cciEarly"] == -2000.0
    assert by_id[falling]["cciLate"] == pytest.approx(-4000.0 / 3)
    assert by_id[falling]["pprEarly"] == pytest.approx(-5.6)
    assert by_id[falling]["response"]["category"] == "NON_RESPONSIVE"
    assert by_id[falling]["response"]["reason"] == NON_RESPONSIVE_REASON
    # then: exactly 7,500 is not above the threshold
    assert by_id[at_threshold]["cciEarly"] == 7500.0
    assert by_id[at_threshold]["response"]["category"] == "NON_RESPONSIVE"
    # then: an early 6,000 with no late sample has already failed
    assert by_id[early_fail_no_late]["cciEarly"] == pytest.approx(6000.0)
    assert by_id[early_fail_no_late]["cciLate"] is None
    assert by_id[early_fail_no_late]["response"]["category"] == "NON_RESPONSIVE"
    assert by_id[early_fail_no_late]["response"]["notEvaluableReasons"] == []


async def test_a_late_count_drawn_after_the_next_transfusion_started_is_not_attributed(gql, token, site_s01):
    # given: the first transfusion's +20 h count is drawn 2.5 h after the next one started
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    first, _ = await responsive(gql, coordinator, "S01-001", DAY_1)
    second, _ = await transfuse(gql, coordinator, "S01-001", DAY_1 + timedelta(hours=18))
    # when
    by_id = {t["id"]: t for t in (await read_subject(gql, coordinator, "S01-001"))["transfusions"]}
    # then
    t = by_id[first]
    assert t["cciEarly"] == 20000.0
    assert t["lateCount"] is None and t["cciLate"] is None
    assert t["response"]["category"] == "NOT_EVALUABLE"
    assert t["response"]["notEvaluableReasons"] == ["LATE_COUNT_CONFOUNDED"]
    assert t["response"]["reason"] == "not evaluable: late count after next transfusion"
    # then: the second transfusion's pre-count is the first one's +30 min count (the last within 24 h)
    assert by_id[second]["preCount"]["count"]["valueE9PerL"] == 35.0
    assert by_id[second]["preCount"]["minutesFromTransfusion"] == -17 * 60.0


async def test_a_pre_count_from_before_the_previous_transfusion_ended_is_confounded(gql, token, site_s01):
    # given: a transfusion with only a pre-count; 3 h later a second with post counts and no
    # pre-count of its own (the latest count within 24 h is the first one's, drawn before the first
    # ended); 3 days later a third with no count at all in the 24 h before it
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    first, _ = await transfuse(gql, coordinator, "S01-001", DAY_1, pre=(5.0, HOUR))
    second, _ = await transfuse(
        gql, coordinator, "S01-001", DAY_1 + 3 * HOUR, posts=((35.0, timedelta(minutes=30)), (25.0, 20 * HOUR))
    )
    third, _ = await transfuse(
        gql, coordinator, "S01-001", DAY_1 + timedelta(days=3), posts=((35.0, timedelta(minutes=30)),)
    )
    # when
    by_id = {t["id"]: t for t in (await read_subject(gql, coordinator, "S01-001"))["transfusions"]}
    # then: the second is not evaluable, pre-count confounded; no CCI from the first one's baseline
    t = by_id[second]
    assert (t["preCount"], t["cciEarly"], t["cciLate"]) == (None, None, None)
    assert t["earlyCount"]["count"]["valueE9PerL"] == 35.0
    assert t["response"]["category"] == "NOT_EVALUABLE"
    assert t["response"]["notEvaluableReasons"] == ["PRE_COUNT_CONFOUNDED"]
    assert t["response"]["reason"] == "not evaluable: pre count confounded"
    # then: the first keeps its own pre-count, and the third has none at all
    assert by_id[first]["preCount"]["count"]["valueE9PerL"] == 5.0
    assert by_id[third]["response"]["notEvaluableReasons"] == ["NO_PRE_COUNT", "NO_LATE_COUNT"]


async def test_a_count_drawn_at_the_next_start_is_the_next_transfusions_pre_count(gql, token, site_s01):
    # given: a second transfusion starting 30 min after the first ended, with a count drawn exactly
    # at its start (inside the first one's early window)
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    first, _ = await transfuse(gql, coordinator, "S01-001", DAY_1, pre=(5.0, HOUR))
    second, _ = await transfuse(
        gql,
        coordinator,
        "S01-001",
        DAY_1 + HOUR,
        pre=(35.0, timedelta(0)),
        posts=((65.0, timedelta(minutes=30)), (55.0, 20 * HOUR)),
    )
    # when
    by_id = {t["id"]: t for t in (await read_subject(gql, coordinator, "S01-001"))["transfusions"]}
    # then: the count is not the first one's early count (confounded by the next transfusion) ...
    t = by_id[first]
    assert (t["earlyCount"], t["lateCount"], t["cciEarly"]) == (None, None, None)
    assert t["response"]["notEvaluableReasons"] == ["EARLY_COUNT_CONFOUNDED", "LATE_COUNT_CONFOUNDED"]
    # ... but the second one's pre-count, drawn at its start
    t = by_id[second]
    assert t["preCount"]["count"]["valueE9PerL"] == 35.0
    assert t["preCount"]["minutesFromTransfusion"] == 0.0
    assert t["cciEarly"] == pytest.approx(cci(35, 65))
    assert t["response"]["category"] == "RESPONSIVE"


async def test_a_corrected_count_changes_the_cci_the_response_and_the_endpoint_at_once(gql, token, site_s01):
    # given: two responsive transfusions after CD19: a sustained responder, 1 of 1
    admin, coordinator, analyst = token("admin"), token("coordinator", "S01"), token("analyst")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, coordinator, "S01-001", DAY_1)
    second, (_pre, early_id, _late) = await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    before = await read_subject(gql, coordinator, "S01-001")
    assert before["plateletResponse"]["sustained"] is True
    endpoint = (await gql.data(analyst, ENDPOINT_QUERY))["trial"]["infused"]
    assert (endpoint["subjects"], endpoint["responders"]) == (1, 1)
    # when: the lab corrects the early count of the second transfusion from 35 to 12
    result = await mutate(
        gql,
        coordinator,
        "amendPlateletCount",
        "AmendPlateletCountInput",
        {"id": early_id, "valueE9PerL": 12.0, "reason": "lab corrected the result"},
        "... on PlateletCountSuccess { plateletCount { id valueE9PerL } }",
    )
    # then
    assert result["plateletCount"] == {"id": early_id, "valueE9PerL": 12.0}
    after = await read_subject(gql, coordinator, "S01-001")
    t = next(t for t in after["transfusions"] if t["id"] == second)
    assert t["earlyCount"]["count"]["valueE9PerL"] == 12.0
    assert t["cciEarly"] == pytest.approx(cci(5, 12))  # 4,666.67
    assert t["response"]["category"] == "NON_RESPONSIVE"
    assert after["plateletResponse"]["sustained"] is False
    assert after["plateletResponse"]["longestResponsiveRun"] == 1
    endpoint = (await gql.data(analyst, ENDPOINT_QUERY))["trial"]["infused"]
    assert (endpoint["subjects"], endpoint["responders"], endpoint["proportion"]) == (1, 0, 0.0)


async def test_voiding_a_count_changes_the_cci_the_response_and_the_endpoint_at_once(gql, token, site_s01):
    # given: a sustained responder
    admin, coordinator, analyst = token("admin"), token("coordinator", "S01"), token("analyst")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, coordinator, "S01-001", DAY_1)
    second, (_pre, _early, late_id) = await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    # when: the late count of the second transfusion is voided
    result = await mutate(
        gql,
        coordinator,
        "voidRecord",
        "VoidRecordInput",
        {"id": late_id, "reason": "sample from another patient"},
        "... on VoidRecordSuccess { id }",
    )
    # then
    assert result["id"] == late_id
    after = await read_subject(gql, coordinator, "S01-001")
    t = next(t for t in after["transfusions"] if t["id"] == second)
    assert t["lateCount"] is None and t["cciLate"] is None
    assert t["cciEarly"] == 20000.0
    assert t["response"]["notEvaluableReasons"] == ["NO_LATE_COUNT"]
    assert after["plateletResponse"]["sustained"] is False
    assert after["plateletResponse"]["evaluableTransfusions"] == 1
    endpoint = (await gql.data(analyst, ENDPOINT_QUERY))["trial"]["infused"]
    assert (endpoint["subjects"], endpoint["responders"]) == (1, 0)


# --- one subject ---------------------------------------------------------------------------------


async def test_two_consecutive_responses_after_cd19_are_a_sustained_response(gql, token, site_s01):
    # given: two refractory ABO-identical transfusions before CAR-T, then N, R, R after it
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await refractory(gql, coordinator, "S01-001", BEFORE_CAR_T - timedelta(days=1))
    await refractory(gql, coordinator, "S01-001", BEFORE_CAR_T)
    await refractory(gql, coordinator, "S01-001", DAY_1)
    await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=6))
    # when
    response = (await read_subject(gql, coordinator, "S01-001"))["plateletResponse"]
    # then
    assert response == {
        "baselineRefractory": True,
        "sustained": True,
        "firstInfusionAt": "2026-02-07T10:00:00+00:00",
        "firstResponseAt": "2026-03-05T08:00:00+00:00",
        "daysToResponse": 26,
        "longestResponsiveRun": 2,
        "lostResponse": False,
        "lostResponseAt": None,
        "evaluableTransfusions": 3,
        "responsiveTransfusions": 2,
        "parameterVersion": 1,
        "rule": response["rule"],
    }
    assert response["rule"].startswith("sustained-v2")


async def test_responses_broken_by_a_failure_are_not_sustained_and_one_refractory_is_not_refractoriness(
    gql, token, site_s01
):
    # given: one refractory transfusion before CAR-T (and one ABO-incompatible), then R, N, R
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await refractory(gql, coordinator, "S01-001", BEFORE_CAR_T - timedelta(days=1))
    await transfuse(
        gql,
        coordinator,
        "S01-001",
        BEFORE_CAR_T,
        abo="MAJOR_INCOMPATIBLE",
        pre=(5.0, HOUR),
        posts=((8.0, timedelta(minutes=30)),),
    )
    await responsive(gql, coordinator, "S01-001", DAY_1)
    await refractory(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=6))
    # when
    response = (await read_subject(gql, coordinator, "S01-001"))["plateletResponse"]
    # then
    assert response["baselineRefractory"] is False
    assert response["sustained"] is False
    assert response["firstResponseAt"] == "2026-03-02T08:00:00+00:00"
    assert response["daysToResponse"] == 23
    assert response["longestResponsiveRun"] == 1
    assert (response["evaluableTransfusions"], response["responsiveTransfusions"]) == (3, 2)


EVIDENCE_QUERY = """query($code: String!) {
  subject(code: $code) {
    plateletResponse {
      baselineRefractory
      refractorinessEvidence { counted excluded { transfusionId reason } rule }
    }
  }
}"""


async def test_refractoriness_evidence_lists_transfusions_left_out_and_why(gql, token, site_s01):
    # given: before CAR-T, two ABO-compatible refractory transfusions with, between them, one of
    # unknown ABO compatibility (not recorded) and one ABO-incompatible; then one after CAR-T
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    start = BEFORE_CAR_T - 44 * HOUR  # after the body measurement (BSA)
    first, _ = await refractory(gql, coordinator, "S01-001", start)
    unknown, _ = await transfuse(
        gql,
        coordinator,
        "S01-001",
        start + 12 * HOUR,
        abo="UNKNOWN",
        pre=(5.0, HOUR),
        posts=((35.0, timedelta(minutes=30)),),
    )
    incompatible, _ = await transfuse(
        gql,
        coordinator,
        "S01-001",
        start + 24 * HOUR,
        abo="MAJOR_INCOMPATIBLE",
        pre=(5.0, HOUR),
        posts=((8.0, timedelta(minutes=30)),),
    )
    last, _ = await refractory(gql, coordinator, "S01-001", BEFORE_CAR_T)
    after, _ = await responsive(gql, coordinator, "S01-001", DAY_1)
    # when
    response = (await gql.data(coordinator, EVIDENCE_QUERY, {"code": "S01-001"}))["subject"]["plateletResponse"]
    # then: the unknown one is not counted (neither extends nor breaks the run) and is listed
    assert response["baselineRefractory"] is True
    evidence = response["refractorinessEvidence"]
    assert evidence["counted"] == [first, last]
    assert evidence["excluded"] == [
        {"transfusionId": unknown, "reason": "ABO_UNKNOWN"},
        {"transfusionId": incompatible, "reason": "ABO_INCOMPATIBLE"},
        {"transfusionId": after, "reason": "AFTER_CAR_T"},
    ]
    assert evidence["rule"].startswith("refractory-v2")

    # when: the site enters the missing ABO compatibility (identical; its early CCI is 20,000)
    amended = await mutate(
        gql,
        coordinator,
        "amendPlateletTransfusion",
        "AmendPlateletTransfusionInput",
        {"id": unknown, "aboCompatibility": "IDENTICAL", "reason": "ABO typed"},
        "... on PlateletTransfusionSuccess { transfusion { id } }",
    )
    assert "transfusion" in amended, amended
    response = (await gql.data(coordinator, EVIDENCE_QUERY, {"code": "S01-001"}))["subject"]["plateletResponse"]
    # then: it counts, and its good increment breaks the run
    assert response["refractorinessEvidence"]["counted"] == [first, unknown, last]
    assert response["baselineRefractory"] is False


async def test_a_subject_without_car_t_has_no_response_after_it(gql, token, site_s01):
    # given
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001", products=())
    await responsive(gql, coordinator, "S01-001", DAY_1)
    await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    # when
    response = (await read_subject(gql, coordinator, "S01-001"))["plateletResponse"]
    # then
    assert response["sustained"] is False
    assert response["firstInfusionAt"] is None and response["firstResponseAt"] is None
    assert response["daysToResponse"] is None
    assert (response["evaluableTransfusions"], response["longestResponsiveRun"]) == (0, 0)


# --- the cohort ----------------------------------------------------------------------------------


async def seed_cohort(gql: Any, token: Any) -> None:
    """S01: A (CD19+BCMA, R R), B (CD19+BCMA, R N), C (CD19, R R), F (CD19, R R);
    S02: D (CD19, N N), E (no CAR-T, R R).
    Infused 5 (responders A, C, F); per protocol 2 (responder A)."""
    admin = token("admin")
    await create_site(gql, admin, "S02")
    plan = {
        "S01-00A": ("S01", ("CD19", "BCMA"), (responsive, responsive)),
        "S01-00B": ("S01", ("CD19", "BCMA"), (responsive, refractory)),
        "S01-00C": ("S01", ("CD19",), (responsive, responsive)),
        "S02-00D": ("S02", ("CD19",), (refractory, refractory)),
        "S02-00E": ("S02", (), (responsive, responsive)),
        "S01-00F": ("S01", ("CD19",), (responsive, responsive)),
    }
    for code, (site, products, transfusions) in plan.items():
        await new_subject(gql, admin, code, site, products=products)
        for k, give in enumerate(transfusions):
            await give(gql, admin, code, DAY_1 + timedelta(days=3 * k))


async def test_subjects_can_be_filtered_by_sustained_response_and_paged(gql, token, site_s01):
    # given
    await seed_cohort(gql, token)
    query = """query($sustained: Boolean, $after: String) {
      subjects(first: 2, after: $after, sustainedResponse: $sustained) {
        totalCount edges { node { code plateletResponse { sustained } } } pageInfo { hasNextPage endCursor }
      }
    }"""
    admin = token("admin")
    # when
    first_page = (await gql.data(admin, query, {"sustained": True}))["subjects"]
    second_page = (await gql.data(admin, query, {"sustained": True, "after": first_page["pageInfo"]["endCursor"]}))[
        "subjects"
    ]
    not_sustained = (await gql.data(admin, query, {"sustained": False}))["subjects"]
    site_bound = (await gql.data(token("coordinator", "S02"), query, {"sustained": True}))["subjects"]
    # then
    assert first_page["totalCount"] == 3
    assert [e["node"]["code"] for e in first_page["edges"]] == ["S01-00A", "S01-00C"]
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert second_page["totalCount"] == 3
    assert [e["node"]["code"] for e in second_page["edges"]] == ["S01-00F"]
    assert second_page["pageInfo"]["hasNextPage"] is False
    assert all(e["node"]["plateletResponse"]["sustained"] for e in first_page["edges"] + second_page["edges"])
    assert not_sustained["totalCount"] == 3
    assert [e["node"]["code"] for e in not_sustained["edges"]] == ["S01-00B", "S02-00D"]
    assert not_sustained["pageInfo"]["hasNextPage"] is True
    assert site_bound["totalCount"] == 0 and site_bound["edges"] == []


async def test_the_primary_endpoint_counts_responders_with_an_exact_interval(gql, token, site_s01):
    # given
    await seed_cohort(gql, token)
    # when
    trial = (await gql.data(token("analyst"), ENDPOINT_QUERY))["trial"]
    # then: infused 3 of 5
    infused = trial["infused"]
    assert infused["population"] == "INFUSED"
    assert (infused["subjects"], infused["responders"], infused["proportion"]) == (5, 3, 0.6)
    assert infused["ciLower"] == pytest.approx(0.146632799, abs=1e-6)
    assert infused["ciUpper"] == pytest.approx(0.947255050, abs=1e-6)
    assert infused["confidence"] == 0.95
    assert infused["parameterVersion"] == 1
    assert "clopper-pearson" in infused["rule"]
    # then: per protocol 1 of 2: the interval is 1 - sqrt(0.975) .. sqrt(0.975)
    per_protocol = trial["perProtocol"]
    assert (per_protocol["subjects"], per_protocol["responders"], per_protocol["proportion"]) == (2, 1, 0.5)
    assert per_protocol["ciLower"] == pytest.approx(1 - math.sqrt(0.975), abs=1e-9)
    assert per_protocol["ciUpper"] == pytest.approx(math.sqrt(0.975), abs=1e-9)
    assert round(per_protocol["ciLower"], 4) == 0.0126 and round(per_protocol["ciUpper"], 4) == 0.9874
    # then: per site (per protocol); S02's only infused subject had CD19 alone
    by_site = {row["site"]["code"]: row["endpoint"] for row in trial["bySite"]}
    assert list(by_site) == ["S01", "S02"]
    assert (by_site["S01"]["subjects"], by_site["S01"]["responders"]) == (2, 1)
    assert by_site["S02"]["subjects"] == 0 and by_site["S02"]["responders"] == 0
    assert (by_site["S02"]["proportion"], by_site["S02"]["ciLower"], by_site["S02"]["ciUpper"]) == (None, None, None)


async def test_site_staff_see_the_endpoint_of_their_own_site_only(gql, token, site_s01):
    # given
    await seed_cohort(gql, token)
    # when
    trial = (await gql.data(token("investigator", "S02"), ENDPOINT_QUERY))["trial"]
    # then: D is infused and not a responder; E was never infused
    assert (trial["infused"]["subjects"], trial["infused"]["responders"]) == (1, 0)
    assert trial["infused"]["ciLower"] == 0.0
    assert trial["infused"]["ciUpper"] == pytest.approx(0.975, abs=1e-9)
    assert [row["site"]["code"] for row in trial["bySite"]] == ["S02"]


# --- protocol amendments -------------------------------------------------------------------------

AMEND = (
    "... on ProtocolParametersSuccess { protocolParameters { version effectiveFrom reason cciEarlyThresholdPerUl } }"
)


def today_utc() -> str:
    return datetime.now(timezone.utc).date().isoformat()


async def test_a_parameter_change_produces_a_new_version_and_changes_the_results(gql, token, site_s01):
    # given: a sustained responder (early CCIs 20,000) under version 1
    admin, analyst = token("admin"), token("analyst")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, admin, "S01-001", DAY_1)
    await responsive(gql, admin, "S01-001", DAY_1 + timedelta(days=3))
    before = await read_subject(gql, admin, "S01-001")
    assert [t["response"]["category"] for t in before["transfusions"]] == ["RESPONSIVE", "RESPONSIVE"]
    # when: the early threshold is raised to 25,000 per uL from today
    result = await mutate(
        gql,
        admin,
        "amendProtocolParameters",
        "AmendProtocolParametersInput",
        {
            "effectiveFrom": today_utc(),
            "reason": "Amendment 2: stricter early response",
            "cciEarlyThresholdPerUl": 25000,
        },
        AMEND,
    )
    # then
    assert result["protocolParameters"] == {
        "version": 2,
        "effectiveFrom": today_utc(),
        "reason": "Amendment 2: stricter early response",
        "cciEarlyThresholdPerUl": 25000.0,
    }
    trial = (
        await gql.data(
            analyst,
            "{ trial { protocolParameters { version cciEarlyThresholdPerUl cciLateThresholdPerUl reason }"
            " protocolParameterHistory { version cciEarlyThresholdPerUl } } }",
        )
    )["trial"]
    assert trial["protocolParameters"] == {
        "version": 2,
        "cciEarlyThresholdPerUl": 25000.0,
        "cciLateThresholdPerUl": 5000.0,
        "reason": None,  # no free text for analysts
    }
    assert trial["protocolParameterHistory"] == [
        {"version": 1, "cciEarlyThresholdPerUl": 7500.0},
        {"version": 2, "cciEarlyThresholdPerUl": 25000.0},
    ]
    after = await read_subject(gql, admin, "S01-001")
    assert [t["cciEarly"] for t in after["transfusions"]] == [20000.0, 20000.0]  # the inputs did not change
    assert [t["response"]["category"] for t in after["transfusions"]] == ["NON_RESPONSIVE", "NON_RESPONSIVE"]
    assert {t["response"]["parameterVersion"] for t in after["transfusions"]} == {2}
    assert after["plateletResponse"]["sustained"] is False
    assert after["plateletResponse"]["parameterVersion"] == 2
    endpoint = (await gql.data(analyst, ENDPOINT_QUERY))["trial"]["infused"]
    assert (endpoint["subjects"], endpoint["responders"], endpoint["parameterVersion"]) == (1, 0, 2)


async def test_the_audit_trail_records_a_parameter_amendment(gql, token, site_s01):
    # given
    admin = token("admin")
    # when
    await mutate(
        gql,
        admin,
        "amendProtocolParameters",
        "AmendProtocolParametersInput",
        {
            "effectiveFrom": "2026-06-01",
            "reason": "Amendment 2",
            "cciEarlyThresholdPerUl": 25000,
            "lateWindowMaxHours": 26,
        },
        AMEND,
    )
    # then
    events = (
        await gql.data(
            admin,
            '{ auditEvents(entity: "ProtocolParameters") { edges { node {'
            " actorId actorRole entity action changes reason subjectCode } } } }",
        )
    )["auditEvents"]["edges"]
    assert [e["node"] for e in events] == [
        {
            "actorId": events[0]["node"]["actorId"],
            "actorRole": "ADMIN",
            "entity": "ProtocolParameters",
            "action": "CREATE",
            "changes": {
                "cci_early_threshold_per_ul": {"old": 7500.0, "new": 25000.0},
                "late_window_max_hours": {"old": 24, "new": 26},
                "version": {"old": 1, "new": 2},
            },
            "reason": "Amendment 2",
            "subjectCode": None,
        }
    ]


async def test_only_admins_amend_the_protocol_parameters_and_bad_amendments_are_refused(gql, token, site_s01):
    # given
    admin = token("admin")

    async def amend(auth: str, **values: Any) -> dict[str, Any]:
        variables = {"effectiveFrom": today_utc(), "reason": "Amendment 2", **values}
        return await mutate(gql, auth, "amendProtocolParameters", "AmendProtocolParametersInput", variables, AMEND)

    # when
    by_investigator = await amend(token("investigator", "S01"), cciEarlyThresholdPerUl=25000)
    by_analyst = await amend(token("analyst"), cciEarlyThresholdPerUl=25000)
    no_reason = await amend(admin, reason="   ", cciEarlyThresholdPerUl=25000)
    window_inverted = await amend(admin, earlyWindowMinMinutes=70)
    negative_threshold = await amend(admin, cciLateThresholdPerUl=-1)
    unchanged = await amend(admin, cciEarlyThresholdPerUl=7500)
    before_version_1 = await amend(admin, effectiveFrom="2025-12-31", cciEarlyThresholdPerUl=25000)
    # then
    for refused in (by_investigator, by_analyst):
        assert refused["__typename"] == "PermissionDeniedError"
        assert refused["code"] == "PERMISSION_DENIED"
    assert no_reason["__typename"] == "InputError"
    assert (no_reason["code"], no_reason["field"]) == ("REQUIRED", ["reason"])
    assert window_inverted["__typename"] == "InputError"
    assert (window_inverted["code"], window_inverted["field"]) == ("OUT_OF_RANGE", ["earlyWindowMaxMinutes"])
    assert (negative_threshold["code"], negative_threshold["field"]) == ("OUT_OF_RANGE", ["cciLateThresholdPerUl"])
    assert unchanged["__typename"] == "ConflictError" and unchanged["code"] == "NO_CHANGE"
    assert (before_version_1["code"], before_version_1["field"]) == ("INVALID_ORDER", ["effectiveFrom"])
    # then: nothing was written
    trial = (await gql.data(admin, "{ trial { protocolParameterHistory { version } } }"))["trial"]
    assert trial["protocolParameterHistory"] == [{"version": 1}]
    events = await gql.data(admin, '{ auditEvents(entity: "ProtocolParameters") { edges { node { id } } } }')
    assert events["auditEvents"]["edges"] == []


# --- units ----------------------------------------------------------------------------------------


async def test_counts_sent_per_ul_by_mistake_are_refused_as_unit_suspect(gql, token, site_s01):
    # given
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    end = DAY_1 + timedelta(minutes=30)
    # when: 35,000 (per uL) instead of 35 (x10^9/L)
    with_transfusion = await mutate(
        gql,
        coordinator,
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        {
            "subjectCode": "S01-001",
            "startedAt": iso(DAY_1),
            "endedAt": iso(end),
            "units": [{"contentE11": 3.0}],
            "preCount": {"valueE9PerL": 5.0, "drawnAt": iso(DAY_1 - HOUR)},
            "postCounts": [{"valueE9PerL": 35000.0, "drawnAt": iso(end + timedelta(minutes=30))}],
        },
        "... on InputError { problems { code field } }",
    )
    alone = await mutate(
        gql,
        coordinator,
        "recordPlateletCount",
        "RecordPlateletCountInput",
        {"subjectCode": "S01-001", "valueE9PerL": 25000.0, "drawnAt": iso(DAY_1)},
        "",
    )
    # then
    assert with_transfusion["__typename"] == "InputError"
    assert with_transfusion["code"] == "UNIT_SUSPECT"
    assert with_transfusion["field"] == ["postCounts", "0", "valueE9PerL"]
    assert "35 x10^9/L" in with_transfusion["message"]
    assert with_transfusion["problems"] == [{"code": "UNIT_SUSPECT", "field": ["postCounts", "0", "valueE9PerL"]}]
    assert (alone["code"], alone["field"]) == ("UNIT_SUSPECT", ["valueE9PerL"])
    subject = await gql.data(coordinator, '{ subject(code: "S01-001") { transfusions { id } plateletCounts { id } } }')
    assert subject["subject"] == {"transfusions": [], "plateletCounts": []}


# --- no N+1 ---------------------------------------------------------------------------------------

INVESTIGATOR_VIEW = """{
  subjects(first: 100, siteCodes: ["S01"]) {
    totalCount
    edges { node {
      code
      transfusions { cciEarly cciLate response { category } preCount { count { valueE9PerL } } }
      plateletResponse { sustained }
    } }
  }
}"""

RESPONDERS_VIEW = """{
  subjects(first: 100, sustainedResponse: true) { totalCount edges { node { code plateletResponse { sustained } } } }
}"""

ANALYST_VIEW = """{
  trial {
    primaryEndpoint(population: INFUSED) { subjects responders proportion ciLower ciUpper parameterVersion }
    primaryEndpointBySite(population: PER_PROTOCOL) { site { code } endpoint { subjects responders proportion } }
  }
}"""

T0 = datetime(2026, 1, 20, 10, 0, tzinfo=timezone.utc)


async def insert_cohort(
    sessionmaker: Any, site_ids: dict[str, int], per_site: dict[str, int], first: int, transfusions: int
) -> None:
    """Rows written directly (fast): per site, subjects numbered from `first`, each 180 cm / 80 kg,
    CD19 (and BCMA for even numbers); every third subject's transfusions fail (early 8), the others
    respond; one transfusion every other day after the infusion, with pre, early and late counts."""
    stamps = {"created_at": T0, "updated_at": T0}
    async with sessionmaker() as session, session.begin():
        subjects = [
            m.Subject(
                trial_id=1,
                site_id=site_ids[site],
                code=f"{site}-{n:03d}",
                sex=Sex.MALE,
                year_of_birth=1980,
                age_at_consent=45,
                diagnosis=Diagnosis.ALL,
                remission_status=RemissionStatus.CR1,
                consent_date=date(2026, 1, 2),
                status=SubjectStatus.INFUSED,
                created_at=T0,
                updated_at=T0,
            )
            for site, count in per_site.items()
            for n in range(first, first + count)
        ]
        session.add_all(subjects)
        await session.flush()
        for subject in subjects:
            n = int(subject.code[-3:])
            rows: list[Any] = [
                m.BodyMeasurement(
                    subject_id=subject.id, measured_at=T0 - timedelta(days=5), height_cm=180, weight_kg=80, **stamps
                ),
                m.CarTInfusion(
                    subject_id=subject.id, product=CarTProduct.CD19, infused_at=T0, lot_number="L1", **stamps
                ),
            ]
            if n % 2 == 0:
                rows.append(
                    m.CarTInfusion(
                        subject_id=subject.id,
                        product=CarTProduct.BCMA,
                        infused_at=T0 + timedelta(days=14),
                        lot_number="L2",
                        **stamps,
                    )
                )
            for k in range(transfusions):
                started = T0 + timedelta(days=2 * (k + 1))
                ended = started + timedelta(minutes=30)
                rows.append(
                    m.PlateletTransfusion(
                        subject_id=subject.id,
                        started_at=started,
                        ended_at=ended,
                        units=[{"kind": "apheresis", "content_e11": 3.0, "content_basis": "measured"}],
                        abo_compatibility=AboCompatibility.IDENTICAL,
                        hla_selected=True,
                        crossmatched=False,
                        storage_age_days=3,
                        note=None,
                        **stamps,
                    )
                )
                early = 8.0 if n % 3 == 0 else 35.0
                for drawn, value in ((started - HOUR, 5.0), (ended + HOUR, early), (ended + 20 * HOUR, 25.0)):
                    rows.append(m.PlateletCount(subject_id=subject.id, drawn_at=drawn, value_e9_per_l=value, **stamps))
            session.add_all(rows)


async def insert_sites(sessionmaker: Any) -> dict[str, int]:
    async with sessionmaker() as session, session.begin():
        sites = [m.Site(trial_id=1, code=code, name=f"Site {code}", created_at=T0) for code in ("S01", "S02")]
        session.add_all(sites)
        await session.flush()
        return {s.code: s.id for s in sites}


async def count_statements(gql: Any, sql_statements: Any, auth: str, query: str) -> tuple[int, dict[str, Any]]:
    before = sql_statements.count
    data = await gql.data(auth, query)
    return sql_statements.count - before, data


async def test_site_view_and_endpoint_statement_counts_do_not_grow_with_the_cohort(
    app, gql, token, sql_statements, database_url
):
    """The investigator's view of a site (all its subjects with their transfusions, CCIs and
    responses) and the analyst's endpoint query run a number of SQL statements that does not grow
    with the number of subjects or transfusions."""
    # given: 3 subjects x 3 transfusions at S01 (and 1 at S02), written around the services, then
    # their responses stored (as `ptr-trial refresh-responses` does)
    sessionmaker = app.state.sessionmaker
    investigator, analyst = token("investigator", "S01"), token("analyst")
    sites = await insert_sites(sessionmaker)
    await insert_cohort(sessionmaker, sites, {"S01": 3, "S02": 1}, first=1, transfusions=3)
    # warm-up: connections, dialect set-up, and the protocol versions the process keeps (PostgreSQL)
    await gql.data(analyst, "{ trial { protocolParameters { version } } }")
    small_live = [await count_statements(gql, sql_statements, analyst, q) for q in (ANALYST_VIEW, RESPONDERS_VIEW)]
    await refresh_all(app)
    # when
    small_site, small_site_data = await count_statements(gql, sql_statements, investigator, INVESTIGATOR_VIEW)
    small_endpoint, small_endpoint_data = await count_statements(gql, sql_statements, analyst, ANALYST_VIEW)
    small_filter, _ = await count_statements(gql, sql_statements, analyst, RESPONDERS_VIEW)
    # given: grown to 30 subjects x 12 transfusions at S01 (and 10 at S02)
    await insert_cohort(sessionmaker, sites, {"S01": 27, "S02": 9}, first=4, transfusions=12)
    await clear_stored(app)  # all evaluated live again, as in the small cohort
    large_site_live, large_site_live_data = await count_statements(gql, sql_statements, investigator, INVESTIGATOR_VIEW)
    large_live = [await count_statements(gql, sql_statements, analyst, q) for q in (ANALYST_VIEW, RESPONDERS_VIEW)]
    await refresh_all(app)
    # when
    large_site, large_site_data = await count_statements(gql, sql_statements, investigator, INVESTIGATOR_VIEW)
    large_endpoint, large_endpoint_data = await count_statements(gql, sql_statements, analyst, ANALYST_VIEW)
    large_filter, large_filter_data = await count_statements(gql, sql_statements, analyst, RESPONDERS_VIEW)
    # then: the data really grew and was evaluated
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    print(
        f"\n[{backend}] statements, small -> large cohort: site view {small_site} -> {large_site};"
        f" endpoint {small_endpoint} -> {large_endpoint}; sustainedResponse filter {small_filter} -> {large_filter};"
        f" evaluated live (no stored rows): site view {large_site_live}, endpoint {small_live[0][0]} ->"
        f" {large_live[0][0]}, filter {small_live[1][0]} -> {large_live[1][0]}"
    )
    small_nodes = [e["node"] for e in small_site_data["subjects"]["edges"]]
    large_nodes = [e["node"] for e in large_site_data["subjects"]["edges"]]
    assert (small_site_data["subjects"]["totalCount"], len(small_nodes)) == (3, 3)
    assert (large_site_data["subjects"]["totalCount"], len(large_nodes)) == (30, 30)
    assert sum(len(n["transfusions"]) for n in large_nodes) == 3 * 3 + 27 * 12
    s01_003 = next(n for n in large_nodes if n["code"] == "S01-003")
    s01_004 = next(n for n in large_nodes if n["code"] == "S01-004")
    assert s01_003["transfusions"][0] == {
        "cciEarly": 2000.0,
        "cciLate": pytest.approx(40000 / 3),
        "response": {"category": "NON_RESPONSIVE"},
        "preCount": {"count": {"valueE9PerL": 5.0}},
    }
    assert s01_003["plateletResponse"] == {"sustained": False}
    assert s01_004["transfusions"][-1]["response"] == {"category": "RESPONSIVE"}
    assert s01_004["plateletResponse"] == {"sustained": True}
    # infused: every subject (S01-001..030, S02-001 and 004..012); responders: numbers not divisible by 3
    assert small_endpoint_data["trial"]["primaryEndpoint"]["subjects"] == 4
    large = large_endpoint_data["trial"]["primaryEndpoint"]
    assert (large["subjects"], large["responders"]) == (40, 20 + 7)
    by_site = {r["site"]["code"]: r["endpoint"] for r in large_endpoint_data["trial"]["primaryEndpointBySite"]}
    assert (by_site["S01"]["subjects"], by_site["S01"]["responders"]) == (15, 10)  # even numbers 2..30
    assert (by_site["S02"]["subjects"], by_site["S02"]["responders"]) == (5, 3)  # 4, 6, 8, 10, 12
    assert large_filter_data["subjects"]["totalCount"] == 27
    assert all(e["node"]["plateletResponse"]["sustained"] for e in large_filter_data["subjects"]["edges"])
    # then: stored and live give the same answers
    assert large_site_live_data == large_site_data
    assert (large_live[0][1], large_live[1][1]) == (large_endpoint_data, large_filter_data)
    # then: the statement counts
    assert large_site == small_site
    assert large_endpoint == small_endpoint
    assert large_filter == small_filter
    assert max(large_site, large_endpoint, large_filter) <= 10
    assert (large_live[0][0], large_live[1][0]) == (small_live[0][0], small_live[1][0])
    assert large_site_live <= large_site + 5  # live: transfusions, counts, measurements, therapies, procedures
