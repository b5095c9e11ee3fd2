"""The authorization matrix (DESIGN.md rule 7): each role against each operation, on a subject of
its own site and of another site, with the outcome written out in tables below.

World: sites S01 and S02; subjects S01-001 (the patient's own), S01-002 (same site, another
subject) and S02-001 (another site), each with one record of every kind. Site-bound tokens are
for S01.

- patient: reads their own subject only; writes nothing.
- coordinator, investigator: read and write their sites' subjects; another site's subject is
  reported as not found (its code does not leak).
- monitor: reads their sites, and the audit trail of their sites only; writes nothing.
- analyst: reads all sites, never free text (transfusion note, status-change reason); writes nothing.
- admin: everything.
Adverse-event records are never a patient's, not even their own subject's (attribution,
expectedness and causality are the investigators'): the patient reads each diary report's review
status instead.
A refused write leaves every table and the audit trail as they were.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from tests.api import fixtures_data as fx

ROLES = ["patient", "coordinator", "investigator", "monitor", "analyst", "admin"]
OWN, SAME_SITE, OTHER_SITE = "S01-001", "S01-002", "S02-001"
TARGETS = [OWN, SAME_SITE, OTHER_SITE]
NOTE = "given over 30 min, no reaction"
STATUS_REASON = "lymphodepletion started"


def role_token(token: Any, role: str) -> str:
    if role == "patient":
        return token("patient", subject=OWN)
    if role in ("coordinator", "investigator", "monitor"):
        return token(role, "S01")
    return token(role)


# Which subjects each role may read (in enrolment order) and which sites it sees.
READABLE = {
    "patient": [OWN],
    "coordinator": [OWN, SAME_SITE],
    "investigator": [OWN, SAME_SITE],
    "monitor": [OWN, SAME_SITE],
    "analyst": [OWN, SAME_SITE, OTHER_SITE],
    "admin": [OWN, SAME_SITE, OTHER_SITE],
}
SITES_SEEN = {
    "patient": ["S01"],
    "coordinator": ["S01"],
    "investigator": ["S01"],
    "monitor": ["S01"],
    "analyst": ["S01", "S02"],
    "admin": ["S01", "S02"],
}


@pytest.fixture
async def world(gql: Any, token: Any) -> dict[str, dict[str, str]]:
    """{subject code: {type name: global id}}; "void" is an extra platelet count to void."""
    admin = token("admin")
    ids: dict[str, dict[str, str]] = {}
    sites = {"S01": await fx.create_site(gql, admin, "S01"), "S02": await fx.create_site(gql, admin, "S02")}
    for code in TARGETS:
        site = code[:3]
        subject_id = await fx.enroll_subject(gql, admin, code, site)
        ids[code] = {"Subject": subject_id, "Site": sites[site], **await fx.seed_records(gql, admin, code)}
        ids[code]["void"] = await fx.record_count(gql, admin, code, value=40.0, at="2026-03-02T07:00:00Z")
        ids[code]["Therapy"] = await fx.record_therapy(gql, admin, code)
        ids[code]["Procedure"] = await fx.record_procedure(gql, admin, code)
    return ids


# ---------------------------------------------------------------------------------------------
# Writes: every mutation x role x target.

OK = "OK"
DENIED = ("PermissionDeniedError", "PERMISSION_DENIED", [])


def not_found(field: str) -> tuple[str, str, list[str]]:
    return ("NotFoundError", "NOT_FOUND", [field])


# A write on a subject: (role) -> outcome per target. `ref` is the input field naming the subject.
def subject_write(role: str, target: str, ref: str) -> Any:
    if role in ("patient", "monitor", "analyst"):
        return DENIED
    if role == "admin":
        return OK
    return not_found(ref) if target == OTHER_SITE else OK


def enrol_write(role: str, target: str, _ref: str) -> Any:
    """Enrolment is refused at a site you do not staff (a site code is no secret)."""
    if role in ("patient", "monitor", "analyst"):
        return DENIED
    if role == "admin":
        return OK
    return DENIED if target == OTHER_SITE else OK


def admin_only(role: str, _target: str, _ref: str) -> Any:
    return OK if role == "admin" else DENIED


Build = Callable[[str, dict[str, str], int], dict[str, Any]]
# name: (input type, input builder (target code, target's ids, unique n), subject field, expectation)
WRITES: dict[str, tuple[str, Build, str, Callable[[str, str, str], Any]]] = {
    "enrollSubject": (
        "EnrollSubjectInput",
        lambda code, _ids, n: fx.subject_input(f"{code[:3]}-N{n}", code[:3]),
        "siteCode",
        enrol_write,
    ),
    "amendSubject": (
        "AmendSubjectInput",
        lambda code, _ids, _n: {"code": code, "reason": "blood group typed", "aboGroup": "B"},
        "code",
        subject_write,
    ),
    "changeSubjectStatus": (
        "ChangeSubjectStatusInput",
        lambda code, _ids, _n: {"code": code, "status": "INFUSED", "effectiveDate": "2026-02-07", "reason": "CD19"},
        "code",
        subject_write,
    ),
    "createSite": ("CreateSiteInput", lambda _c, _ids, n: {"code": f"X{n}", "name": "New site"}, "code", admin_only),
    # Admins, and the site's coordinators and investigators; another site's code is not found.
    "updateSite": (
        "UpdateSiteInput",
        lambda code, _ids, n: {"code": code[:3], "phone": f"+44 20 7946 {n:04d}", "reason": "new line"},
        "code",
        subject_write,
    ),
    "amendProtocolParameters": (
        "AmendProtocolParametersInput",
        lambda _c, _ids, n: {
            "effectiveFrom": "2026-11-01",
            "reason": "amendment 2",
            "cciEarlyThresholdPerUl": 5000 + n,
        },
        "",
        admin_only,
    ),
    "recordBodyMeasurement": (
        "RecordBodyMeasurementInput",
        lambda code, _ids, _n: {"subjectCode": code, "measuredAt": "2026-03-01T06:00:00Z", "weightKg": 64.0},
        "subjectCode",
        subject_write,
    ),
    "amendBodyMeasurement": (
        "AmendBodyMeasurementInput",
        lambda _c, ids, _n: {"id": ids["BodyMeasurement"], "reason": "scale error", "weightKg": 66.0},
        "id",
        subject_write,
    ),
    "recordLymphodepletion": (
        "RecordLymphodepletionInput",
        lambda code, _ids, _n: {
            "subjectCode": code,
            "startDate": "2026-02-02",
            "endDate": "2026-02-04",
            "agents": [{"agent": "FLUDARABINE", "dosePerDay": 30.0, "doseUnit": "MG_PER_M2", "days": 3}],
        },
        "subjectCode",
        subject_write,
    ),
    "amendLymphodepletion": (
        "AmendLymphodepletionInput",
        lambda _c, ids, _n: {"id": ids["LymphodepletionCourse"], "reason": "one more day", "endDate": "2026-02-05"},
        "id",
        subject_write,
    ),
    "recordCarTInfusion": (
        "RecordCarTInfusionInput",
        lambda code, _ids, _n: {
            "subjectCode": code,
            "product": "BCMA",
            "infusedAt": "2026-03-10T10:00:00Z",
            "lotNumber": "LOT-BCMA-1",
        },
        "subjectCode",
        subject_write,
    ),
    "amendCarTInfusion": (
        "AmendCarTInfusionInput",
        lambda _c, ids, _n: {"id": ids["CarTInfusion"], "reason": "lot misread", "lotNumber": "LOT-CD19-2"},
        "id",
        subject_write,
    ),
    "recordPlateletTransfusion": (
        "RecordPlateletTransfusionInput",
        lambda code, _ids, _n: {
            "subjectCode": code,
            "startedAt": "2026-03-05T08:00:00Z",
            "endedAt": "2026-03-05T08:40:00Z",
            "units": [{"contentE11": 3.5}],
        },
        "subjectCode",
        subject_write,
    ),
    "amendPlateletTransfusion": (
        "AmendPlateletTransfusionInput",
        lambda _c, ids, _n: {"id": ids["PlateletTransfusion"], "reason": "note added", "note": "chills at 20 min"},
        "id",
        subject_write,
    ),
    "recordPlateletCount": (
        "RecordPlateletCountInput",
        lambda code, _ids, _n: {"subjectCode": code, "valueE9PerL": 20.0, "drawnAt": "2026-03-05T09:30:00Z"},
        "subjectCode",
        subject_write,
    ),
    "amendPlateletCount": (
        "AmendPlateletCountInput",
        lambda _c, ids, _n: {"id": ids["PlateletCount"], "reason": "lab corrected", "valueE9PerL": 13.0},
        "id",
        subject_write,
    ),
    "voidRecord": (
        "VoidRecordInput",
        lambda _c, ids, _n: {"id": ids["void"], "reason": "duplicate entry"},
        "id",
        subject_write,
    ),
    "recordTherapy": (
        "RecordTherapyInput",
        lambda code, _ids, _n: {"subjectCode": code, "class": "TPO_RA", "startDate": "2026-03-01", "ongoing": True},
        "subjectCode",
        subject_write,
    ),
    "amendTherapy": (
        "AmendTherapyInput",
        lambda _c, ids, n: {"id": ids["Therapy"], "reason": "dose corrected", "dose": 1.0 + n / 100},
        "id",
        subject_write,
    ),
    "recordProcedure": (
        "RecordProcedureInput",
        lambda code, _ids, n: {"subjectCode": code, "type": "SPLENECTOMY", "performedOn": f"2025-01-{n % 28 + 1:02d}"},
        "subjectCode",
        subject_write,
    ),
    "amendProcedure": (
        "AmendProcedureInput",
        lambda _c, ids, n: {
            "id": ids["Procedure"],
            "reason": "date corrected",
            "performedOn": f"2024-06-{n % 28 + 1:02d}",
        },
        "id",
        subject_write,
    ),
    "issueDeviceActivation": (
        "IssueDeviceActivationInput",
        lambda code, _ids, _n: {"subjectCode": code},
        "subjectCode",
        subject_write,
    ),
    # Runs after issueDeviceActivation: an allowed role cancels the code it has just issued.
    "revokeDeviceActivations": (
        "RevokeDeviceActivationsInput",
        lambda code, _ids, _n: {"subjectCode": code, "reason": "code given to the wrong patient"},
        "subjectCode",
        subject_write,
    ),
}


QUERIES = {
    "viewer",
    "trial",
    "sites",
    "subjects",
    "subject",
    "node",
    "auditEvents",
    "adverseEvents",
    "adverseEventSummary",
    "therapies",
    "protocolDeviations",
}
# Safety operations (adverse events, bleeding diary, alerts) arrived after this matrix was written:
# their role rules are not in the tables above yet. Move each into the tables when it is covered.
# Operations whose role rules are tested in their own files (test_bleeding_diary.py,
# test_adverse_events.py, test_lab_results.py) rather than in the tables here.
NOT_YET_IN_MATRIX = {
    "queries": {"alerts", "myBleedingReports"},
    "mutations": {
        "acknowledgeAlert",
        "annotateBleedingReport",
        "reportAdverseEvent",
        "resolveAdverseEvent",
        "reviewAdverseEvent",
        "submitBleedingReport",
        "updateAdverseEvent",
        "recordLabResults",
        "recordAntibodyTest",
        "revokeDevice",  # needs a redeemed device: tests/api/test_devices.py
    },
}


def test_every_operation_of_the_schema_is_in_the_matrix(settings):
    """A new query or mutation fails this test until it is added to the tables here (or, knowingly,
    to NOT_YET_IN_MATRIX)."""
    # given
    from graphql import build_schema as parse_sdl

    from server.schema.schema import build_schema

    # when
    schema = parse_sdl(build_schema(settings).as_str())
    # then
    assert schema.mutation_type is not None and schema.query_type is not None
    assert set(schema.mutation_type.fields) == set(WRITES) | NOT_YET_IN_MATRIX["mutations"]
    assert set(schema.query_type.fields) == QUERIES | NOT_YET_IN_MATRIX["queries"]


def _outcome(result: dict[str, Any]) -> Any:
    if result["__typename"].endswith("Success") or result["__typename"] in (
        "DeviceActivationIssued",
        "DeviceActivationsRevoked",
    ):
        return OK
    return (result["__typename"], result["code"], result["field"])


@pytest.mark.parametrize("role", ROLES)
async def test_write_matrix(gql, token, app, world, role):
    # given
    actor = role_token(token, role)
    admin = token("admin")
    counter = itertools.count(1)
    expected: dict[tuple[str, str], Any] = {}
    actual: dict[tuple[str, str], Any] = {}
    side_effects: list[str] = []
    before = await fx.snapshot(gql, admin, app)
    for (name, (input_type, build, ref, expect)), target in itertools.product(WRITES.items(), TARGETS):
        expected[(name, target)] = expect(role, target, ref)
        # when
        result = await fx.mutate(gql, actor, name, input_type, build(target, world[target], next(counter)), "")
        # then
        actual[(name, target)] = _outcome(result)
        after = await fx.snapshot(gql, admin, app)
        if actual[(name, target)] == OK:
            if (
                len(after["audit"]) != len(before["audit"]) + 1
                or after["audit"][: len(before["audit"])] != before["audit"]
            ):
                side_effects.append(f"{name} on {target}: an allowed write must append exactly one audit row")
        elif after != before:
            side_effects.append(f"{name} on {target}: refused, yet something was written")
        before = after
    assert actual == expected
    assert side_effects == []


async def test_enrolment_by_a_site_bound_token_without_sites_is_refused(gql, token, app, world):
    # given
    before = await fx.snapshot(gql, token("admin"), app)
    # when
    result = await fx.mutate(
        gql, token("coordinator"), "enrollSubject", "EnrollSubjectInput", fx.subject_input("S01-077", "S01"), ""
    )
    record = await fx.mutate(
        gql,
        token("coordinator"),
        "recordPlateletCount",
        "RecordPlateletCountInput",
        {"subjectCode": OWN, "valueE9PerL": 20.0, "drawnAt": "2026-03-05T09:30:00Z"},
        "",
    )
    # then
    assert _outcome(result) == DENIED
    assert _outcome(record) == not_found("subjectCode")
    assert await fx.snapshot(gql, token("admin"), app) == before


# ---------------------------------------------------------------------------------------------
# Reads: one subject by code, every node by id, every nested relation.

NODE_TYPES = [
    "Subject",
    "BodyMeasurement",
    "LymphodepletionCourse",
    "CarTInfusion",
    "PlateletTransfusion",
    "PlateletCount",
]
READ_ONE = f"""query($code: String!, {", ".join(f"${t}: ID!" for t in NODE_TYPES)}) {{
  subject(code: $code) {{ {fx.SUBJECT_VIEW} }}
  {" ".join(f"{t}: node(id: ${t}) {{ __typename id }}" for t in NODE_TYPES)}
}}"""


@pytest.mark.parametrize("role", ROLES)
async def test_read_matrix(gql, token, world, role):
    # given
    actor = role_token(token, role)
    admin = token("admin")
    expected: dict[tuple[str, str], Any] = {}
    actual: dict[tuple[str, str], Any] = {}
    for target in TARGETS:
        variables = {"code": target, **{t: world[target][t] for t in NODE_TYPES}}
        full = await gql.data(admin, READ_ONE, variables)
        visible = target in READABLE[role]
        # when
        data = await gql.data(actor, READ_ONE, variables)
        # then
        for field in ["subject", *NODE_TYPES]:
            actual[(field, target)] = data[field]
            expected[(field, target)] = full[field] if visible else None
    if role == "analyst":  # the same rows, without free text
        for target in TARGETS:
            view = expected[("subject", target)]
            view["transfusions"][0]["note"] = None
            for change in view["statusHistory"]:
                change["reason"] = None
            view["therapies"][0]["indication"] = None
            view["procedures"][0]["notes"] = None
    assert actual == expected


async def test_admin_view_of_a_seeded_subject_has_every_relation(gql, token, world):
    # when
    data = await gql.data(token("admin"), READ_ONE, {"code": OWN, **{t: world[OWN][t] for t in NODE_TYPES}})
    # then
    subject = data["subject"]
    assert subject["site"] == {"code": "S01"}
    assert [c["reason"] for c in subject["statusHistory"]] == [None, STATUS_REASON]
    assert [len(subject[r]) for r in ("measurements", "lymphodepletions", "infusions", "transfusions")] == [1, 1, 1, 1]
    assert len(subject["plateletCounts"]) == 2
    assert subject["transfusions"][0]["note"] == NOTE
    assert {t: data[t]["__typename"] for t in NODE_TYPES} == {t: t for t in NODE_TYPES}


LISTS = """query($sites: [String!], $s1: ID!, $s2: ID!) {
  all: subjects(first: 100) { totalCount edges { node { code site { code } } } }
  site2: subjects(first: 100, siteCodes: $sites) { totalCount edges { node { code } } }
  sites { code }
  s1: node(id: $s1) { id }
  s2: node(id: $s2) { id }
  trial {
    primaryEndpoint(population: INFUSED) { subjects }
    primaryEndpointBySite(population: INFUSED) { site { code } endpoint { subjects } }
  }
}"""


@pytest.mark.parametrize("role", ROLES)
async def test_lists_sites_and_counts_are_filtered_in_sql(gql, token, world, role):
    """Counts can only come out right if the filter is in the query, not applied to rows afterwards."""
    # given: every seeded subject has had its CD19 infusion
    s1, s2 = world[OWN]["Site"], world[OTHER_SITE]["Site"]
    readable = READABLE[role]
    at_site_2 = [c for c in readable if c.startswith("S02")]
    # when
    data = await gql.data(role_token(token, role), LISTS, {"sites": ["S02"], "s1": s1, "s2": s2})
    # then
    assert data["all"]["totalCount"] == len(readable)
    assert [(e["node"]["code"], e["node"]["site"]["code"]) for e in data["all"]["edges"]] == [
        (c, c[:3]) for c in readable
    ]
    assert data["site2"] == {"totalCount": len(at_site_2), "edges": [{"node": {"code": c}} for c in at_site_2]}
    assert [s["code"] for s in data["sites"]] == SITES_SEEN[role]
    assert data["s1"] == {"id": s1}
    assert data["s2"] == ({"id": s2} if "S02" in SITES_SEEN[role] else None)
    assert data["trial"]["primaryEndpoint"] == {"subjects": len(readable)}
    assert [(s["site"]["code"], s["endpoint"]["subjects"]) for s in data["trial"]["primaryEndpointBySite"]] == [
        (code, sum(c.startswith(code) for c in readable)) for code in SITES_SEEN[role]
    ]


async def test_subjects_pages_count_only_the_coordinators_site(gql, token, world):
    # given: more subjects at the other site than at the coordinator's
    admin = token("admin")
    for n in range(2, 6):
        await fx.enroll_subject(gql, admin, f"S02-00{n}", "S02")
    query = """query($after: String) {
      subjects(first: 1, after: $after) { totalCount edges { node { code } } pageInfo { hasNextPage endCursor } }
    }"""
    coordinator = token("coordinator", "S01")
    # when
    first = (await gql.data(coordinator, query))["subjects"]
    second = (await gql.data(coordinator, query, {"after": first["pageInfo"]["endCursor"]}))["subjects"]
    # then
    assert first["totalCount"] == 2
    assert [e["node"]["code"] for e in first["edges"] + second["edges"]] == [OWN, SAME_SITE]
    assert second["pageInfo"]["hasNextPage"] is False
    assert (await gql.data(admin, query))["subjects"]["totalCount"] == 7


VIEWERS = {
    "patient": {"role": "PATIENT", "sites": [], "subjectCode": OWN},
    "coordinator": {"role": "COORDINATOR", "sites": ["S01"], "subjectCode": None},
    "investigator": {"role": "INVESTIGATOR", "sites": ["S01"], "subjectCode": None},
    "monitor": {"role": "MONITOR", "sites": ["S01"], "subjectCode": None},
    "analyst": {"role": "ANALYST", "sites": [], "subjectCode": None},
    "admin": {"role": "ADMIN", "sites": [], "subjectCode": None},
}


@pytest.mark.parametrize("role", ROLES)
async def test_viewer_and_trial_for_every_role(gql, token, role):
    # when
    data = await gql.data(
        role_token(token, role),
        "{ viewer { role sites subjectCode } trial { code protocolParameters { version reason } } }",
    )
    # then
    assert data["viewer"] == VIEWERS[role]
    assert data["trial"]["code"] == "PTR-CART-01"
    assert data["trial"]["protocolParameters"]["version"] == 1
    assert (data["trial"]["protocolParameters"]["reason"] is None) is (role == "analyst")


# ---------------------------------------------------------------------------------------------
# Adverse events: every path to an adverse-event record, for every role.

AE_READS = """query($code: String!, $own: ID!, $other: ID!) {
  adverseEvents(first: 100) { totalCount edges { node { id subjectCode } } }
  adverseEventSummary { meddraCode events subjects }
  own: node(id: $own) { id }
  other: node(id: $other) { id }
  subject(code: $code) { adverseEvents { id } bleedingReports { status adverseEvents { id } } }
}"""


@pytest.fixture
async def adverse_events(gql: Any, token: Any, world: dict[str, dict[str, str]]) -> dict[str, Any]:
    """One investigator-reported event per subject, and the patient's own diary nosebleed (a
    provisional event linked to the report). Returns the event ids by subject code."""
    from tests.api.test_adverse_events import report
    from tests.api.test_bleeding_diary import accepted, report_input

    admin = token("admin")
    ids: dict[str, Any] = {code: [(await report(gql, admin, code=code))["id"]] for code in TARGETS}
    await accepted(gql, token("patient", subject=OWN), report_input())
    listed = await gql.data(admin, AE_READS, {"code": OWN, "own": ids[OWN][0], "other": ids[OTHER_SITE][0]})
    ids[OWN] = [e["id"] for e in listed["subject"]["adverseEvents"]]
    assert len(ids[OWN]) == 2
    return ids


@pytest.mark.parametrize("role", ROLES)
async def test_adverse_event_records_are_read_by_role_and_never_by_patients(gql, token, adverse_events, role):
    # given: four events (two of the patient's own subject, one of which its diary report supports)
    variables = {"code": OWN, "own": adverse_events[OWN][0], "other": adverse_events[OTHER_SITE][0]}
    readable = [] if role == "patient" else READABLE[role]
    visible = sorted(i for code in readable for i in adverse_events[code])
    # when
    data = await gql.data(role_token(token, role), AE_READS, variables)
    # then: lists, the safety table, node(id:), a subject's events and a report's events are
    # filtered in the query; the patient's only view is the report's review status
    assert data["adverseEvents"]["totalCount"] == len(visible)
    assert sorted(e["node"]["id"] for e in data["adverseEvents"]["edges"]) == visible
    assert sum(row["events"] for row in data["adverseEventSummary"]) == len(visible)
    assert (data["own"], data["other"]) == (None, None)  # AdverseEvent is no Node: node(id:) never returns one
    subject = data["subject"]
    if role == "patient":
        assert subject == {"adverseEvents": [], "bleedingReports": [{"status": "RECEIVED", "adverseEvents": []}]}
    else:
        assert sorted(e["id"] for e in subject["adverseEvents"]) == sorted(adverse_events[OWN])
        [diary] = subject["bleedingReports"]
        assert diary["status"] == "RECEIVED" and len(diary["adverseEvents"]) == 1


# ---------------------------------------------------------------------------------------------
# Free text and the audit trail.

FREE_TEXT = """query($t: ID!) {
  subjects(first: 100) { edges { node { code transfusions { note } statusHistory { reason } } } }
  node(id: $t) { ... on PlateletTransfusion { note } }
}"""


@pytest.mark.parametrize(("role", "sees_text"), [("analyst", False), ("admin", True), ("coordinator", True)])
async def test_free_text_is_withheld_from_analysts_only(gql, token, world, role, sees_text):
    # when
    data = await gql.data(role_token(token, role), FREE_TEXT, {"t": world[OWN]["PlateletTransfusion"]})
    # then
    notes = {e["node"]["code"]: [t["note"] for t in e["node"]["transfusions"]] for e in data["subjects"]["edges"]}
    reasons = {e["node"]["code"]: [c["reason"] for c in e["node"]["statusHistory"]] for e in data["subjects"]["edges"]}
    readable = READABLE[role]
    assert notes == {code: [NOTE if sees_text else None] for code in readable}
    assert reasons == {code: [None, STATUS_REASON if sees_text else None] for code in readable}
    assert data["node"] == {"note": NOTE if sees_text else None}


async def test_analyst_free_text_stays_stored(gql, token, app, world):
    """Redaction happens on the way out: the note is still there for the admin after an analyst read."""
    # given
    await gql.data(token("analyst"), FREE_TEXT, {"t": world[OWN]["PlateletTransfusion"]})
    # when
    data = await gql.data(token("admin"), FREE_TEXT, {"t": world[OWN]["PlateletTransfusion"]})
    # then
    assert data["node"] == {"note": NOTE}


AUDIT = "{ auditEvents(first: 100) { edges { node { id entity entityId subjectCode } } } }"


@pytest.mark.parametrize("role", ["patient", "coordinator", "investigator", "analyst"])
async def test_audit_trail_is_refused_to_other_roles(gql, token, world, role):
    # when
    body = await gql(role_token(token, role), AUDIT)
    # then
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PERMISSION_DENIED"]
    assert body["errors"][0]["path"] == ["auditEvents"]


async def test_monitor_sees_only_its_sites_audit_rows(gql, token, world):
    # given
    everything = (await gql.data(token("admin"), AUDIT))["auditEvents"]["edges"]
    site_1 = world[OWN]["Site"]
    expected = [
        e["node"]["id"]
        for e in everything
        if (e["node"]["subjectCode"] or "").startswith("S01-") or e["node"]["entityId"] == site_1
    ]
    # when
    monitor = token("monitor", "S01")
    seen = (await gql.data(monitor, AUDIT))["auditEvents"]["edges"]
    other = await gql.data(monitor, '{ auditEvents(subjectCode: "S02-001") { edges { node { id } } } }')
    # then
    assert [e["node"]["id"] for e in seen] == expected
    assert {e["node"]["subjectCode"] for e in seen} == {None, OWN, SAME_SITE}
    assert len(expected) < len(everything)
    assert other["auditEvents"]["edges"] == []


async def test_patient_token_for_an_unknown_subject_sees_nothing(gql, token, world):
    # when
    data = await gql.data(
        token("patient", subject="S09-999"),
        f'{{ subjects {{ totalCount }} sites {{ code }} subject(code: "{OWN}") {{ id }} }}',
    )
    # then
    assert data == {"subjects": {"totalCount": 0}, "sites": [], "subject": None}


# ---------------------------------------------------------------------------------------------
# No token.


async def test_no_token_is_401_and_writes_nothing(gql, token, app, client, world):
    # given
    before = await fx.snapshot(gql, token("admin"), app)
    mutation = 'mutation { createSite(input: {code: "S09", name: "Nine"}) { __typename } }'
    # when
    query = await client.post("/graphql", json={"query": "{ subjects { totalCount } }"})
    write = await client.post("/graphql", json={"query": mutation})
    forged = await client.post("/graphql", json={"query": mutation}, headers={"Authorization": "Bearer not-a-jwt"})
    basic = await client.post("/graphql", json={"query": mutation}, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    # then
    for response in (query, write, forged, basic):
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"] == "Bearer"
    assert await fx.snapshot(gql, token("admin"), app) == before


async def test_health_endpoints_are_open(client):
    # when
    health = await client.get("/healthz")
    ready = await client.get("/readyz")
    # then
    assert (health.status_code, ready.status_code) == (200, 200)
