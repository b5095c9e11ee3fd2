"""Before vs after CAR-T and time to event over HTTP, on a small cohort computed by hand
(DOMAIN.md, "What the trial asks beyond the primary endpoint"), on both backends.

World (every record through the API): CD19 CAR-T on 2026-02-07 10:00 UTC for everyone infused,
so the baseline is 2026-01-08..2026-02-06 (days -30..-1) and the follow-up starts 2026-03-08
(day 29). Each infused subject's last record is a body measurement on 2026-04-06 08:00 (day 58):
30 follow-up days under follow-up, so "per 30 days" is the count itself.

    S01-001 (A)  baseline 3 transfusions (one evaluable: N), follow-up 1 (R); diary in both periods
    S01-002 (B)  baseline 4, follow-up 1
    S01-003 (C)  baseline 2, follow-up 2            (a zero difference)
    S01-004 (D)  baseline 2, follow-up 3; BCMA on day 14 (the only per-protocol subject)
    S01-005 (E)  enrolled, never infused            (beforeAfter null, in no population)
    S02-001 (F)  at site S02: infusion and the last measurement only
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from tests.api import fixtures_data as fx

INFUSED_AT = "2026-02-07T10:00:00Z"
LAST_RECORD = "2026-04-06T08:00:00Z"
BSA = math.sqrt(170 * 65 / 3600)  # Mosteller, the fixtures' 170 cm / 65 kg
DOSE = 3.2  # x10^11, the fixtures' unit
MONTH = 30.4375

BASELINE_DAYS = {
    "S01-001": ["2026-01-20", "2026-01-25", "2026-02-01"],
    "S01-002": ["2026-01-10", "2026-01-15", "2026-01-20", "2026-01-30"],
    "S01-003": ["2026-01-12", "2026-02-05"],
    "S01-004": ["2026-01-09", "2026-02-06"],
}
FOLLOW_UP_DAYS = {
    "S01-001": ["2026-03-20"],
    "S01-002": ["2026-03-09"],
    "S01-003": ["2026-03-10", "2026-04-01"],
    "S01-004": ["2026-03-08", "2026-03-15", "2026-04-05"],
}
PERIODS = "period { label firstDate lastDate firstStudyDay lastStudyDay daysInPeriod daysUnderFollowUp lastStudyDayUnderFollowUp }"
INCREMENT = "plateletIncrement { transfusions evaluableTransfusions responsiveTransfusions medianCciEarlyPerUl cciEarlyCount medianCciLatePerUl cciLateCount shareResponsive rule parameterVersion }"
BURDEN = "transfusionBurden { daysUnderFollowUp transfusions units transfusionsPer30Days unitsPer30Days rule parameterVersion }"
BLEEDING = "bleeding { daysUnderFollowUp daysObserved daysGrade2OrMore daysGrade2OrMoreConfirmed proportionGrade2OrMore worstGrade adherence gradeSource rule parameterVersion }"
BEFORE_AFTER = f"""
query($code: String!) {{
  subject(code: $code) {{
    beforeAfter {{
      firstInfusionAt lastFollowUpAt lastFollowUpRule daysToFirstGrade2Bleed daysToFirstGrade2BleedRule rule
      parameterVersion
      baseline {{ {PERIODS} {INCREMENT} {BURDEN} {BLEEDING} }}
      followUp {{ {PERIODS} {INCREMENT} {BURDEN} {BLEEDING} }}
    }}
  }}
}}"""
COMPARISON = """
query($measure: BeforeAfterMeasure!, $siteCodes: [String!], $population: EndpointPopulation) {
  trial {
    beforeAfterComparison(measure: $measure, siteCodes: $siteCodes, population: $population) {
      measure population unit measureRule subjects pairs medianBaseline medianFollowUp medianDifference
      hodgesLehmann wilcoxonStatistic wPlus wMinus pValue differencesRanked zeroDifferencesDropped hasTies
      zeroHandling periods rule wilcoxonRule hodgesLehmannRule parameterVersion
      values { subjectCode baseline followUp difference }
    }
  }
}"""
TIME_TO_EVENT = """
query($event: TimeToEventKind!, $siteCodes: [String!], $population: EndpointPopulation) {
  trial {
    timeToEvent(event: $event, siteCodes: $siteCodes, population: $population) {
      event population analysed eventDefinition subjects events censored medianMonths medianCiLowerMonths
      medianCiUpperMonths confidenceLevel atRisk { month subjects }
      curve { timeMonths survival ciLower ciUpper atRisk events censored }
      subjectTimes { subjectCode months event } censoring lastFollowUpRule rule timeRule parameterVersion
    }
  }
}"""
SUBMIT = """
mutation($input: SubmitBleedingReportInput!) {
  submitBleedingReport(input: $input) {
    __typename ... on BleedingReportAccepted { report { id adverseEvents { id } } }
  }
}"""
REVIEW = """
mutation($input: ReviewAdverseEventInput!) {
  reviewAdverseEvent(input: $input) { __typename }
}"""
MEASURES = [
    "MEDIAN_CCI_EARLY",
    "MEDIAN_CCI_LATE",
    "SHARE_RESPONSIVE",
    "TRANSFUSIONS_PER_30_DAYS",
    "UNITS_PER_30_DAYS",
    "BLEEDING_GRADE2_PROPORTION",
]
KINDS = ["FIRST_RESPONSE", "LOSS_OF_RESPONSE", "B_CELL_APLASIA", "HLA_CLEARANCE"]


def cci(pre: float, post: float) -> float:
    """DOMAIN.md: (post - pre) x10^9/L x 1000 x BSA / dose x10^11."""
    return (post - pre) * 1000 * BSA / DOSE


async def transfuse(
    gql: Any, admin: str, code: str, day: str, counts: tuple[float, float, float] | None = None
) -> None:
    """A transfusion 08:00-08:30 UTC on `day`; with counts: pre at 07:00, early at 09:00 (30 min after
    the end), late at 04:30 the next day (20 h after the end)."""
    await fx.record_transfusion(gql, admin, code, f"{day}T08:00:00Z", f"{day}T08:30:00Z")
    if counts:
        pre, early, late = counts
        next_day = f"{day[:8]}{int(day[8:]) + 1:02d}"
        await fx.record_count(gql, admin, code, pre, f"{day}T07:00:00Z")
        await fx.record_count(gql, admin, code, early, f"{day}T09:00:00Z")
        await fx.record_count(gql, admin, code, late, f"{next_day}T04:30:00Z")


async def diary(gql: Any, patient: str, day: str, symptoms: list[dict[str, Any]]) -> dict[str, Any]:
    """A report (or, without symptoms, a 'no bleeding today' check-in) noticed at 18:00 UTC, phone at UTC."""
    values = {
        "clientReportId": str(uuid.uuid4()),
        "noticedAt": f"{day}T18:00:00Z",
        "deviceEnteredAt": f"{day}T18:01:00Z",
        "symptoms": symptoms,
        "kind": "SYMPTOMS" if symptoms else "NO_BLEEDING",
    }
    result = (await gql.data(patient, SUBMIT, {"input": values}))["submitBleedingReport"]
    assert result["__typename"] == "BleedingReportAccepted", result
    return result["report"]


@pytest.fixture
async def cohort(gql: Any, token: Any) -> dict[str, str]:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.create_site(gql, admin, "S02")
    for code, site in [(f"S01-00{n}", "S01") for n in range(1, 6)] + [("S02-001", "S02")]:
        await fx.enroll_subject(gql, admin, code, site)
    for code in ("S01-001", "S01-002", "S01-003", "S01-004", "S02-001"):
        await fx.record_measurement(gql, admin, code, "2026-01-01T08:00:00Z")
        await fx.record_infusion(gql, admin, code, "CD19", INFUSED_AT)
        await fx.record_measurement(gql, admin, code, LAST_RECORD)
    await fx.record_infusion(gql, admin, "S01-004", "BCMA", "2026-02-21T10:00:00Z")
    for code, days in BASELINE_DAYS.items():
        for n, day in enumerate(days):
            counted = code == "S01-001" and n == 0
            await transfuse(gql, admin, code, day, (5.0, 10.0, 8.0) if counted else None)
    for code, days in FOLLOW_UP_DAYS.items():
        for day in days:
            await transfuse(gql, admin, code, day, (5.0, 35.0, 30.0) if code == "S01-001" else None)
    patient = token("patient", subject="S01-001")
    # baseline: a check-in, then a 45-minute nosebleed (WHO 2); follow-up: two check-ins and a small
    # bruise (WHO 1); day 3 (in neither period): a 45-minute nosebleed, confirmed by the investigator
    await diary(gql, patient, "2026-01-25", [])
    await diary(gql, patient, "2026-01-26", [{"site": "NOSE", "durationMinutes": 45}])
    await diary(gql, patient, "2026-03-10", [])
    await diary(gql, patient, "2026-03-11", [])
    await diary(gql, patient, "2026-03-12", [{"site": "BRUISE", "sizeCm": 1.0}])
    day3 = await diary(gql, patient, "2026-02-10", [{"site": "NOSE", "durationMinutes": 45}])
    investigator = token("investigator", "S01", sub="inv-1")
    for event in day3["adverseEvents"]:
        review = {"id": event["id"], "decision": "CONFIRM", "reason": "seen in clinic"}
        assert (await gql.data(investigator, REVIEW, {"input": review}))["reviewAdverseEvent"]["__typename"] == (
            "AdverseEventSuccess"
        )
    return {
        "admin": admin,
        "analyst": token("analyst"),
        "coordinator": token("coordinator", "S01"),
        "monitor2": token("monitor", "S02"),
    }


async def before_after(gql: Any, auth: str, code: str) -> Any:
    return (await gql.data(auth, BEFORE_AFTER, {"code": code}))["subject"]["beforeAfter"]


async def comparison(gql: Any, auth: str, measure: str, **args: Any) -> dict[str, Any]:
    return (await gql.data(auth, COMPARISON, {"measure": measure, **args}))["trial"]["beforeAfterComparison"]


async def time_to_event(gql: Any, auth: str, event: str, **args: Any) -> dict[str, Any]:
    return (await gql.data(auth, TIME_TO_EVENT, {"event": event, **args}))["trial"]["timeToEvent"]


# --- per subject ---------------------------------------------------------------------------------------


async def test_a_subject_as_their_own_control(gql: Any, cohort: dict[str, str]) -> None:
    # when
    result = await before_after(gql, cohort["analyst"], "S01-001")
    # then: the periods, named and clipped at the last record (day 58)
    assert result["firstInfusionAt"].startswith("2026-02-07T10:00:00")
    assert result["lastFollowUpAt"].startswith("2026-04-06T08:00:00")
    base, follow = result["baseline"], result["followUp"]
    assert base["period"] == {
        "label": "baseline",
        "firstDate": "2026-01-08",
        "lastDate": "2026-02-06",
        "firstStudyDay": -30,
        "lastStudyDay": -1,
        "daysInPeriod": 30,
        "daysUnderFollowUp": 30,
        "lastStudyDayUnderFollowUp": -1,
    }
    assert follow["period"] == {
        "label": "follow_up",
        "firstDate": "2026-03-08",
        "lastDate": "2027-02-07",
        "firstStudyDay": 29,
        "lastStudyDay": 365,
        "daysInPeriod": 337,
        "daysUnderFollowUp": 30,
        "lastStudyDayUnderFollowUp": 58,
    }
    # platelet increment: baseline N (early 5 -> 10, late 5 -> 8), follow-up R (5 -> 35, 5 -> 30)
    assert base["plateletIncrement"]["transfusions"] == 3
    assert base["plateletIncrement"]["evaluableTransfusions"] == 1
    assert base["plateletIncrement"]["medianCciEarlyPerUl"] == pytest.approx(cci(5, 10))
    assert base["plateletIncrement"]["medianCciLatePerUl"] == pytest.approx(cci(5, 8))
    assert base["plateletIncrement"]["shareResponsive"] == 0.0
    assert follow["plateletIncrement"]["medianCciEarlyPerUl"] == pytest.approx(cci(5, 35))
    assert follow["plateletIncrement"]["medianCciLatePerUl"] == pytest.approx(cci(5, 30))
    assert (follow["plateletIncrement"]["cciEarlyCount"], follow["plateletIncrement"]["shareResponsive"]) == (1, 1.0)
    # transfusion burden per 30 days: 3 in 30 days, then 1 in 30 days under follow-up
    assert (base["transfusionBurden"]["transfusions"], base["transfusionBurden"]["units"]) == (3, 3)
    assert base["transfusionBurden"]["transfusionsPer30Days"] == pytest.approx(3.0)
    assert follow["transfusionBurden"]["unitsPer30Days"] == pytest.approx(1.0)
    # bleeding: baseline 2 observed days, one grade 2; follow-up 3 observed, worst grade 1
    assert {k: base["bleeding"][k] for k in ("daysObserved", "daysGrade2OrMore", "worstGrade")} == {
        "daysObserved": 2,
        "daysGrade2OrMore": 1,
        "worstGrade": 2,
    }
    assert base["bleeding"]["proportionGrade2OrMore"] == pytest.approx(0.5)
    assert base["bleeding"]["adherence"] == pytest.approx(2 / 30)
    assert base["bleeding"]["daysGrade2OrMoreConfirmed"] == 0  # its event is still pending review
    assert follow["bleeding"]["proportionGrade2OrMore"] == 0.0
    assert (follow["bleeding"]["worstGrade"], follow["bleeding"]["adherence"]) == (1, pytest.approx(3 / 30))
    assert "provisional" in follow["bleeding"]["gradeSource"]
    # the confirmed day-3 nosebleed is the first grade >= 2 after the infusion
    assert result["daysToFirstGrade2Bleed"] == 3
    # every block names its rule and the parameter version
    for block in (base["plateletIncrement"], base["transfusionBurden"], base["bleeding"]):
        assert block["rule"] and block["parameterVersion"] == 1
    assert result["rule"].startswith("period-v1") and result["lastFollowUpRule"].startswith("last-follow-up-v1")


async def test_a_subject_without_infusion_has_no_before_after(gql: Any, cohort: dict[str, str]) -> None:
    assert await before_after(gql, cohort["analyst"], "S01-005") is None


# --- cohort comparison ---------------------------------------------------------------------------------


async def test_transfusions_per_30_days_before_and_after(gql: Any, cohort: dict[str, str]) -> None:
    # when
    result = await comparison(gql, cohort["analyst"], "TRANSFUSIONS_PER_30_DAYS", siteCodes=["S01"])
    # then: differences A -2, B -3, C 0, D +1 (per 30 days)
    assert [(v["subjectCode"], v["difference"]) for v in result["values"]] == [
        ("S01-001", -2.0),
        ("S01-002", -3.0),
        ("S01-003", 0.0),
        ("S01-004", 1.0),
    ]
    assert (result["subjects"], result["pairs"]) == (4, 4)
    assert (result["medianBaseline"], result["medianFollowUp"], result["medianDifference"]) == (2.5, 1.5, -1.0)
    # Walsh averages of (-2, -3, 0, 1): -3 -2.5 -2 -1.5 -1 -1 -0.5 0 0.5 1 -> median -1
    assert result["hodgesLehmann"] == -1.0
    # zero dropped; |d| 1, 2, 3 ranked 1, 2, 3; W+ = 1, W- = 5; P(W+ <= 1) = 2/8 -> p = 0.5
    assert (result["zeroDifferencesDropped"], result["differencesRanked"], result["hasTies"]) == (1, 3, False)
    assert (result["wPlus"], result["wMinus"], result["wilcoxonStatistic"]) == (1.0, 5.0, 1.0)
    assert result["pValue"] == 0.5
    assert "dropped" in result["zeroHandling"] and "kept" in result["zeroHandling"]
    assert result["unit"] == "platelet transfusions per 30 days"
    assert "-30..-1" in result["periods"] and "29..365" in result["periods"]
    assert result["parameterVersion"] == 1 and result["population"] == "INFUSED"


async def test_the_analyst_sees_every_site_and_the_population_narrows(gql: Any, cohort: dict[str, str]) -> None:
    # when
    everyone = await comparison(gql, cohort["analyst"], "UNITS_PER_30_DAYS")
    per_protocol = await comparison(gql, cohort["analyst"], "UNITS_PER_30_DAYS", population="PER_PROTOCOL")
    # then: S02-001 has no transfusion: 0 per 30 days in both periods, a zero difference
    assert (everyone["subjects"], everyone["pairs"], everyone["zeroDifferencesDropped"]) == (5, 5, 2)
    assert [v["subjectCode"] for v in per_protocol["values"]] == ["S01-004"]
    assert (per_protocol["pairs"], per_protocol["medianDifference"], per_protocol["pValue"]) == (1, 1.0, 1.0)


async def test_increment_needs_a_value_in_both_periods(gql: Any, cohort: dict[str, str]) -> None:
    # when
    result = await comparison(gql, cohort["analyst"], "MEDIAN_CCI_EARLY")
    # then: only S01-001 has evaluable transfusions in both periods
    assert (result["subjects"], result["pairs"]) == (5, 1)
    assert result["medianDifference"] == pytest.approx(cci(5, 35) - cci(5, 10), abs=1e-6)
    assert result["unit"] == "per uL"
    assert result["values"][1] == {"subjectCode": "S01-002", "baseline": None, "followUp": None, "difference": None}


@pytest.mark.parametrize(("role", "sites", "expected"), [("coordinator", ["S02"], 0), ("monitor2", ["S01"], 0)])
async def test_a_site_you_cannot_see_adds_no_subject(
    gql: Any, cohort: dict[str, str], role: str, sites: list[str], expected: int
) -> None:
    # when
    result = await comparison(gql, cohort[role], "TRANSFUSIONS_PER_30_DAYS", siteCodes=sites)
    events = await time_to_event(gql, cohort[role], "FIRST_RESPONSE", siteCodes=sites)
    # then: empty, as bCellAplasiaAt answers for such a site
    assert (result["subjects"], result["pairs"], result["pValue"], result["values"]) == (expected, 0, None, [])
    assert (events["subjects"], events["medianMonths"], events["curve"]) == (0, None, [])


async def test_a_coordinator_sees_only_their_sites(gql: Any, cohort: dict[str, str]) -> None:
    result = await comparison(gql, cohort["coordinator"], "UNITS_PER_30_DAYS")
    assert [v["subjectCode"] for v in result["values"]] == ["S01-001", "S01-002", "S01-003", "S01-004"]


# --- time to event ---------------------------------------------------------------------------------------


async def test_time_to_first_response(gql: Any, cohort: dict[str, str]) -> None:
    # when
    result = await time_to_event(gql, cohort["analyst"], "FIRST_RESPONSE")
    # then: S01-001 responds at its 2026-03-20 08:00 transfusion (40 d 22 h); the other four are
    # censored at their last record, 2026-04-06 08:00 (57 d 22 h)
    event = (40 + 22 / 24) / MONTH
    censored = (57 + 22 / 24) / MONTH
    assert (result["subjects"], result["events"], result["censored"]) == (5, 1, 4)
    times = {t["subjectCode"]: (t["months"], t["event"]) for t in result["subjectTimes"]}
    assert times["S01-001"] == (pytest.approx(event), True)
    assert times["S02-001"] == (pytest.approx(censored), False)
    first, last = result["curve"]
    assert (first["timeMonths"], first["survival"], first["atRisk"], first["events"]) == (
        pytest.approx(event),
        pytest.approx(0.8),
        5,
        1,
    )
    # log-log band: S^exp(+-z sqrt(Greenwood sum) / |log S|), Greenwood sum 1 / (5 x 4)
    spread = math.exp(1.959963984540054 * math.sqrt(1 / 20) / abs(math.log(0.8)))
    assert first["ciLower"] == pytest.approx(0.8**spread) and first["ciUpper"] == pytest.approx(0.8 ** (1 / spread))
    assert (last["survival"], last["atRisk"], last["censored"]) == (pytest.approx(0.8), 4, 4)
    assert result["medianMonths"] is None and result["medianCiUpperMonths"] is None
    assert result["atRisk"] == [
        {"month": 1.0, "subjects": 5},
        {"month": 3.0, "subjects": 0},
        {"month": 6.0, "subjects": 0},
        {"month": 12.0, "subjects": 0},
    ]
    assert "month 12" in result["censoring"] and "30.4375" in result["timeRule"]


async def test_kinds_without_anyone_to_analyse_are_empty(gql: Any, cohort: dict[str, str]) -> None:
    # no sustained responder, no B-cell draw, no HLA antibody test
    for kind in ("LOSS_OF_RESPONSE", "B_CELL_APLASIA", "HLA_CLEARANCE"):
        result = await time_to_event(gql, cohort["analyst"], kind)
        assert (result["subjects"], result["events"], result["curve"], result["medianMonths"]) == (0, 0, [], None)
        assert [a["subjects"] for a in result["atRisk"]] == [0, 0, 0, 0]


# --- bad input ---------------------------------------------------------------------------------------------


async def test_a_trial_without_infusions_gives_empty_results(gql: Any, token: Any) -> None:
    # given: a subject enrolled, nothing infused
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.enroll_subject(gql, admin, "S01-001", "S01")
    # when / then: zero everywhere, never an error
    for measure in MEASURES:
        result = await comparison(gql, admin, measure)
        assert (result["subjects"], result["pairs"], result["medianDifference"], result["pValue"]) == (0, 0, None, None)
    for kind in KINDS:
        result = await time_to_event(gql, admin, kind)
        assert (result["subjects"], result["events"], result["curve"]) == (0, 0, [])
    assert await before_after(gql, admin, "S01-001") is None


async def test_an_unknown_population_measure_or_kind_is_refused(client: Any, token: Any) -> None:
    cases = [
        (COMPARISON, {"measure": "MEDIAN_CCI_EARLY", "population": "EVERYONE"}, "EVERYONE"),
        (COMPARISON, {"measure": "MEAN_CCI"}, "MEAN_CCI"),
        (TIME_TO_EVENT, {"event": "DEATH"}, "DEATH"),
    ]
    for query, variables, bad in cases:
        # when
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token('analyst')}"},
        )
        # then: refused before execution, naming the value; no data, never a 500
        assert response.status_code in (200, 400)
        body = response.json()
        assert body.get("data") is None
        assert bad in body["errors"][0]["message"]


AMEND = """
mutation($input: AmendProtocolParametersInput!) {
  amendProtocolParameters(input: $input) {
    __typename
    ... on ProtocolParametersSuccess { protocolParameters { version baselineDays followUpFromDay followUpToDay } }
    ... on InputError { problems { code field message } }
  }
}"""


async def test_periods_that_end_before_they_start_are_refused(gql: Any, token: Any) -> None:
    # when
    refused = await gql.data(
        token("admin"),
        AMEND,
        {"input": {"effectiveFrom": "2026-01-01", "reason": "typo", "followUpFromDay": 90, "followUpToDay": 60}},
    )
    # then: a typed error naming the field; nothing amended
    result = refused["amendProtocolParameters"]
    assert result["__typename"] == "InputError"
    assert [(p["code"], p["field"]) for p in result["problems"]] == [("OUT_OF_RANGE", ["followUpToDay"])]
    current = await gql.data(token("admin"), "{ trial { protocolParameters { version baselineDays followUpToDay } } }")
    assert current["trial"]["protocolParameters"] == {"version": 1, "baselineDays": 30, "followUpToDay": 365}


async def test_amended_periods_apply_with_their_version(gql: Any, cohort: dict[str, str]) -> None:
    # given: a 14-day baseline from version 2
    amended = await gql.data(
        cohort["admin"],
        AMEND,
        {"input": {"effectiveFrom": "2026-01-01", "reason": "amendment 2: shorter baseline", "baselineDays": 14}},
    )
    assert amended["amendProtocolParameters"]["protocolParameters"]["baselineDays"] == 14
    # when
    result = await before_after(gql, cohort["analyst"], "S01-001")
    # then: days -14..-1 (2026-01-24..2026-02-06) hold the 2026-01-25 and 2026-02-01 transfusions
    assert result["parameterVersion"] == 2 and result["baseline"]["period"]["firstStudyDay"] == -14
    assert result["baseline"]["transfusionBurden"]["transfusions"] == 2
    assert result["baseline"]["transfusionBurden"]["transfusionsPer30Days"] == pytest.approx(2 * 30 / 14)
