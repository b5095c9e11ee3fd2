"""Lab results and secondary outcomes over HTTP (DOMAIN.md "CTCAE v5.0 grading of lab values",
"Secondary outcomes"): recordLabResults (explicit unit conversion, all-or-nothing batches, idempotent
rows, platelet counts in the table the response engine reads, CTCAE grades and lab-sourced adverse
events), recordAntibodyTest, who may write and read lab data, and the derived values (CAR-T
kinetics, B cells, IgG, marrow plasma cells, HLA/HPA clearance, cohort summaries) checked against
numbers worked out by hand.

World: sites S01 and S02; S01-001 and S01-002 at S01, S02-001 at S02, all enrolled; infusions are
recorded per test (CD19 2026-02-07 10:00 UTC, BCMA 2026-02-21 10:00 UTC)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from . import fixtures_data as fx

A, B, C = "S01-001", "S01-002", "S02-001"
CD19_AT = datetime(2026, 2, 7, 10, 0, tzinfo=timezone.utc)
BCMA_AT = datetime(2026, 2, 21, 10, 0, tzinfo=timezone.utc)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)

NEUTROPHIL_TERM, NEUTROPHIL_CODE = "Neutrophil count decreased", 10029366
PLATELET_TERM, PLATELET_CODE = "Platelet count decreased", 10035528

ERRORS = "... on UserError { code message field } ... on InputError { problems { code field message } }"
LAB_FIELDS = """
  id analyte specimen collectedAt value unit valueReported unitReported lln uln lloq belowLimit labName assay
  ctcaeGrade { grade term meddraCode version rule }
"""
RECORD = f"""mutation($input: RecordLabResultsInput!) {{
  recordLabResults(input: $input) {{
    __typename
    ... on LabResultsRecorded {{ created alreadyPresent results {{ {LAB_FIELDS} }} proposedAdverseEventIds }}
    {ERRORS}
  }}
}}"""
ANTIBODY_FIELDS = """
  id collectedAt antibodyClass method kit lot cutoffMfi cutoffOperator cpraPercent
  results { specificity mfi positive }
"""
RECORD_ANTIBODY = f"""mutation($input: RecordAntibodyTestInput!) {{
  recordAntibodyTest(input: $input) {{
    __typename ... on AntibodyTestSuccess {{ antibodyTest {{ {ANTIBODY_FIELDS} }} }} {ERRORS}
  }}
}}"""
LABS = f"""query($code: String!, $analytes: [Analyte!]) {{
  subject(code: $code) {{ labResults(analytes: $analytes) {{ {LAB_FIELDS} }} }}
}}"""
EVENTS = """query($code: String!) {
  subject(code: $code) { adverseEvents { id meddraCode term grade gradingScale source status onsetDate resolutionDate } }
}"""
CLEARANCE_FIELDS = """
  classes baselinePositive specificities { specificity clearedAt } clearedAt
  summedMfi { collectedAt summedMfi } summedMfiReductionPercent
"""


# --- helpers -------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def lab(code: str, analyte: str, value: float | None, unit: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"subjectCode": code, "analyte": analyte, "value": value, "unit": unit, "collectedAt": iso(at), **extra}


async def record(gql: Any, token: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return (await gql.data(token, RECORD, {"input": {"results": rows}}))["recordLabResults"]


async def recorded(gql: Any, token: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    result = await record(gql, token, rows)
    assert result["__typename"] == "LabResultsRecorded", result
    return result


def problems(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    assert result["__typename"] == "InputError", result
    return [(p["code"], p["field"]) for p in result["problems"]]


async def labs_of(gql: Any, token: str, code: str, analytes: list[str] | None = None) -> list[dict[str, Any]]:
    return (await gql.data(token, LABS, {"code": code, "analytes": analytes}))["subject"]["labResults"]


async def events_of(gql: Any, token: str, code: str) -> list[dict[str, Any]]:
    return (await gql.data(token, EVENTS, {"code": code}))["subject"]["adverseEvents"]


async def infuse(gql: Any, admin: str, code: str, product: str = "CD19") -> None:
    await fx.record_infusion(gql, admin, code, product, iso(CD19_AT if product == "CD19" else BCMA_AT))


async def antibody_test(gql: Any, token: str, **fields: Any) -> dict[str, Any]:
    return (await gql.data(token, RECORD_ANTIBODY, {"input": fields}))["recordAntibodyTest"]


def bead_test(code: str, at: datetime, mfis: dict[str, float], klass: str = "HLA_CLASS_I") -> dict[str, Any]:
    return {
        "subjectCode": code,
        "collectedAt": iso(at),
        "antibodyClass": klass,
        "method": "SINGLE_ANTIGEN_BEADS",
        "kit": "LABScreen Single Antigen",
        "lot": "LOT-7",
        "results": [{"specificity": s, "mfi": m} for s, m in mfis.items()],
    }


async def record_beads(gql: Any, admin: str, code: str, at: datetime, mfis: dict[str, float], **kw: Any) -> None:
    result = await antibody_test(gql, admin, **bead_test(code, at, mfis, **kw))
    assert result["__typename"] == "AntibodyTestSuccess", result


def utc(y: int, m: int, d: int, h: int = 8) -> datetime:
    return datetime(y, m, d, h, 0, tzinfo=timezone.utc)


@pytest.fixture
async def world(gql: Any, token: Any) -> str:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.create_site(gql, admin, "S02")
    for code, site in ((A, "S01"), (B, "S01"), (C, "S02")):
        await fx.enroll_subject(gql, admin, code, site)
    return admin


# --- recording: conversion, all-or-nothing, idempotence ------------------------------------------


async def test_a_good_batch_is_converted_explicitly_and_keeps_what_the_lab_sent(
    gql: Any, token: Any, world: str, app: Any
) -> None:
    # given
    coordinator = token("coordinator", "S01")
    before = await fx.table_row_counts(app)
    batch = [
        lab(A, "IGG", 5.5, "G_PER_L", T0, lln=7.0, labName="Central lab", assay="nephelometry"),
        lab(A, "NEUTROPHILS", 0.4, "E9_PER_L", T0, lln=1.8),
        lab(A, "PLATELETS", 20000, "PER_UL", T0, lln=150000),
        lab(A, "HEMOGLOBIN", 95, "G_PER_L", T0, lln=120),
    ]

    # when
    result = await recorded(gql, coordinator, batch)

    # then: every value is in its analyte's canonical unit, the reported one kept beside it
    assert (result["created"], result["alreadyPresent"]) == (4, 0)
    by_analyte = {r["analyte"]: r for r in result["results"]}
    got = {a: (r["value"], r["unit"], r["valueReported"], r["unitReported"], r["lln"]) for a, r in by_analyte.items()}
    assert got["IGG"] == (550.0, "MG_PER_DL", 5.5, "G_PER_L", 700.0)
    assert got["NEUTROPHILS"] == (400.0, "PER_UL", 0.4, "E9_PER_L", 1800.0)
    assert got["HEMOGLOBIN"] == (9.5, "G_PER_DL", 95.0, "G_PER_L", 12.0)
    assert got["PLATELETS"][:2] == (20.0, "E9_PER_L") and got["PLATELETS"][4] == 150.0
    assert by_analyte["IGG"]["labName"] == "Central lab" and by_analyte["IGG"]["assay"] == "nephelometry"
    grades = {a: (r["ctcaeGrade"] or {}).get("grade") for a, r in by_analyte.items()}
    assert grades == {"IGG": None, "NEUTROPHILS": 4, "PLATELETS": 4, "HEMOGLOBIN": 2}
    # the platelet count is one of the subject's platelet counts (the table the response engine reads)
    counts = await gql.data(
        coordinator, "query($c: String!) { subject(code: $c) { plateletCounts { valueE9PerL valuePerUl } } }", {"c": A}
    )
    assert counts["subject"]["plateletCounts"] == [{"valueE9PerL": 20.0, "valuePerUl": 20000.0}]
    # two grade-4 results proposed two lab-sourced events
    assert len(result["proposedAdverseEventIds"]) == 2
    after = await fx.table_row_counts(app)
    changed = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    assert changed == {"lab_result": 3, "platelet_count": 1, "adverse_event": 2, "audit_event": 6}


async def test_the_same_batch_twice_writes_nothing_the_second_time(gql: Any, token: Any, world: str, app: Any) -> None:
    # given
    coordinator = token("coordinator", "S01")
    batch = [
        lab(A, "IGG", 800, "MG_PER_DL", T0),
        lab(A, "PLATELETS", 12, "E9_PER_L", T0),
        lab(A, "LYMPHOCYTES", 1.2, "E9_PER_L", T0),
        lab(B, "IGG", 650, "MG_PER_DL", T0),
    ]
    await recorded(gql, coordinator, batch)
    before = await fx.table_row_counts(app)

    # when: the same batch again (platelets given per uL this time: the same sample, the same key)
    again = [*batch[:1], lab(A, "PLATELETS", 12000, "PER_UL", T0), *batch[2:]]
    result = await recorded(gql, coordinator, again)

    # then
    assert (result["created"], result["alreadyPresent"], result["results"]) == (0, 4, [])
    assert result["proposedAdverseEventIds"] == []
    assert await fx.table_row_counts(app) == before
    assert [r["analyte"] for r in await labs_of(gql, coordinator, A)] == ["IGG", "LYMPHOCYTES", "PLATELETS"]


async def test_a_batch_mixing_new_and_recorded_rows_writes_only_the_new(gql: Any, token: Any, world: str) -> None:
    # given
    coordinator = token("coordinator", "S01")
    await recorded(gql, coordinator, [lab(A, "IGG", 800, "MG_PER_DL", T0)])

    # when
    result = await recorded(
        gql, coordinator, [lab(A, "IGG", 8.0, "G_PER_L", T0), lab(A, "IGG", 750, "MG_PER_DL", T0 + timedelta(days=7))]
    )

    # then
    assert (result["created"], result["alreadyPresent"]) == (1, 1)
    assert [r["value"] for r in result["results"]] == [750.0]
    assert [r["value"] for r in await labs_of(gql, coordinator, A, ["IGG"])] == [800.0, 750.0]


BAD_ROWS = [
    pytest.param({"analyte": "IGG", "value": 550, "unit": "PER_UL"}, "NOT_ALLOWED", "unit", id="wrong-unit-igg"),
    pytest.param({"analyte": "PLATELETS", "value": 12, "unit": "G_PER_DL"}, "NOT_ALLOWED", "unit", id="wrong-unit-plt"),
    pytest.param(
        {"analyte": "HEMOGLOBIN", "value": 9.5, "unit": "MG_PER_DL"}, "NOT_ALLOWED", "unit", id="wrong-unit-hb"
    ),
    pytest.param(
        {"analyte": "PLATELETS", "value": 35000, "unit": "E9_PER_L"}, "UNIT_SUSPECT", "value", id="plt-per-ul"
    ),
    pytest.param({"analyte": "HEMOGLOBIN", "value": 95, "unit": "G_PER_DL"}, "OUT_OF_RANGE", "value", id="hb-g-per-l"),
    pytest.param({"analyte": "IGG", "value": None}, "REQUIRED", "value", id="no-value"),
    pytest.param(
        {"analyte": "PLATELETS", "value": None, "unit": "E9_PER_L", "belowLimit": True},
        "REQUIRED",
        "value",
        id="plt-blq",
    ),
    pytest.param({"subjectCode": "S01-999"}, "NOT_FOUND", "subjectCode", id="unknown-subject"),
    pytest.param({"collectedAt": "2099-01-01T00:00:00Z"}, "IN_FUTURE", "collectedAt", id="future"),
    pytest.param({"collectedAt": "2026-03-01T08:00:00"}, "INVALID_FORMAT", "collectedAt", id="no-offset"),
    pytest.param({"specimen": "MARROW"}, "NOT_ALLOWED", "specimen", id="wrong-specimen"),
    pytest.param({"lln": 900, "uln": 700}, "INVALID_ORDER", "lln", id="lln-above-uln"),
    pytest.param({"labName": "x" * 500}, "TOO_LONG", "labName", id="long-lab-name"),
]


@pytest.mark.parametrize(("bad", "code", "field"), BAD_ROWS)
async def test_a_bad_row_is_named_and_nothing_is_written(
    gql: Any, token: Any, world: str, app: Any, bad: dict[str, Any], code: str, field: str
) -> None:
    # given: a batch of good rows (one of them a platelet count) with one bad row at index 2
    coordinator = token("coordinator", "S01")
    before = await fx.table_row_counts(app)
    batch = [
        lab(A, "PLATELETS", 8, "E9_PER_L", T0),
        lab(A, "NEUTROPHILS", 300, "PER_UL", T0),
        {**lab(A, "IGG", 550, "MG_PER_DL", T0 + timedelta(hours=1)), **bad},
        lab(B, "HEMOGLOBIN", 7.5, "G_PER_DL", T0),
    ]

    # when
    result = await record(gql, coordinator, batch)

    # then: the row and field are named; no lab row, no platelet count, no event, no audit row
    assert problems(result) == [(code, ["results", "2", field])]
    assert (result["code"], result["field"]) == (code, ["results", "2", field])
    assert await fx.table_row_counts(app) == before


async def test_every_bad_row_is_reported_at_once(gql: Any, token: Any, world: str, app: Any) -> None:
    # given
    coordinator = token("coordinator", "S01")
    before = await fx.table_row_counts(app)

    # when
    result = await record(
        gql,
        coordinator,
        [
            lab(A, "IGG", 5.5, "PER_UL", T0),
            lab(A, "IGG", 700, "MG_PER_DL", T0 + timedelta(days=1)),
            lab("S09-001", "PLATELETS", 35000, "E9_PER_L", T0),
        ],
    )

    # then
    assert problems(result) == [
        ("NOT_ALLOWED", ["results", "0", "unit"]),
        ("UNIT_SUSPECT", ["results", "2", "value"]),
        ("NOT_FOUND", ["results", "2", "subjectCode"]),
    ]
    assert await fx.table_row_counts(app) == before


async def test_an_empty_batch_is_refused(gql: Any, token: Any, world: str) -> None:
    # when
    result = await record(gql, token("coordinator", "S01"), [])

    # then
    assert problems(result) == [("REQUIRED", ["results"])]


async def test_a_below_limit_row_keeps_a_null_value(gql: Any, token: Any, world: str) -> None:
    # given
    coordinator = token("coordinator", "S01")

    # when
    result = await recorded(
        gql,
        coordinator,
        [
            lab(A, "CAR_CD19_COPIES", None, "COPIES_PER_UG_DNA", T0, belowLimit=True, lloq=50),
            lab(A, "MARROW_CD138_PERCENT", None, "PERCENT", T0, belowLimit=True, lloq=0.01),
        ],
    )

    # then
    rows = {r["analyte"]: r for r in result["results"]}
    assert {a: (r["value"], r["valueReported"], r["belowLimit"], r["lloq"]) for a, r in rows.items()} == {
        "CAR_CD19_COPIES": (None, None, True, 50.0),
        "MARROW_CD138_PERCENT": (None, None, True, 0.01),
    }
    assert rows["MARROW_CD138_PERCENT"]["specimen"] == "MARROW"
    assert all(r["ctcaeGrade"] is None for r in rows.values())


async def test_a_below_limit_row_in_the_wrong_unit_is_refused(gql: Any, token: Any, world: str, app: Any) -> None:
    # given
    before = await fx.table_row_counts(app)

    # when: no value to convert, but the unit is still not one the analyte is reported in
    result = await record(
        gql, token("coordinator", "S01"), [lab(A, "CAR_CD19_COPIES", None, "PER_UL", T0, belowLimit=True)]
    )

    # then
    assert problems(result) == [("NOT_ALLOWED", ["results", "0", "unit"])]
    assert await fx.table_row_counts(app) == before


# --- CTCAE grades and lab-sourced adverse events ------------------------------------------------

GRADE_TABLE = [
    # (analyte, value in the canonical unit, LLN, expected grade): lower bounds inclusive
    ("PLATELETS", 150.0, 150.0, 0),
    ("PLATELETS", 149.9, 150.0, 1),
    ("PLATELETS", 75.0, 150.0, 1),
    ("PLATELETS", 74.9, 150.0, 2),
    ("PLATELETS", 50.0, 150.0, 2),
    ("PLATELETS", 49.9, 150.0, 3),
    ("PLATELETS", 25.0, 150.0, 3),
    ("PLATELETS", 24.9, 150.0, 4),
    ("NEUTROPHILS", 1500.0, 1800.0, 1),
    ("NEUTROPHILS", 1499.0, 1800.0, 2),
    ("NEUTROPHILS", 1000.0, 1800.0, 2),
    ("NEUTROPHILS", 999.0, 1800.0, 3),
    ("NEUTROPHILS", 500.0, 1800.0, 3),
    ("NEUTROPHILS", 499.0, 1800.0, 4),
    ("LYMPHOCYTES", 800.0, 1000.0, 1),
    ("LYMPHOCYTES", 500.0, 1000.0, 2),
    ("LYMPHOCYTES", 200.0, 1000.0, 3),
    ("LYMPHOCYTES", 199.0, 1000.0, 4),
    ("WHITE_CELLS", 3000.0, 4000.0, 1),
    ("WHITE_CELLS", 2000.0, 4000.0, 2),
    ("WHITE_CELLS", 1000.0, 4000.0, 3),
    ("WHITE_CELLS", 999.0, 4000.0, 4),
    ("HEMOGLOBIN", 12.0, 12.0, 0),
    ("HEMOGLOBIN", 10.0, 12.0, 1),
    ("HEMOGLOBIN", 9.9, 12.0, 2),
    ("HEMOGLOBIN", 8.0, 12.0, 2),
    ("HEMOGLOBIN", 7.9, 12.0, 3),
    ("HEMOGLOBIN", 5.0, 12.0, 3),  # grade 4 anemia is clinical, never from the value
]
CANONICAL = {
    "PLATELETS": "E9_PER_L",
    "NEUTROPHILS": "PER_UL",
    "LYMPHOCYTES": "PER_UL",
    "WHITE_CELLS": "PER_UL",
    "HEMOGLOBIN": "G_PER_DL",
}


async def test_ctcae_grades_at_the_boundaries(gql: Any, token: Any, world: str) -> None:
    # given: one result per table row, an hour apart
    admin = world
    rows = [
        lab(A, analyte, value, CANONICAL[analyte], T0 + timedelta(hours=i), lln=lln)
        for i, (analyte, value, lln, _grade) in enumerate(GRADE_TABLE)
    ]
    await recorded(gql, admin, rows)

    # when
    results = await labs_of(gql, admin, A)

    # then
    got = [(r["analyte"], r["value"], r["ctcaeGrade"]["grade"]) for r in results]
    assert got == [(a, v, g) for a, v, _lln, g in GRADE_TABLE]
    assert {r["ctcaeGrade"]["version"] for r in results} == {"CTCAE v5.0"}
    assert {(r["analyte"], r["ctcaeGrade"]["meddraCode"]) for r in results if r["analyte"] == "NEUTROPHILS"} == {
        ("NEUTROPHILS", NEUTROPHIL_CODE)
    }


async def test_a_value_at_or_above_an_lln_below_the_grade_2_bound_is_grade_0(gql: Any, token: Any, world: str) -> None:
    # given: a lab whose neutrophil LLN (1,400/uL) lies below CTCAE's grade-2 bound (1,500/uL)
    admin = world
    rows = [
        lab(A, "NEUTROPHILS", 1450, "PER_UL", T0, lln=1400),  # DOMAIN.md's example
        lab(A, "NEUTROPHILS", 1399, "PER_UL", T0 + timedelta(hours=1), lln=1400),
    ]
    await recorded(gql, admin, rows)
    # when
    results = await labs_of(gql, admin, A)
    # then: at or above the LLN it is grade 0 (not 2); below it the absolute bounds decide
    assert [(r["value"], r["ctcaeGrade"]["grade"]) for r in results] == [(1450.0, 0), (1399.0, 2)]
    assert {r["ctcaeGrade"]["rule"] for r in results} == {results[0]["ctcaeGrade"]["rule"]}
    assert results[0]["ctcaeGrade"]["rule"].startswith("ctcae-v5-labs-v2")


async def test_no_grade_without_an_lln_above_grade_2_nor_for_ungraded_analytes(
    gql: Any, token: Any, world: str
) -> None:
    # given
    admin = world
    await recorded(
        gql,
        admin,
        [
            lab(A, "PLATELETS", 100, "E9_PER_L", T0),  # could be grade 0 or 1: needs the lab's LLN
            lab(A, "PLATELETS", 40, "E9_PER_L", T0 + timedelta(hours=1)),  # grade 3 whatever the LLN
            lab(A, "IGG", 300, "MG_PER_DL", T0),
        ],
    )

    # when
    results = await labs_of(gql, admin, A)

    # then
    assert [(r["analyte"], r["ctcaeGrade"] and r["ctcaeGrade"]["grade"]) for r in results] == [
        ("IGG", None),
        ("PLATELETS", None),
        ("PLATELETS", 3),
    ]


async def test_a_lab_episode_proposes_one_event_until_it_is_resolved(gql: Any, token: Any, world: str) -> None:
    # given
    admin, coordinator = world, token("coordinator", "S01")

    async def neutrophils(value: float, day: int) -> list[str]:
        row = lab(A, "NEUTROPHILS", value, "PER_UL", T0 + timedelta(days=day), lln=1800)
        return (await recorded(gql, coordinator, [row]))["proposedAdverseEventIds"]

    # when / then: a new grade 3 proposes a pending, lab-sourced event
    [first] = await neutrophils(800, 0)
    events = await events_of(gql, admin, A)
    assert events == [
        {
            "id": first,
            "meddraCode": NEUTROPHIL_CODE,
            "term": NEUTROPHIL_TERM,
            "grade": 3,
            "gradingScale": "CTCAE_V5",
            "source": "LAB",
            "status": "PENDING_REVIEW",
            "onsetDate": "2026-03-01",
            "resolutionDate": None,
        }
    ]
    # another grade 3 continues the episode; a dip to grade 2 and back to 3 too: no duplicate
    assert await neutrophils(700, 1) == []
    assert await neutrophils(1200, 2) == []
    assert await neutrophils(900, 3) == [first]
    assert [(e["id"], e["grade"]) for e in await events_of(gql, admin, A)] == [(first, 3)]
    # a worse value raises the pending event's grade
    assert await neutrophils(300, 4) == [first]
    assert [(e["id"], e["grade"]) for e in await events_of(gql, admin, A)] == [(first, 4)]

    # when the event is resolved, a new episode proposes a new event
    resolved = await fx.mutate(
        gql,
        admin,
        "resolveAdverseEvent",
        "ResolveAdverseEventInput",
        {"id": first, "resolutionDate": "2026-03-08", "outcome": "RECOVERED_RESOLVED", "reason": "count recovered"},
        "... on AdverseEventSuccess { adverseEvent { id } }",
    )
    assert resolved["__typename"] == "AdverseEventSuccess", resolved
    assert await neutrophils(1800, 8) == []
    [second] = await neutrophils(600, 10)

    # then
    assert second != first
    assert [(e["id"], e["grade"], e["onsetDate"], e["resolutionDate"]) for e in await events_of(gql, admin, A)] == [
        (first, 4, "2026-03-01", "2026-03-08"),
        (second, 3, "2026-03-11", None),
    ]


async def test_low_platelets_recorded_as_labs_propose_a_platelet_event(gql: Any, token: Any, world: str) -> None:
    # given
    admin = world

    # when: 60 (grade 2) then 30 (grade 3), 20 (grade 4)
    rows = [lab(A, "PLATELETS", v, "E9_PER_L", T0 + timedelta(days=i), lln=150) for i, v in enumerate((60, 30, 20))]
    result = await recorded(gql, admin, rows)

    # then: one event for the episode, at its worst grade
    events = await events_of(gql, admin, A)
    assert [(e["meddraCode"], e["term"], e["grade"], e["source"], e["status"], e["onsetDate"]) for e in events] == [
        (PLATELET_CODE, PLATELET_TERM, 4, "LAB", "PENDING_REVIEW", "2026-03-02")
    ]
    assert result["proposedAdverseEventIds"] == [events[0]["id"]]


# --- one source of truth for platelet counts -----------------------------------------------------

TRANSFUSION_QUERY = """query($c: String!) {
  subject(code: $c) {
    plateletCounts { drawnAt valueE9PerL }
    transfusions { cciEarly cciLate response { category } }
  }
}"""


async def test_platelet_counts_recorded_as_labs_drive_the_transfusion_response(
    gql: Any, token: Any, world: str
) -> None:
    # given: 180 cm / 80 kg (BSA 2.0), a 3.0 x10^11 transfusion 08:00-08:30, no counts yet
    admin, coordinator = world, token("coordinator", "S01")
    body = await fx.mutate(
        gql,
        admin,
        "recordBodyMeasurement",
        "RecordBodyMeasurementInput",
        {"subjectCode": A, "measuredAt": "2026-02-01T08:00:00Z", "heightCm": 180.0, "weightKg": 80.0},
        "... on BodyMeasurementSuccess { bodyMeasurement { id } }",
    )
    assert "bodyMeasurement" in body, body
    transfusion = await fx.mutate(
        gql,
        admin,
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        {
            "subjectCode": A,
            "startedAt": iso(T0),
            "endedAt": iso(T0 + timedelta(minutes=30)),
            "units": [{"contentE11": 3.0}],
        },
        "... on PlateletTransfusionSuccess { transfusion { id } }",
    )
    assert "transfusion" in transfusion, transfusion
    before = (await gql.data(coordinator, TRANSFUSION_QUERY, {"c": A}))["subject"]["transfusions"]
    assert before == [{"cciEarly": None, "cciLate": None, "response": {"category": "NOT_EVALUABLE"}}]

    # when: pre 5 x10^9/L (sent per uL), early 35 at +45 min, late 25 at +20 h, through the lab batch
    end = T0 + timedelta(minutes=30)
    await recorded(
        gql,
        coordinator,
        [
            lab(A, "PLATELETS", 5000, "PER_UL", T0 - timedelta(hours=1)),
            lab(A, "PLATELETS", 35, "E9_PER_L", end + timedelta(minutes=45)),
            lab(A, "PLATELETS", 25, "E9_PER_L", end + timedelta(hours=20)),
        ],
    )

    # then: CCI = (post - pre) x 1000 x BSA / dose
    subject = (await gql.data(coordinator, TRANSFUSION_QUERY, {"c": A}))["subject"]
    assert [c["valueE9PerL"] for c in subject["plateletCounts"]] == [5.0, 35.0, 25.0]
    [t] = subject["transfusions"]
    assert t["cciEarly"] == pytest.approx(30 * 1000 * 2.0 / 3.0)
    assert t["cciLate"] == pytest.approx(20 * 1000 * 2.0 / 3.0)
    assert t["response"] == {"category": "RESPONSIVE"}


# --- authorization -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sites", "subject"),
    [
        ("investigator", ("S01",), None),
        ("monitor", ("S01",), None),
        ("analyst", (), None),
        ("patient", (), A),
    ],
)
async def test_only_coordinators_and_admins_write_lab_data(
    gql: Any, token: Any, world: str, app: Any, role: str, sites: tuple[str, ...], subject: str | None
) -> None:
    # given
    caller = token(role, *sites, subject=subject)
    before = await fx.table_row_counts(app)

    # when
    labs_result = await record(gql, caller, [lab(A, "IGG", 600, "MG_PER_DL", T0)])
    antibody_result = await antibody_test(gql, caller, **bead_test(A, T0, {"A*02:01": 3000}))

    # then
    assert labs_result["__typename"] == antibody_result["__typename"] == "PermissionDeniedError"
    assert labs_result["code"] == antibody_result["code"] == "PERMISSION_DENIED"
    assert await fx.table_row_counts(app) == before


async def test_coordinators_and_admins_write_lab_data(gql: Any, token: Any, world: str) -> None:
    # when
    by_coordinator = await recorded(gql, token("coordinator", "S01"), [lab(A, "IGG", 600, "MG_PER_DL", T0)])
    by_admin = await recorded(gql, world, [lab(C, "IGG", 650, "MG_PER_DL", T0)])
    antibody = await antibody_test(gql, token("coordinator", "S02"), **bead_test(C, T0, {"A*02:01": 3000}))

    # then
    assert (by_coordinator["created"], by_admin["created"]) == (1, 1)
    assert antibody["__typename"] == "AntibodyTestSuccess"


async def test_a_coordinator_cannot_write_another_sites_subject(gql: Any, token: Any, world: str, app: Any) -> None:
    # given
    coordinator = token("coordinator", "S01")
    before = await fx.table_row_counts(app)

    # when: a good row for the own site and one for a site-2 subject
    result = await record(gql, coordinator, [lab(A, "IGG", 600, "MG_PER_DL", T0), lab(C, "IGG", 650, "MG_PER_DL", T0)])
    antibody = await antibody_test(gql, coordinator, **bead_test(C, T0, {"A*02:01": 3000}))

    # then: the site-2 subject is unknown to them; nothing is written
    assert problems(result) == [("NOT_FOUND", ["results", "1", "subjectCode"])]
    assert (antibody["__typename"], antibody["code"], antibody["field"]) == (
        "NotFoundError",
        "NOT_FOUND",
        ["subjectCode"],
    )
    assert await fx.table_row_counts(app) == before


READ = """query($code: String!) {
  subject(code: $code) { labResults { analyte value } antibodyTests { antibodyClass } igg { iggMgPerDl } }
}"""


async def test_lab_reads_are_scoped_like_every_other_read(gql: Any, token: Any, world: str) -> None:
    # given: IgG and an antibody test for a subject at each site
    admin = world
    await recorded(gql, admin, [lab(A, "IGG", 600, "MG_PER_DL", T0), lab(C, "IGG", 650, "MG_PER_DL", T0)])
    await record_beads(gql, admin, A, T0, {"A*02:01": 3000})
    own = {"labResults": [{"analyte": "IGG", "value": 600.0}], "antibodyTests": [{"antibodyClass": "HLA_CLASS_I"}]}
    own["igg"] = [{"iggMgPerDl": 600.0}]

    async def view(caller: str, code: str) -> Any:
        return (await gql.data(caller, READ, {"code": code}))["subject"]

    # then
    assert await view(token("patient", subject=A), A) == own
    assert await view(token("patient", subject=A), C) is None
    assert await view(token("patient", subject=B), A) is None
    assert await view(token("coordinator", "S02"), A) is None
    assert await view(token("investigator", "S02"), A) is None
    assert await view(token("monitor", "S01"), A) == own
    assert await view(token("investigator", "S01"), A) == own
    assert await view(token("analyst"), A) == own
    assert (await view(token("analyst"), C))["labResults"] == [{"analyte": "IGG", "value": 650.0}]


# --- CAR-T kinetics --------------------------------------------------------------------------------

KINETICS = """query($code: String!, $product: CarTProduct!, $measure: KineticsMeasure!) {
  subject(code: $code) {
    carTKinetics(product: $product, measure: $measure) {
      product measure unit cmax tmax auc0To28 tlast series { day value blq } rule
    }
  }
}"""
DOMAIN_DAYS = [0, 1, 4, 7, 10, 14, 21, 28]
DOMAIN_COPIES = [None, 500, 8000, 45000, 30000, 12000, 4000, 1500]


async def kinetics(gql: Any, caller: str, code: str, product: str, measure: str = "QPCR") -> Any:
    variables = {"code": code, "product": product, "measure": measure}
    return (await gql.data(caller, KINETICS, variables))["subject"]["carTKinetics"]


async def test_car_t_kinetics_of_the_domain_example(gql: Any, token: Any, world: str) -> None:
    # given: the DOMAIN.md series, day 0 = the CD19 infusion, day 0 below the limit of quantification
    admin = world
    await infuse(gql, admin, A, "CD19")
    rows = [
        lab(A, "CAR_CD19_COPIES", v, "COPIES_PER_UG_DNA", CD19_AT + timedelta(days=d), belowLimit=v is None)
        for d, v in zip(DOMAIN_DAYS, DOMAIN_COPIES, strict=True)
    ]
    await recorded(gql, admin, rows)

    # when
    result = await kinetics(gql, admin, A, "CD19")

    # then
    assert (result["cmax"], result["tmax"], result["auc0To28"], result["tlast"]) == (45000.0, 7.0, 364250.0, 28.0)
    assert (result["product"], result["measure"], result["unit"]) == ("CD19", "QPCR", "copies/ug genomic DNA")
    assert result["series"] == [
        {"day": float(d), "value": None if v is None else float(v), "blq": v is None}
        for d, v in zip(DOMAIN_DAYS, DOMAIN_COPIES, strict=True)
    ]
    assert result["rule"].startswith("kinetics-v1")
    # no BCMA infusion yet: no BCMA kinetics
    assert await kinetics(gql, admin, A, "BCMA") is None


async def test_flow_kinetics_multiply_percent_car_by_cd3(gql: Any, token: Any, world: str) -> None:
    # given: %CAR+ of CD3+ with CD3+/uL of the same collection
    admin = world
    await infuse(gql, admin, A, "CD19")
    series = [(0, None, 500), (7, 10.0, 1000), (14, 5.0, 800), (28, 1.0, 600)]  # day, %CAR+, CD3/uL
    rows = []
    for day, percent, cd3 in series:
        at = CD19_AT + timedelta(days=day)
        rows.append(lab(A, "CAR_CD19_PERCENT_CD3", percent, "PERCENT", at, belowLimit=percent is None))
        rows.append(lab(A, "CD3_PER_UL", cd3, "PER_UL", at))
    await recorded(gql, admin, rows)

    # when
    result = await kinetics(gql, admin, A, "CD19", "FLOW")

    # then: cells/uL 0 (BLQ), 100, 40, 6; AUC = 7 x 100/2 + 7 x 140/2 + 14 x 46/2 = 350 + 490 + 322
    assert [(p["day"], p["value"]) for p in result["series"]] == [(0.0, None), (7.0, 100.0), (14.0, 40.0), (28.0, 6.0)]
    assert (result["cmax"], result["tmax"], result["tlast"], result["unit"]) == (100.0, 7.0, 28.0, "CAR+ cells/uL")
    assert result["auc0To28"] == pytest.approx(1162.0)


async def test_bcma_kinetics_count_days_from_the_bcma_infusion(gql: Any, token: Any, world: str) -> None:
    # given: CD19 on 02-07, BCMA on 02-21; BCMA copies the day before BCMA (BLQ), then days 2.5, 9, 16
    admin = world
    await infuse(gql, admin, A, "CD19")
    await infuse(gql, admin, A, "BCMA")
    samples = [(-1.0, None), (2.5, 1000), (9.0, 6000), (16.0, 2000)]
    await recorded(
        gql,
        admin,
        [
            lab(A, "CAR_BCMA_COPIES", v, "COPIES_PER_UG_DNA", BCMA_AT + timedelta(days=d), belowLimit=v is None)
            for d, v in samples
        ]
        + [lab(A, "CAR_CD19_COPIES", 20000, "COPIES_PER_UG_DNA", CD19_AT + timedelta(days=10))],
    )

    # when
    bcma = await kinetics(gql, admin, A, "BCMA")
    cd19 = await kinetics(gql, admin, A, "CD19")

    # then: AUC over days 0-28 = 6.5 x 7000/2 + 7 x 8000/2 = 22750 + 28000
    assert [(p["day"], p["value"]) for p in bcma["series"]] == [
        (-1.0, None),
        (2.5, 1000.0),
        (9.0, 6000.0),
        (16.0, 2000.0),
    ]
    assert (bcma["cmax"], bcma["tmax"], bcma["tlast"]) == (6000.0, 9.0, 16.0)
    assert bcma["auc0To28"] == pytest.approx(50750.0)
    assert [(p["day"], p["value"]) for p in cd19["series"]] == [(10.0, 20000.0)]


# --- B cells, IgG, marrow plasma cells ----------------------------------------------------------

B_CELLS = """query($code: String!) {
  subject(code: $code) {
    bCells {
      draws {
        collectedOn cd19PercentOfLymphocytes lymphocytesPerUl cd19PerUl
        aplasiaByPercent aplasiaByAbsolute rulesDisagree aplastic
      }
      rule parameterVersion aplasiaOn daysToAplasia recoveryOn daysToRecovery
    }
  }
}"""


def b_cell_draw(code: str, at: datetime, percent: float, lymphocytes: float) -> list[dict[str, Any]]:
    return [
        lab(code, "CD19_PERCENT_LYMPHOCYTES", percent, "PERCENT", at),
        lab(code, "LYMPHOCYTES", lymphocytes, "PER_UL", at + timedelta(minutes=5)),
    ]


async def test_b_cells_by_both_rules_with_time_to_aplasia_and_recovery(gql: Any, token: Any, world: str) -> None:
    # given: CD19 on 2026-02-07; a baseline draw, the disagreement case, aplasia and recovery
    admin = world
    await infuse(gql, admin, A, "CD19")
    rows = (
        b_cell_draw(A, utc(2026, 2, 1), 12.0, 1500)
        + b_cell_draw(A, utc(2026, 3, 7), 3.0, 500)
        + b_cell_draw(A, utc(2026, 4, 8), 0.5, 800)
        + b_cell_draw(A, utc(2026, 8, 5), 5.0, 1000)
    )
    await recorded(gql, admin, rows)

    # when
    b_cells = (await gql.data(admin, B_CELLS, {"code": A}))["subject"]["bCells"]

    # then
    draw = ("collectedOn", "cd19PerUl", "aplasiaByPercent", "aplasiaByAbsolute", "rulesDisagree", "aplastic")
    assert [tuple(d[k] for k in draw) for d in b_cells["draws"]] == [
        ("2026-02-01", 180.0, False, False, False, False),
        ("2026-03-07", 15.0, False, True, True, False),  # 3% of 500/uL: aplastic by count only
        ("2026-04-08", 4.0, True, True, False, True),
        ("2026-08-05", 50.0, False, False, False, False),
    ]
    assert b_cells["draws"][1]["cd19PercentOfLymphocytes"] == 3.0
    assert b_cells["draws"][1]["lymphocytesPerUl"] == 500.0
    # default rule: percent of lymphocytes
    assert (b_cells["aplasiaOn"], b_cells["daysToAplasia"]) == (
        "2026-04-08",
        (date(2026, 4, 8) - date(2026, 2, 7)).days,
    )
    assert (b_cells["recoveryOn"], b_cells["daysToRecovery"]) == (
        "2026-08-05",
        (date(2026, 8, 5) - date(2026, 2, 7)).days,
    )
    assert (b_cells["daysToAplasia"], b_cells["daysToRecovery"]) == (60, 179)
    assert b_cells["parameterVersion"] == 1
    assert b_cells["rule"].startswith("percent_of_lymphocytes")


async def test_b_cells_without_an_infusion_have_no_timing(gql: Any, token: Any, world: str) -> None:
    # given
    admin = world
    await recorded(gql, admin, b_cell_draw(A, utc(2026, 3, 7), 0.5, 800))

    # when
    b_cells = (await gql.data(admin, B_CELLS, {"code": A}))["subject"]["bCells"]

    # then
    assert [d["aplastic"] for d in b_cells["draws"]] == [True]
    assert (b_cells["aplasiaOn"], b_cells["daysToAplasia"], b_cells["recoveryOn"]) == (None, None, None)


async def test_igg_statuses_at_their_thresholds(gql: Any, token: Any, world: str) -> None:
    # given: mg/dL except one in g/L (5.5 g/L = 550 mg/dL)
    admin = world
    values = [(750, "MG_PER_DL"), (700, "MG_PER_DL"), (699, "MG_PER_DL"), (401, "MG_PER_DL"), (400, "MG_PER_DL")]
    values.append((5.5, "G_PER_L"))
    await recorded(gql, admin, [lab(A, "IGG", v, u, T0 + timedelta(days=i)) for i, (v, u) in enumerate(values)])

    # when
    igg = await gql.data(admin, "query($c: String!) { subject(code: $c) { igg { iggMgPerDl status } } }", {"c": A})

    # then
    assert [(v["iggMgPerDl"], v["status"]) for v in igg["subject"]["igg"]] == [
        (750.0, "NORMAL"),
        (700.0, "NORMAL"),
        (699.0, "LOW"),
        (401.0, "LOW"),
        (400.0, "SEVERE"),
        (550.0, "LOW"),
    ]


async def test_marrow_plasma_cells(gql: Any, token: Any, world: str) -> None:
    # given
    admin = world
    await recorded(
        gql,
        admin,
        [
            lab(A, "MARROW_CD138_PERCENT", 12.5, "PERCENT", utc(2026, 2, 1), lloq=0.01, assay="flow"),
            lab(A, "MARROW_CD138_PERCENT", None, "PERCENT", utc(2026, 5, 1), lloq=0.01, belowLimit=True),
            lab(A, "IGG", 600, "MG_PER_DL", utc(2026, 3, 1)),
        ],
    )

    # when
    query = (
        "query($c: String!) { subject(code: $c) { marrowPlasmaCells { collectedAt specimen value lloq belowLimit } } }"
    )
    cells = (await gql.data(admin, query, {"c": A}))["subject"]["marrowPlasmaCells"]

    # then
    assert cells == [
        {
            "collectedAt": "2026-02-01T08:00:00+00:00",
            "specimen": "MARROW",
            "value": 12.5,
            "lloq": 0.01,
            "belowLimit": False,
        },
        {
            "collectedAt": "2026-05-01T08:00:00+00:00",
            "specimen": "MARROW",
            "value": None,
            "lloq": 0.01,
            "belowLimit": True,
        },
    ]


# --- HLA / HPA antibodies ------------------------------------------------------------------------


async def test_bead_assay_positivity_follows_the_cutoff_and_its_operator(gql: Any, token: Any, world: str) -> None:
    # given
    coordinator = token("coordinator", "S01")

    # when
    ge = await antibody_test(
        gql, coordinator, **bead_test(A, T0, {"A*02:01": 1000, "B*07:02": 999.9}), cpraPercent=85.0, labName="HLA lab"
    )
    gt = await antibody_test(
        gql, coordinator, **bead_test(A, T0 + timedelta(days=1), {"A*02:01": 1000}), cutoffOperator="GT"
    )
    custom = await antibody_test(
        gql,
        coordinator,
        **bead_test(A, T0 + timedelta(days=2), {"A*02:01": 1000}, klass="HLA_CLASS_II"),
        cutoffMfi=1500,
    )

    # then: MFI exactly 1000 is positive with GE (the default), negative with GT
    test = ge["antibodyTest"]
    assert (test["cutoffMfi"], test["cutoffOperator"], test["cpraPercent"], test["kit"], test["lot"]) == (
        1000.0,
        "GE",
        85.0,
        "LABScreen Single Antigen",
        "LOT-7",
    )
    assert test["results"] == [
        {"specificity": "A*02:01", "mfi": 1000.0, "positive": True},
        {"specificity": "B*07:02", "mfi": 999.9, "positive": False},
    ]
    assert gt["antibodyTest"]["results"] == [{"specificity": "A*02:01", "mfi": 1000.0, "positive": False}]
    assert (custom["antibodyTest"]["cutoffMfi"], custom["antibodyTest"]["results"][0]["positive"]) == (1500.0, False)
    tests = await gql.data(coordinator, "query($c: String!) { subject(code: $c) { antibodyTests { id } } }", {"c": A})
    assert len(tests["subject"]["antibodyTests"]) == 3


async def test_hpa_by_maipa_is_positive_or_negative(gql: Any, token: Any, world: str) -> None:
    # when
    result = await antibody_test(
        gql,
        token("coordinator", "S01"),
        subjectCode=A,
        collectedAt=iso(T0),
        antibodyClass="HPA",
        method="MAIPA",
        results=[{"specificity": "HPA-1a", "positive": True}, {"specificity": "HPA-5b", "positive": False}],
    )

    # then
    test = result["antibodyTest"]
    assert (test["antibodyClass"], test["method"], test["cutoffMfi"]) == ("HPA", "MAIPA", None)
    assert test["results"] == [
        {"specificity": "HPA-1a", "mfi": None, "positive": True},
        {"specificity": "HPA-5b", "mfi": None, "positive": False},
    ]


BAD_ANTIBODY_TESTS = [
    pytest.param({"results": [{"specificity": "A*02:01"}]}, [("REQUIRED", ["results", "0", "mfi"])], id="no-mfi"),
    pytest.param(
        {"results": [{"specificity": "A*02:01", "mfi": 3000}, {"specificity": "A*02:01", "mfi": 2000}]},
        [("NOT_ALLOWED", ["results", "1", "specificity"])],
        id="duplicate-specificity",
    ),
    pytest.param({"cpraPercent": 120.0}, [("OUT_OF_RANGE", ["cpraPercent"])], id="cpra-120"),
    pytest.param({"results": []}, [("REQUIRED", ["results"])], id="no-results"),
    pytest.param(
        {"method": "MAIPA", "antibodyClass": "HPA", "results": [{"specificity": "HPA-1a"}]},
        [("REQUIRED", ["results", "0", "positive"])],
        id="maipa-without-positive",
    ),
    pytest.param({"results": [{"specificity": "A*02:01", "mfi": -5}]}, [("OUT_OF_RANGE", ["results", "0", "mfi"])]),
    pytest.param({"collectedAt": "2099-01-01T00:00:00Z"}, [("IN_FUTURE", ["collectedAt"])], id="future"),
]


@pytest.mark.parametrize(("override", "expected"), BAD_ANTIBODY_TESTS)
async def test_a_bad_antibody_test_is_refused_and_nothing_is_written(
    gql: Any, token: Any, world: str, app: Any, override: dict[str, Any], expected: list[tuple[str, list[str]]]
) -> None:
    # given
    before = await fx.table_row_counts(app)

    # when
    result = await antibody_test(
        gql, token("coordinator", "S01"), **{**bead_test(A, T0, {"A*02:01": 3000}), **override}
    )

    # then
    assert problems(result) == expected
    assert await fx.table_row_counts(app) == before


async def test_hla_clearance_from_the_baseline_before_the_first_infusion(gql: Any, token: Any, world: str) -> None:
    # given: CD19 on 02-07; class I and II tests; the baseline is the last sample before the infusion
    admin = world
    await infuse(gql, admin, A, "CD19")
    class_i = [
        (utc(2026, 1, 20), {"A*02:01": 4000, "B*07:02": 2000, "C*07:01": 500}),
        (utc(2026, 2, 5), {"A*02:01": 3000, "B*07:02": 1500, "C*07:01": 300}),  # baseline: A and B positive
        (utc(2026, 3, 10), {"A*02:01": 800, "B*07:02": 1200, "C*07:01": 1500}),
        (utc(2026, 4, 10), {"A*02:01": 600, "B*07:02": 900, "C*07:01": 200}),  # A: 2nd negative in a row
        (utc(2026, 5, 10), {"A*02:01": 400, "B*07:02": 500, "C*07:01": 100}),  # B: 2nd negative in a row
    ]
    class_ii = [
        (utc(2026, 2, 5), {"DRB1*15:01": 2500}),
        (utc(2026, 3, 10), {"DRB1*15:01": 500}),
        (utc(2026, 4, 10), {"DRB1*15:01": 300}),
        (utc(2026, 5, 10), {"DRB1*15:01": 200}),
    ]
    for at, mfis in class_i:
        await record_beads(gql, admin, A, at, mfis)
    for at, mfis in class_ii:
        await record_beads(gql, admin, A, at, mfis, klass="HLA_CLASS_II")

    # when
    query = f"query($c: String!) {{ subject(code: $c) {{ hlaClearance {{ {CLEARANCE_FIELDS} }} hpaClearance {{ clearedAt }} }} }}"
    subject = (await gql.data(admin, query, {"c": A}))["subject"]

    # then
    clearance = subject["hlaClearance"]
    assert clearance["classes"] == ["HLA_CLASS_I", "HLA_CLASS_II"]
    assert clearance["baselinePositive"] == ["A*02:01", "B*07:02", "DRB1*15:01"]
    assert clearance["specificities"] == [
        {"specificity": "A*02:01", "clearedAt": "2026-04-10T08:00:00+00:00"},
        {"specificity": "B*07:02", "clearedAt": "2026-05-10T08:00:00+00:00"},
        {"specificity": "DRB1*15:01", "clearedAt": "2026-04-10T08:00:00+00:00"},
    ]
    assert clearance["clearedAt"] == "2026-05-10T08:00:00+00:00"
    assert [(s["collectedAt"][:10], s["summedMfi"]) for s in clearance["summedMfi"]] == [
        ("2026-02-05", 7000.0),
        ("2026-03-10", 2500.0),
        ("2026-04-10", 1800.0),
        ("2026-05-10", 1100.0),
    ]
    assert clearance["summedMfiReductionPercent"] == pytest.approx((7000 - 1100) / 7000 * 100)
    assert subject["hpaClearance"] is None


async def test_a_positive_sample_restarts_the_run_of_negatives(gql: Any, token: Any, world: str) -> None:
    # given: negative, positive again, then two negatives
    admin = world
    await infuse(gql, admin, A, "CD19")
    for at, mfi in [(utc(2026, 2, 1), 5000), (utc(2026, 3, 1), 500), (utc(2026, 4, 1), 1200), (utc(2026, 5, 1), 700)]:
        await record_beads(gql, admin, A, at, {"A*02:01": mfi})
    query = "query($c: String!) { subject(code: $c) { hlaClearance { clearedAt summedMfiReductionPercent } } }"
    assert (await gql.data(admin, query, {"c": A}))["subject"]["hlaClearance"] == {
        "clearedAt": None,
        "summedMfiReductionPercent": pytest.approx(86.0),
    }

    # when
    await record_beads(gql, admin, A, utc(2026, 6, 1), {"A*02:01": 100})

    # then
    assert (await gql.data(admin, query, {"c": A}))["subject"]["hlaClearance"] == {
        "clearedAt": "2026-06-01T08:00:00+00:00",
        "summedMfiReductionPercent": pytest.approx(98.0),
    }


async def test_hpa_clearance_from_positive_negative_results(gql: Any, token: Any, world: str) -> None:
    # given
    admin = world
    await infuse(gql, admin, A, "CD19")
    for at, positive in [(utc(2026, 2, 1), True), (utc(2026, 3, 1), False), (utc(2026, 4, 1), False)]:
        result = await antibody_test(
            gql,
            admin,
            subjectCode=A,
            collectedAt=iso(at),
            antibodyClass="HPA",
            method="MAIPA",
            results=[{"specificity": "HPA-1a", "positive": positive}, {"specificity": "HPA-5b", "positive": False}],
        )
        assert result["__typename"] == "AntibodyTestSuccess", result

    # when
    query = f"query($c: String!) {{ subject(code: $c) {{ hpaClearance {{ {CLEARANCE_FIELDS} }} hlaClearance {{ clearedAt }} }} }}"
    subject = (await gql.data(admin, query, {"c": A}))["subject"]

    # then
    assert subject["hpaClearance"] == {
        "classes": ["HPA"],
        "baselinePositive": ["HPA-1a"],
        "specificities": [{"specificity": "HPA-1a", "clearedAt": "2026-04-01T08:00:00+00:00"}],
        "clearedAt": "2026-04-01T08:00:00+00:00",
        "summedMfi": [],
        "summedMfiReductionPercent": None,
    }
    assert subject["hlaClearance"] is None


# --- cohort summaries ----------------------------------------------------------------------------

COHORT = """{
  trial {
    aplasia: bCellAplasiaAt(month: 3) { subjectsAssessed subjectsMeeting parameterVersion }
    cmax: medianCmax(product: CD19) { subjects median unit }
    flow: medianCmax(product: CD19, measure: FLOW) { subjects median }
    cleared6: hlaClearedBy(month: 6) { subjectsAssessed subjectsMeeting }
    cleared3: hlaClearedBy(month: 3) { subjectsAssessed subjectsMeeting }
  }
}"""


async def test_cohort_summaries_match_hand_counts(gql: Any, token: Any, world: str) -> None:
    # given: CD19 on 02-07 for A, B and C (month 3 = 05-07, month 6 = 08-07); D never infused; E infused
    # with no HLA antibodies at baseline
    admin = world
    await fx.enroll_subject(gql, admin, "S01-003", "S01")  # D
    await fx.enroll_subject(gql, admin, "S01-004", "S01")  # E
    for code in (A, B, C, "S01-004"):
        await infuse(gql, admin, code, "CD19")
    day7 = CD19_AT + timedelta(days=7)
    await recorded(
        gql,
        admin,
        # A: aplastic at 05-07; Cmax 45000
        b_cell_draw(A, utc(2026, 3, 7), 5.0, 1000)
        + b_cell_draw(A, utc(2026, 5, 7), 0.5, 800)
        + [lab(A, "CAR_CD19_COPIES", 45000, "COPIES_PER_UG_DNA", day7)]
        # B: the draw nearest to month 3 (05-20, 13 days off) is not aplastic; Cmax 10000
        + b_cell_draw(B, utc(2026, 4, 1), 0.2, 900)
        + b_cell_draw(B, utc(2026, 5, 20), 5.0, 1000)
        + [lab(B, "CAR_CD19_COPIES", 10000, "COPIES_PER_UG_DNA", day7)]
        # C (site 2): no draw within 30 days of month 3; Cmax 20000
        + b_cell_draw(C, utc(2026, 3, 1), 0.2, 900)
        + [lab(C, "CAR_CD19_COPIES", 20000, "COPIES_PER_UG_DNA", day7)]
        # D: never infused: counts for nothing
        + b_cell_draw("S01-003", utc(2026, 5, 7), 0.2, 900)
        + [lab("S01-003", "CAR_CD19_COPIES", 90000, "COPIES_PER_UG_DNA", day7)],
    )
    hla = {
        A: [(utc(2026, 2, 1), 3000), (utc(2026, 3, 1), 500), (utc(2026, 5, 10), 400)],  # cleared 05-10
        B: [(utc(2026, 2, 1), 3000), (utc(2026, 3, 1), 500), (utc(2026, 4, 1), 1500)],  # not cleared
        C: [(utc(2026, 2, 1), 3000), (utc(2026, 8, 20), 500), (utc(2026, 9, 15), 400)],  # cleared after month 6
        "S01-003": [(utc(2026, 2, 1), 3000), (utc(2026, 3, 1), 500), (utc(2026, 4, 1), 400)],  # never infused
        "S01-004": [(utc(2026, 2, 1), 800), (utc(2026, 3, 1), 500)],  # negative at baseline
    }
    for code, samples in hla.items():
        for at, mfi in samples:
            await record_beads(gql, admin, code, at, {"A*02:01": mfi})

    # when
    analyst = (await gql.data(token("analyst"), COHORT))["trial"]
    site_1 = (await gql.data(token("coordinator", "S01"), COHORT))["trial"]

    # then: the analyst sees the cohort, site staff their site
    assert analyst == {
        "aplasia": {"subjectsAssessed": 2, "subjectsMeeting": 1, "parameterVersion": 1},
        "cmax": {"subjects": 3, "median": 20000.0, "unit": "copies/ug genomic DNA"},
        "flow": {"subjects": 0, "median": None},
        "cleared6": {"subjectsAssessed": 3, "subjectsMeeting": 1},
        "cleared3": {"subjectsAssessed": 3, "subjectsMeeting": 0},  # A cleared after 05-07
    }
    assert site_1["aplasia"] == {"subjectsAssessed": 2, "subjectsMeeting": 1, "parameterVersion": 1}
    assert site_1["cmax"]["subjects"] == 2 and site_1["cmax"]["median"] == 27500.0
    assert site_1["cleared6"] == {"subjectsAssessed": 2, "subjectsMeeting": 1}
    # and an analyst can narrow a summary to sites
    site_2 = (
        await gql.data(
            token("analyst"),
            """{ trial { cmax: medianCmax(product: CD19, siteCodes: ["S02"]) { subjects median }
                         cleared6: hlaClearedBy(month: 6, siteCodes: ["S02"]) { subjectsAssessed subjectsMeeting } } }""",
        )
    )["trial"]
    assert site_2 == {
        "cmax": {"subjects": 1, "median": 20000.0},
        "cleared6": {"subjectsAssessed": 1, "subjectsMeeting": 0},
    }


# --- re-sent results and what the lab sent for platelets -----------------------------------------


async def test_a_result_re_sent_with_another_value_is_refused_not_skipped(gql: Any, token: Any, world: str) -> None:
    # given
    await recorded(gql, world, [lab(A, "IGG", 550, "MG_PER_DL", T0)])
    # when
    result = await record(
        gql, world, [lab(A, "IGG", 610, "MG_PER_DL", T0), lab(A, "IGG", 600, "MG_PER_DL", T0 + timedelta(days=1))]
    )
    # then: a correction needs a reason (an amendment), and nothing of the batch was written
    assert problems(result) == [("NOT_ALLOWED", ["results", "0", "value"])]
    assert [r["value"] for r in await labs_of(gql, world, A, ["IGG"])] == [550]


async def test_the_same_result_re_sent_in_another_unit_is_the_same_result(gql: Any, token: Any, world: str) -> None:
    # given
    await recorded(gql, world, [lab(A, "IGG", 550, "MG_PER_DL", T0)])
    # when
    result = await recorded(gql, world, [lab(A, "IGG", 5.5, "G_PER_L", T0)])
    # then
    assert (result["created"], result["alreadyPresent"]) == (0, 1)


async def test_a_platelet_count_keeps_the_value_and_unit_the_lab_sent(gql: Any, token: Any, world: str) -> None:
    # when
    await recorded(gql, world, [lab(A, "PLATELETS", 20000, "PER_UL", T0, lln=150000)])
    # then
    [count] = await labs_of(gql, world, A, ["PLATELETS"])
    assert (count["value"], count["unit"], count["lln"]) == (20, "E9_PER_L", 150)
    assert (count["valueReported"], count["unitReported"]) == (20000, "PER_UL")
