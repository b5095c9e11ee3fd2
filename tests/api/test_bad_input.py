"""Bad input for every mutation (DESIGN.md rules 6 and 9): negative or absurd values, end before
start, naive or future times, unknown or duplicate codes, oversized strings, impossible state
changes. Each gets a typed error with a stable code and the offending field path, and nothing is
written: every table, the admin's view and the audit trail are as they were.

World: site S01; subject S01-001 with one record of every kind, a CD19 then a BCMA infusion, and a
voided measurement, transfusion and count; subject S01-002 enrolled with no records. Writes come
from a site-1 coordinator (admin for the admin-only mutations), so refusals are about the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from server.schema.common.ids import encode_id
from tests.api import fixtures_data as fx

A, B = "S01-001", "S01-002"
FUTURE_DAY = date.today() + timedelta(days=30)
FUTURE = "2099-01-01T08:00:00Z"
NAIVE = "2026-03-05T08:00:00"
LONG = "x" * 5000
ADMIN_ONLY = {"createSite", "amendProtocolParameters"}


@pytest.fixture
async def world(gql: Any, token: Any) -> dict[str, str]:
    """Global ids of the seeded records, by type name, plus the voided ones and B's subject id."""
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.enroll_subject(gql, admin, A, "S01")
    subject_b = await fx.enroll_subject(gql, admin, B, "S01")
    ids = await fx.seed_records(gql, admin, A)
    ids["BCMA"] = await fx.record_infusion(gql, admin, A, "BCMA", "2026-03-10T10:00:00Z")
    ids["SubjectB"] = subject_b
    ids["voidedMeasurement"] = await fx.record_measurement(gql, admin, A, "2026-01-20T08:00:00Z")
    ids["voidedTransfusion"] = await fx.record_transfusion(
        gql, admin, A, "2026-03-03T08:00:00Z", "2026-03-03T08:30:00Z", None
    )
    ids["voidedCount"] = await fx.record_count(gql, admin, A, 30.0, "2026-03-03T07:00:00Z")
    for name in ("voidedMeasurement", "voidedTransfusion", "voidedCount"):
        await fx.void(gql, admin, ids[name])
    ids["Therapy"] = await fx.record_therapy(gql, admin, A)
    ids["HSCT"] = await fx.record_procedure(
        gql, admin, A, type="HSCT", hsctType="ALLOGENEIC", performedOn="2026-06-01", notes=None
    )
    return ids


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[dict[str, str]], dict[str, Any]]  # world ids -> the mutation's input
    typename: str
    code: str
    field: list[str]


def invalid(name: str, build: Callable[[dict[str, str]], dict[str, Any]], code: str, *field: str) -> Case:
    return Case(name, build, "InputError", code, list(field))


def conflict(name: str, build: Callable[[dict[str, str]], dict[str, Any]], code: str, *field: str) -> Case:
    return Case(name, build, "ConflictError", code, list(field))


def missing(name: str, build: Callable[[dict[str, str]], dict[str, Any]], *field: str) -> Case:
    return Case(name, build, "NotFoundError", "NOT_FOUND", list(field))


def count(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda _w: {"subjectCode": A, "valueE9PerL": 20.0, "drawnAt": "2026-03-05T09:30:00Z", **changes}


def transfusion(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    base = {
        "subjectCode": A,
        "startedAt": "2026-03-05T08:00:00Z",
        "endedAt": "2026-03-05T08:40:00Z",
        "units": [{"contentE11": 3.5}],
    }
    return lambda _w: {**base, **changes}


def post(value: float, at: str) -> dict[str, Any]:
    return {"valueE9PerL": value, "drawnAt": at}


def measurement(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda _w: {"subjectCode": A, "measuredAt": "2026-03-01T06:00:00Z", "weightKg": 64.0, **changes}


FLU = {"agent": "FLUDARABINE", "dosePerDay": 30.0, "doseUnit": "MG_PER_M2", "days": 3}


def course(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    base = {"subjectCode": A, "startDate": "2026-02-02", "endDate": "2026-02-04", "agents": [FLU]}
    return lambda _w: {**base, **changes}


def infusion(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    base = {"subjectCode": A, "product": "CD19", "infusedAt": "2026-03-12T10:00:00Z", "lotNumber": "LOT-9"}
    return lambda _w: {**base, **changes}


def amend(kind: str, reason: str = "correction", **changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    """An amend input for the world's record of `kind` (a key of the world's ids)."""
    return lambda w: {"id": w[kind], "reason": reason, **changes}


def therapy(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    base = {"subjectCode": A, "class": "TPO_RA", "name": "eltrombopag", "startDate": "2026-04-01", "ongoing": True}
    return lambda _w: {**base, **changes}


def procedure(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    base = {"subjectCode": A, "type": "HSCT", "hsctType": "ALLOGENEIC", "performedOn": "2026-07-01"}
    return lambda _w: {**base, **changes}


def subject(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda _w: {**fx.subject_input("S01-010", "S01"), **changes}


def status(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    # A is LYMPHODEPLETED (seed_records); INFUSED would be the valid next step.
    base = {"code": A, "status": "INFUSED", "effectiveDate": "2026-02-07", "reason": "CD19 given"}
    return lambda _w: {**base, **changes}


def site(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda _w: {"code": "S09", "name": "Nine", **changes}


def site_update(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda _w: {"code": "S01", "phone": "+44 20 7946 0000", "reason": "new line", **changes}


def parameters(**changes: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda _w: {"effectiveFrom": "2026-11-01", "reason": "amendment 2", **changes}


def void(record: str, reason: str = "entered in error") -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda w: {"id": w.get(record, record), "reason": reason}


NO_SUCH_COUNT = str(encode_id("PlateletCount", 999_999))
HUGE_COUNT_ID = str(encode_id("PlateletCount", 10**22))  # beyond any 32- or 64-bit key
FUTURE_CONSENT = {"consentDate": FUTURE_DAY.isoformat(), "yearOfBirth": FUTURE_DAY.year - 45}

CASES: dict[str, tuple[str, list[Case]]] = {
    "recordPlateletCount": (
        "RecordPlateletCountInput",
        [
            invalid("negative", count(valueE9PerL=-5.0), "OUT_OF_RANGE", "valueE9PerL"),
            invalid("per uL by mistake", count(valueE9PerL=35000.0), "UNIT_SUSPECT", "valueE9PerL"),
            invalid("absurd", count(valueE9PerL=1e300), "UNIT_SUSPECT", "valueE9PerL"),
            invalid("naive time", count(drawnAt=NAIVE), "INVALID_FORMAT", "drawnAt"),
            invalid("future", count(drawnAt=FUTURE), "IN_FUTURE", "drawnAt"),
            missing("unknown subject", count(subjectCode="S09-999"), "subjectCode"),
            missing("oversized subject code", count(subjectCode=LONG), "subjectCode"),
        ],
    ),
    "recordPlateletTransfusion": (
        "RecordPlateletTransfusionInput",
        [
            invalid("ended before started", transfusion(endedAt="2026-03-05T07:00:00Z"), "INVALID_ORDER", "endedAt"),
            invalid("13 hours long", transfusion(endedAt="2026-03-05T21:00:00Z"), "OUT_OF_RANGE", "endedAt"),
            invalid("content 0", transfusion(units=[{"contentE11": 0}]), "OUT_OF_RANGE", "units", "0", "contentE11"),
            invalid("content 40", transfusion(units=[{"contentE11": 40}]), "OUT_OF_RANGE", "units", "0", "contentE11"),
            invalid(
                "negative content in 2nd unit",
                transfusion(units=[{"contentE11": 3.0}, {"contentE11": -3.0}]),
                "OUT_OF_RANGE",
                *("units", "1", "contentE11"),
            ),
            invalid("no units", transfusion(units=[]), "REQUIRED", "units"),
            invalid("13 units", transfusion(units=[{"contentE11": 1.0}] * 13), "OUT_OF_RANGE", "units"),
            invalid("storage age 99 days", transfusion(storageAgeDays=99), "OUT_OF_RANGE", "storageAgeDays"),
            invalid("negative storage age", transfusion(storageAgeDays=-1), "OUT_OF_RANGE", "storageAgeDays"),
            invalid("naive start", transfusion(startedAt=NAIVE), "INVALID_FORMAT", "startedAt"),
            invalid("future", transfusion(startedAt=FUTURE, endedAt=FUTURE), "IN_FUTURE", "endedAt"),
            invalid("oversized note", transfusion(note=LONG), "TOO_LONG", "note"),
            invalid(
                "pre-count drawn after the start",
                transfusion(preCount=post(8.0, "2026-03-05T08:10:00Z")),
                "INVALID_ORDER",
                *("preCount", "drawnAt"),
            ),
            invalid(
                "negative pre-count",
                transfusion(preCount=post(-8.0, "2026-03-05T07:00:00Z")),
                "OUT_OF_RANGE",
                *("preCount", "valueE9PerL"),
            ),
            invalid(
                "naive pre-count time",
                transfusion(preCount=post(8.0, "2026-03-05T07:00:00")),
                "INVALID_FORMAT",
                *("preCount", "drawnAt"),
            ),
            invalid(
                "bad second post count",
                transfusion(
                    preCount=post(8.0, "2026-03-05T07:00:00Z"),
                    postCounts=[post(30.0, "2026-03-05T09:00:00Z"), post(35000.0, "2026-03-06T08:00:00Z")],
                ),
                "UNIT_SUSPECT",
                *("postCounts", "1", "valueE9PerL"),
            ),
            invalid(
                "post count drawn before the end",
                transfusion(postCounts=[post(30.0, "2026-03-05T08:20:00Z")]),
                "INVALID_ORDER",
                *("postCounts", "0", "drawnAt"),
            ),
            invalid(
                "11 post counts",
                transfusion(postCounts=[post(30.0, "2026-03-05T09:00:00Z")] * 11),
                "OUT_OF_RANGE",
                "postCounts",
            ),
            missing("unknown subject", transfusion(subjectCode="S09-999"), "subjectCode"),
        ],
    ),
    "amendPlateletTransfusion": (
        "AmendPlateletTransfusionInput",
        [
            invalid(
                "end before start",
                amend("PlateletTransfusion", endedAt="2026-03-01T07:00:00Z"),
                "INVALID_ORDER",
                "endedAt",
            ),
            invalid("no units", amend("PlateletTransfusion", units=[]), "REQUIRED", "units"),
            invalid(
                "content 40",
                amend("PlateletTransfusion", units=[{"contentE11": 40}]),
                "OUT_OF_RANGE",
                *("units", "0", "contentE11"),
            ),
            invalid("oversized note", amend("PlateletTransfusion", note=LONG), "TOO_LONG", "note"),
            invalid("naive start", amend("PlateletTransfusion", startedAt=NAIVE), "INVALID_FORMAT", "startedAt"),
            invalid("start cleared", amend("PlateletTransfusion", startedAt=None), "REQUIRED", "startedAt"),
            invalid("empty reason", amend("PlateletTransfusion", reason="", note="n"), "REQUIRED", "reason"),
            conflict("no change", amend("PlateletTransfusion", note="given over 30 min, no reaction"), "NO_CHANGE"),
            conflict("voided", amend("voidedTransfusion", note="late note"), "ALREADY_VOIDED", "id"),
            missing("garbage id", void("not-an-id", "correction"), "id"),
        ],
    ),
    "amendPlateletCount": (
        "AmendPlateletCountInput",
        [
            invalid("per uL by mistake", amend("PlateletCount", valueE9PerL=35000.0), "UNIT_SUSPECT", "valueE9PerL"),
            invalid("negative", amend("PlateletCount", valueE9PerL=-1.0), "OUT_OF_RANGE", "valueE9PerL"),
            invalid("value cleared", amend("PlateletCount", valueE9PerL=None), "REQUIRED", "valueE9PerL"),
            invalid("naive time", amend("PlateletCount", drawnAt=NAIVE), "INVALID_FORMAT", "drawnAt"),
            invalid("future", amend("PlateletCount", drawnAt=FUTURE), "IN_FUTURE", "drawnAt"),
            invalid("empty reason", amend("PlateletCount", reason="", valueE9PerL=13.0), "REQUIRED", "reason"),
            invalid("blank reason", amend("PlateletCount", reason="   ", valueE9PerL=13.0), "REQUIRED", "reason"),
            invalid("oversized reason", amend("PlateletCount", reason=LONG, valueE9PerL=13.0), "TOO_LONG", "reason"),
            conflict("no change", amend("PlateletCount", valueE9PerL=12.0), "NO_CHANGE"),
            conflict("voided", amend("voidedCount", valueE9PerL=31.0), "ALREADY_VOIDED", "id"),
            missing("another type's id", amend("PlateletTransfusion", valueE9PerL=13.0), "id"),
            missing("no such count", void(NO_SUCH_COUNT, "correction"), "id"),
            missing("id beyond 32 bits", void(HUGE_COUNT_ID, "correction"), "id"),
        ],
    ),
    "recordBodyMeasurement": (
        "RecordBodyMeasurementInput",
        [
            invalid("height in mm", measurement(heightCm=1700.0), "OUT_OF_RANGE", "heightCm"),
            invalid("negative weight", measurement(weightKg=-1.0), "OUT_OF_RANGE", "weightKg"),
            invalid("neither height nor weight", measurement(weightKg=None), "REQUIRED", "heightCm"),
            invalid("naive time", measurement(measuredAt=NAIVE), "INVALID_FORMAT", "measuredAt"),
            invalid("future", measurement(measuredAt=FUTURE), "IN_FUTURE", "measuredAt"),
            missing("unknown subject", measurement(subjectCode="S09-999"), "subjectCode"),
        ],
    ),
    "amendBodyMeasurement": (
        "AmendBodyMeasurementInput",
        [
            invalid("weight 3000", amend("BodyMeasurement", weightKg=3000.0), "OUT_OF_RANGE", "weightKg"),
            invalid("both cleared", amend("BodyMeasurement", heightCm=None, weightKg=None), "REQUIRED", "heightCm"),
            invalid("time cleared", amend("BodyMeasurement", measuredAt=None), "REQUIRED", "measuredAt"),
            invalid("naive time", amend("BodyMeasurement", measuredAt=NAIVE), "INVALID_FORMAT", "measuredAt"),
            invalid("empty reason", amend("BodyMeasurement", reason="", weightKg=66.0), "REQUIRED", "reason"),
            conflict("same value", amend("BodyMeasurement", weightKg=65.0), "NO_CHANGE"),
            conflict("nothing given", amend("BodyMeasurement"), "NO_CHANGE"),
            conflict("voided", amend("voidedMeasurement", weightKg=66.0), "ALREADY_VOIDED", "id"),
            missing("garbage id", void("!!not base64!!", "correction"), "id"),
            missing("another type's id", amend("PlateletCount", weightKg=66.0), "id"),
        ],
    ),
    "recordLymphodepletion": (
        "RecordLymphodepletionInput",
        [
            invalid("end before start", course(endDate="2026-02-01"), "INVALID_ORDER", "endDate"),
            invalid("20 days long", course(endDate="2026-02-22"), "OUT_OF_RANGE", "endDate"),
            invalid(
                "30 days of an agent", course(agents=[{**FLU, "days": 30}]), "OUT_OF_RANGE", *("agents", "0", "days")
            ),
            invalid(
                "dose 0", course(agents=[{**FLU, "dosePerDay": 0}]), "OUT_OF_RANGE", *("agents", "0", "dosePerDay")
            ),
            invalid(
                "absurd dose",
                course(agents=[FLU, {**FLU, "dosePerDay": 1e6}]),
                "OUT_OF_RANGE",
                *("agents", "1", "dosePerDay"),
            ),
            invalid(
                "OTHER without a name",
                course(agents=[{**FLU, "agent": "OTHER"}]),
                "REQUIRED",
                *("agents", "0", "otherName"),
            ),
            invalid(
                "oversized agent name",
                course(agents=[{**FLU, "agent": "OTHER", "otherName": LONG}]),
                "TOO_LONG",
                *("agents", "0", "otherName"),
            ),
            invalid("no agents", course(agents=[]), "REQUIRED", "agents"),
            invalid(
                "future",
                course(startDate=FUTURE_DAY.isoformat(), endDate=FUTURE_DAY.isoformat()),
                "IN_FUTURE",
                "startDate",
            ),
            missing("unknown subject", course(subjectCode="S09-999"), "subjectCode"),
        ],
    ),
    "amendLymphodepletion": (
        "AmendLymphodepletionInput",
        [
            invalid(
                "end before start", amend("LymphodepletionCourse", endDate="2026-01-01"), "INVALID_ORDER", "endDate"
            ),
            invalid("no agents", amend("LymphodepletionCourse", agents=[]), "REQUIRED", "agents"),
            invalid("start cleared", amend("LymphodepletionCourse", startDate=None), "REQUIRED", "startDate"),
            invalid(
                "empty reason", amend("LymphodepletionCourse", reason="", endDate="2026-02-05"), "REQUIRED", "reason"
            ),
            conflict("no change", amend("LymphodepletionCourse", endDate="2026-02-04"), "NO_CHANGE"),
            missing("garbage id", void("TG9s", "correction"), "id"),
        ],
    ),
    "recordCarTInfusion": (
        "RecordCarTInfusionInput",
        [
            invalid("BCMA before any CD19", infusion(subjectCode=B, product="BCMA"), "NOT_ALLOWED", "product"),
            invalid(
                "BCMA before the CD19",
                infusion(product="BCMA", infusedAt="2026-02-01T10:00:00Z"),
                "NOT_ALLOWED",
                *("product",),
            ),
            invalid("oversized lot number", infusion(lotNumber="L" * 5000), "TOO_LONG", "lotNumber"),
            invalid("empty lot number", infusion(lotNumber=""), "REQUIRED", "lotNumber"),
            invalid("blank lot number", infusion(lotNumber="   "), "REQUIRED", "lotNumber"),
            invalid("absurd dose", infusion(carPositiveCellsPerKg=1e15), "OUT_OF_RANGE", "carPositiveCellsPerKg"),
            invalid("negative dose", infusion(carPositiveCellsPerKg=-1.0), "OUT_OF_RANGE", "carPositiveCellsPerKg"),
            invalid("one cell", infusion(totalCarPositiveCells=1.0), "OUT_OF_RANGE", "totalCarPositiveCells"),
            invalid("future", infusion(infusedAt=FUTURE), "IN_FUTURE", "infusedAt"),
            invalid("naive time", infusion(infusedAt=NAIVE), "INVALID_FORMAT", "infusedAt"),
            missing("unknown subject", infusion(subjectCode="S09-999"), "subjectCode"),
        ],
    ),
    "amendCarTInfusion": (
        "AmendCarTInfusionInput",
        [
            invalid("CD19 turned into BCMA", amend("CarTInfusion", product="BCMA"), "NOT_ALLOWED", "product"),
            invalid(
                "CD19 moved after the BCMA",
                amend("CarTInfusion", infusedAt="2026-03-20T10:00:00Z"),
                "NOT_ALLOWED",
                "product",
            ),
            invalid("oversized lot number", amend("CarTInfusion", lotNumber=LONG), "TOO_LONG", "lotNumber"),
            invalid("lot number cleared", amend("CarTInfusion", lotNumber=None), "REQUIRED", "lotNumber"),
            invalid("empty reason", amend("CarTInfusion", reason="", lotNumber="LOT-2"), "REQUIRED", "reason"),
            conflict("no change", amend("CarTInfusion", lotNumber="LOT-CD19-1"), "NO_CHANGE"),
        ],
    ),
    "voidRecord": (
        "VoidRecordInput",
        [
            invalid("empty reason", void("PlateletCount", ""), "REQUIRED", "reason"),
            invalid("oversized reason", void("PlateletCount", LONG), "TOO_LONG", "reason"),
            conflict("CD19 while a BCMA exists", void("CarTInfusion"), "NOT_ALLOWED", "id"),
            conflict("already voided", void("voidedCount"), "ALREADY_VOIDED", "id"),
            missing("garbage id", void("garbage"), "id"),
            missing("a subject's id", void("SubjectB"), "id"),
            missing("no such count", void(NO_SUCH_COUNT), "id"),
            missing("id beyond 32 bits", void(HUGE_COUNT_ID), "id"),
        ],
    ),
    "enrollSubject": (
        "EnrollSubjectInput",
        [
            conflict("duplicate code", subject(code=A), "DUPLICATE", "code"),
            invalid("age 15", subject(ageAtConsent=15), "OUT_OF_RANGE", "ageAtConsent"),
            invalid("age 66", subject(ageAtConsent=66, yearOfBirth=1959), "OUT_OF_RANGE", "ageAtConsent"),
            invalid("age does not fit year of birth", subject(yearOfBirth=1990), "INVALID_ORDER", "ageAtConsent"),
            invalid("born 1850", subject(yearOfBirth=1850), "OUT_OF_RANGE", "yearOfBirth"),
            invalid("lower-case code", subject(code="s01-010"), "INVALID_FORMAT", "code"),
            invalid("code with spaces", subject(code="S01 010"), "INVALID_FORMAT", "code"),
            invalid("code of 21 characters", subject(code="S01-" + "0" * 17), "INVALID_FORMAT", "code"),
            invalid("oversized code", subject(code="S" * 5000), "INVALID_FORMAT", "code"),
            invalid("empty code", subject(code=""), "INVALID_FORMAT", "code"),
            invalid("consent in the future", subject(**FUTURE_CONSENT), "IN_FUTURE", "consentDate"),
            invalid(
                "remission in the future",
                subject(remissionDate=FUTURE_DAY.isoformat()),
                "IN_FUTURE",
                *("remissionDate",),
            ),
            invalid("enrolled as infused", subject(status="INFUSED"), "NOT_ALLOWED", "status"),
            missing("unknown site", subject(siteCode="S09"), "siteCode"),
            invalid("oversized site code", subject(siteCode=LONG), "TOO_LONG", "siteCode"),
        ],
    ),
    "amendSubject": (
        "AmendSubjectInput",
        [
            invalid("empty reason", lambda _w: {"code": A, "reason": "", "aboGroup": "B"}, "REQUIRED", "reason"),
            invalid(
                "age 70", lambda _w: {"code": A, "reason": "r", "ageAtConsent": 70}, "OUT_OF_RANGE", *("ageAtConsent",)
            ),
            invalid("sex cleared", lambda _w: {"code": A, "reason": "r", "sex": None}, "REQUIRED", "sex"),
            invalid(
                "remission in the future",
                lambda _w: {"code": A, "reason": "r", "remissionDate": FUTURE_DAY.isoformat()},
                "IN_FUTURE",
                "remissionDate",
            ),
            conflict("no change", lambda _w: {"code": A, "reason": "r", "sex": "FEMALE"}, "NO_CHANGE"),
            missing("unknown subject", lambda _w: {"code": "S09-999", "reason": "r", "aboGroup": "B"}, "code"),
        ],
    ),
    "changeSubjectStatus": (
        "ChangeSubjectStatusInput",
        [
            conflict("skip to completed", status(status="COMPLETED"), "INVALID_TRANSITION", "status"),
            conflict("same status", status(status="LYMPHODEPLETED"), "INVALID_TRANSITION", "status"),
            conflict("back to screening", status(status="SCREENING"), "INVALID_TRANSITION", "status"),
            invalid("empty reason", status(reason=""), "REQUIRED", "reason"),
            invalid("oversized reason", status(reason=LONG), "TOO_LONG", "reason"),
            invalid("future", status(effectiveDate=FUTURE_DAY.isoformat()), "IN_FUTURE", "effectiveDate"),
            invalid("before consent", status(effectiveDate="2025-12-31"), "INVALID_ORDER", "effectiveDate"),
            missing("unknown subject", status(code="S09-999"), "code"),
        ],
    ),
    "issueDeviceActivation": (
        "IssueDeviceActivationInput",
        [
            missing("no such subject", lambda _w: {"subjectCode": "S01-999"}, "subjectCode"),
            missing("empty subject code", lambda _w: {"subjectCode": ""}, "subjectCode"),
            missing("huge subject code", lambda _w: {"subjectCode": "S" * 100_000}, "subjectCode"),
            invalid("NUL in subject code", lambda _w: {"subjectCode": "S01\u0000001"}, "INVALID_FORMAT", "subjectCode"),
        ],
    ),
    "revokeDeviceActivations": (
        "RevokeDeviceActivationsInput",
        [
            missing("no such subject", lambda _w: {"subjectCode": "S01-999", "reason": "lost"}, "subjectCode"),
            invalid("empty reason", lambda _w: {"subjectCode": A, "reason": ""}, "REQUIRED", "reason"),
            invalid("oversized reason", lambda _w: {"subjectCode": A, "reason": LONG}, "TOO_LONG", "reason"),
            conflict("no unused code", lambda _w: {"subjectCode": A, "reason": "lost"}, "NO_CHANGE", "subjectCode"),
        ],
    ),
    "createSite": (
        "CreateSiteInput",
        [
            conflict("duplicate code", site(code="S01"), "DUPLICATE", "code"),
            invalid("empty code", site(code=""), "REQUIRED", "code"),
            invalid("blank name", site(name="  "), "REQUIRED", "name"),
            invalid("oversized code", site(code="S" * 33), "TOO_LONG", "code"),
            invalid("oversized name", site(name=LONG), "TOO_LONG", "name"),
        ],
    ),
    "updateSite": (
        "UpdateSiteInput",
        [
            invalid("empty reason", site_update(reason=" "), "REQUIRED", "reason"),
            invalid("letters in the phone", site_update(phone="call 0800 123"), "INVALID_FORMAT", "phone"),
            invalid("short phone", site_update(phone="+12345"), "INVALID_FORMAT", "phone"),
            invalid("blank name", site_update(name="  "), "REQUIRED", "name"),
            invalid("oversized name", site_update(name=LONG), "TOO_LONG", "name"),
            missing("unknown site", site_update(code="S09"), "code"),
            conflict("nothing changes", site_update(phone=None), "NO_CHANGE"),
        ],
    ),
    "recordTherapy": (
        "RecordTherapyInput",
        [
            invalid("ends before it starts", therapy(ongoing=False, endDate="2026-03-31"), "INVALID_ORDER", "endDate"),
            invalid("dose without a unit", therapy(dose=50.0), "REQUIRED", "doseUnit"),
            invalid("negative dose", therapy(dose=-5.0, doseUnit="MG"), "OUT_OF_RANGE", "dose"),
            invalid("OTHER without a name", therapy(**{"class": "OTHER", "name": " "}), "REQUIRED", "name"),
            invalid("neither end nor ongoing", therapy(ongoing=False), "REQUIRED", "endDate"),
            invalid("ongoing with an end", therapy(endDate="2026-04-05"), "NOT_ALLOWED", "ongoing"),
            invalid("starts in the future", therapy(startDate=FUTURE_DAY.isoformat()), "IN_FUTURE", "startDate"),
            invalid("oversized name", therapy(name=LONG), "TOO_LONG", "name"),
            invalid("oversized indication", therapy(indication=LONG * 2), "TOO_LONG", "indication"),
            missing("unknown subject", therapy(subjectCode="S09-999"), "subjectCode"),
        ],
    ),
    "amendTherapy": (
        "AmendTherapyInput",
        [
            invalid("empty reason", amend("Therapy", reason=" ", dose=2.0), "REQUIRED", "reason"),
            invalid("end before start", amend("Therapy", endDate="2026-02-01"), "INVALID_ORDER", "endDate"),
            invalid("unit cleared, dose kept", amend("Therapy", doseUnit=None), "REQUIRED", "doseUnit"),
            invalid("class cleared", amend("Therapy", **{"class": None}), "REQUIRED", "class"),
            conflict("no change", amend("Therapy", name="IVIG"), "NO_CHANGE"),
            missing("another type's id", amend("PlateletCount", dose=2.0), "id"),
        ],
    ),
    "recordProcedure": (
        "RecordProcedureInput",
        [
            invalid("HSCT before consent", procedure(performedOn="2025-12-20"), "INVALID_ORDER", "performedOn"),
            conflict("second HSCT on the same date", procedure(performedOn="2026-06-01"), "DUPLICATE", "performedOn"),
            invalid("HSCT without its type", procedure(hsctType=None), "REQUIRED", "hsctType"),
            invalid("splenectomy with an HSCT type", procedure(type="SPLENECTOMY"), "NOT_ALLOWED", *("hsctType",)),
            invalid("in the future", procedure(performedOn=FUTURE_DAY.isoformat()), "IN_FUTURE", "performedOn"),
            invalid("oversized notes", procedure(notes=LONG * 2), "TOO_LONG", "notes"),
            missing("unknown subject", procedure(subjectCode="S09-999"), "subjectCode"),
        ],
    ),
    "amendProcedure": (
        "AmendProcedureInput",
        [
            invalid("empty reason", amend("HSCT", reason="", performedOn="2026-06-02"), "REQUIRED", "reason"),
            invalid("moved before consent", amend("HSCT", performedOn="2025-12-01"), "INVALID_ORDER", "performedOn"),
            invalid("type cleared", amend("HSCT", type=None), "REQUIRED", "type"),
            conflict("no change", amend("HSCT", performedOn="2026-06-01"), "NO_CHANGE"),
            missing("another type's id", amend("Therapy", performedOn="2026-06-02"), "id"),
        ],
    ),
    "amendProtocolParameters": (
        "AmendProtocolParametersInput",
        [
            invalid("empty reason", parameters(reason="", cciEarlyThresholdPerUl=5000.0), "REQUIRED", "reason"),
            invalid(
                "negative threshold",
                parameters(cciEarlyThresholdPerUl=-1.0),
                "OUT_OF_RANGE",
                "cciEarlyThresholdPerUl",
            ),
            invalid(
                "early window min after max",
                parameters(earlyWindowMinMinutes=90),
                "OUT_OF_RANGE",
                *("earlyWindowMaxMinutes",),
            ),
            invalid("threshold cleared", parameters(cciEarlyThresholdPerUl=None), "REQUIRED", "cciEarlyThresholdPerUl"),
            invalid(
                "before the current version",
                parameters(effectiveFrom="2000-01-01", cciEarlyThresholdPerUl=5000.0),
                "INVALID_ORDER",
                "effectiveFrom",
            ),
            conflict("no change", parameters(), "NO_CHANGE"),
        ],
    ),
}


def test_every_mutation_has_bad_input_cases(settings):
    """A new mutation fails this test until it has cases here (or, knowingly, is listed as pending)."""
    # given
    from graphql import build_schema as parse_sdl

    from server.schema.schema import build_schema

    from .test_authorization import NOT_YET_IN_MATRIX

    # when
    mutations = parse_sdl(build_schema(settings).as_str()).mutation_type
    # then
    assert mutations is not None and set(mutations.fields) == set(CASES) | NOT_YET_IN_MATRIX["mutations"]


@pytest.mark.parametrize("mutation", list(CASES))
async def test_bad_input_gets_a_typed_error_and_writes_nothing(gql, token, app, world, mutation):
    # given
    input_type, cases = CASES[mutation]
    actor = token("admin") if mutation in ADMIN_ONLY else token("coordinator", "S01")
    admin = token("admin")
    before = await fx.snapshot(gql, admin, app)
    expected: dict[str, Any] = {}
    actual: dict[str, Any] = {}
    written: list[str] = []
    for case in cases:
        # when
        result = await fx.mutate(
            gql, actor, mutation, input_type, case.build(world), "... on InputError { problems { code field } }"
        )
        # then
        expected[case.name] = (case.typename, case.code, case.field, True)
        headline_listed = result.get("problems", [{"code": result.get("code"), "field": result.get("field")}])
        actual[case.name] = (
            result["__typename"],
            result.get("code"),
            result.get("field"),
            {"code": result.get("code"), "field": result.get("field")} in headline_listed,
        )
        if await fx.snapshot(gql, admin, app) != before:
            written.append(case.name)
            before = await fx.snapshot(gql, admin, app)
    assert actual == expected
    assert written == []


async def test_bad_post_count_writes_neither_transfusion_nor_counts(gql, token, app, world):
    # given
    rows = await fx.table_row_counts(app)
    variables = transfusion(
        preCount=post(8.0, "2026-03-05T07:00:00Z"),
        postCounts=[post(30.0, "2026-03-05T09:00:00Z"), post(-1.0, "2026-03-06T08:00:00Z")],
    )(world)
    # when
    result = await fx.mutate(
        gql,
        token("coordinator", "S01"),
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        variables,
        "... on InputError { problems { code field } }",
    )
    # then
    assert result["problems"] == [{"code": "OUT_OF_RANGE", "field": ["postCounts", "1", "valueE9PerL"]}]
    assert await fx.table_row_counts(app) == rows
    # and the same form, corrected, is accepted with its three counts
    variables["postCounts"][1]["valueE9PerL"] = 18.0
    saved = await fx.mutate(
        gql,
        token("coordinator", "S01"),
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        variables,
        "... on PlateletTransfusionSuccess { counts { valueE9PerL } }",
    )
    assert saved["counts"] == [{"valueE9PerL": 8.0}, {"valueE9PerL": 30.0}, {"valueE9PerL": 18.0}]
    after = await fx.table_row_counts(app)
    assert (after["platelet_transfusion"], after["platelet_count"]) == (
        rows["platelet_transfusion"] + 1,
        rows["platelet_count"] + 3,
    )


async def test_every_problem_is_listed(gql, token, app, world):
    # given: three things wrong at once
    variables = transfusion(endedAt="2026-03-05T07:00:00Z", units=[{"contentE11": 40}], note=LONG)(world)
    # when
    result = await fx.mutate(
        gql,
        token("coordinator", "S01"),
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        variables,
        "... on InputError { problems { code field } }",
    )
    # then
    assert (result["code"], result["field"]) == ("INVALID_ORDER", ["endedAt"])
    assert result["problems"] == [
        {"code": "INVALID_ORDER", "field": ["endedAt"]},
        {"code": "OUT_OF_RANGE", "field": ["units", "0", "contentE11"]},
        {"code": "TOO_LONG", "field": ["note"]},
    ]


# ---------------------------------------------------------------------------------------------
# Input GraphQL itself refuses (wrong enum, wrong type): an error in `errors`, never a 500.

SCHEMA_ERRORS = [
    ("enum value in variables", "enrollSubject", "EnrollSubjectInput", {"sex": "FEMAL"}),
    (
        "enum value of a nested input",
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        {"units": [{"kind": "BAG"}]},
    ),
    ("string for a number", "recordPlateletCount", "RecordPlateletCountInput", {"valueE9PerL": "lots"}),
    ("int beyond 32 bits", "enrollSubject", "EnrollSubjectInput", {"yearOfBirth": 99_999_999_999}),
    ("not a date", "enrollSubject", "EnrollSubjectInput", {"consentDate": "10/01/2026"}),
    ("not a date-time", "recordPlateletCount", "RecordPlateletCountInput", {"drawnAt": "yesterday"}),
    ("missing required field", "recordPlateletCount", "RecordPlateletCountInput", {"valueE9PerL": None}),
    ("unknown therapy class", "recordTherapy", "RecordTherapyInput", {"class": "HERBAL_REMEDY"}),
    ("unknown procedure type", "recordProcedure", "RecordProcedureInput", {"type": "TONSILLECTOMY"}),
]
VALID = {
    "enrollSubject": lambda w: fx.subject_input("S01-010", "S01"),
    "recordPlateletTransfusion": transfusion(),
    "recordPlateletCount": count(),
    "recordTherapy": therapy(),
    "recordProcedure": procedure(),
}


@pytest.mark.parametrize(("name", "mutation", "input_type", "bad"), SCHEMA_ERRORS, ids=[c[0] for c in SCHEMA_ERRORS])
async def test_input_the_schema_refuses_is_an_error_not_a_500(
    gql, token, app, client, world, name, mutation, input_type, bad
):
    # given
    before = await fx.snapshot(gql, token("admin"), app)
    variables = {"input": {**VALID[mutation](world), **bad}}
    query = f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ __typename }} }}"
    # when
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token('coordinator', 'S01')}"},
    )
    # then
    assert response.status_code in (200, 400)
    body = response.json()
    assert body.get("data") is None
    assert len(body["errors"]) == 1 and "$input" in body["errors"][0]["message"]
    assert await fx.snapshot(gql, token("admin"), app) == before


async def test_enum_literal_in_the_query_is_a_validation_error(gql, token, app, client, world):
    # given
    before = await fx.snapshot(gql, token("admin"), app)
    query = f"""mutation {{ recordCarTInfusion(input: {{subjectCode: "{A}", product: CD20,
      infusedAt: "2026-03-12T10:00:00Z", lotNumber: "L1"}}) {{ __typename }} }}"""
    # when
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token('admin')}"}
    )
    # then
    assert response.status_code in (200, 400)
    assert response.json()["data"] is None
    assert "CD20" in response.json()["errors"][0]["message"]
    assert await fx.snapshot(gql, token("admin"), app) == before


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ("first: 100000", "first"),
        ("first: 0", "first"),
        ("first: -1", "first"),
        ('after: "garbage"', "after"),
        (f'after: "{encode_id("Subject", 1)}"', "after"),
        (f'after: "{encode_id("cursor", 10**22)}"', "after"),
        ("last: 0", "last"),
        ("last: 1000", "last"),
        ('before: "garbage"', "before"),
        (f'before: "{encode_id("Subject", 1)}"', "before"),
    ],
)
async def test_bad_page_arguments_are_clear_errors(gql, token, world, arguments, field):
    # when
    subjects = await gql(token("admin"), f"{{ subjects({arguments}) {{ totalCount }} }}")
    audit = await gql(token("admin"), f"{{ auditEvents({arguments}) {{ edges {{ cursor }} }} }}")
    # then
    for body in (subjects, audit):
        assert body["data"] is None
        assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [
            ("BAD_USER_INPUT", [field])
        ]
    assert "100" in subjects["errors"][0]["message"] or field in ("after", "before")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ('recordId: "garbage"', "recordId"),
        (f'recordId: "{HUGE_COUNT_ID}"', "recordId"),
        ('since: "2026-01-01T00:00:00"', "since"),
        ('until: "2026-12-01T00:00:00"', "until"),
    ],
)
async def test_bad_audit_filters_are_clear_errors(gql, token, world, arguments, field):
    # when
    body = await gql(token("admin"), f"{{ auditEvents({arguments}) {{ edges {{ cursor }} }} }}")
    # then
    assert body["data"] is None
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": [field]}]


async def test_audit_filter_times_with_an_offset_are_accepted(gql, token, world):
    # when
    data = await gql.data(
        token("admin"),
        '{ auditEvents(since: "2000-01-01T00:00:00+02:00", until: "2000-01-02T00:00:00Z") { edges { cursor } } }',
    )
    # then
    assert data == {"auditEvents": {"edges": []}}


@pytest.mark.parametrize("global_id", ["garbage", "", NO_SUCH_COUNT, HUGE_COUNT_ID, str(encode_id("Nothing", 1))])
async def test_node_of_an_unknown_id_is_null(gql, token, world, global_id):
    # when
    data = await gql.data(token("admin"), "query($id: ID!) { node(id: $id) { id } }", {"id": global_id})
    # then
    assert data == {"node": None}
