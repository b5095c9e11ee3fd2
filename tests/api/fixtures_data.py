"""Helpers that build test data through the public GraphQL API (never by writing rows directly), and
take a snapshot of everything stored, so a test can prove that a refused request wrote nothing.

    site_id = await create_site(gql, token("admin"), "S01")
    subject = await enroll_subject(gql, token("admin"), "S01-001", "S01")
    record = await seed_records(gql, token("admin"), "S01-001")   # one live record of every kind
    before = await snapshot(gql, token("admin"), app)
    ...
    assert await snapshot(gql, token("admin"), app) == before

Every helper asserts that its mutation succeeded and returns global ids.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from server.db.models import Base

CONSENT_DATE = "2026-01-10"  # subjects: born 1980, 45 at consent
ERROR_FIELDS = "... on UserError { code message field }"


async def mutate(gql: Any, token: str, name: str, input_type: str, variables: dict[str, Any], selection: str) -> Any:
    """Runs `name(input: $input)` and returns its result object (success or typed error)."""
    query = f"""mutation($input: {input_type}!) {{
      {name}(input: $input) {{ __typename {selection} {ERROR_FIELDS} }}
    }}"""
    return (await gql.data(token, query, {"input": variables}))[name]


async def _succeed(gql: Any, token: str, name: str, input_type: str, variables: dict[str, Any], selection: str) -> Any:
    result = await mutate(gql, token, name, input_type, variables, selection)
    assert "code" not in result, result
    return result


async def create_site(gql: Any, admin: str, code: str, name: str | None = None) -> str:
    result = await _succeed(
        gql,
        admin,
        "createSite",
        "CreateSiteInput",
        {"code": code, "name": name or f"Site {code}"},
        "... on SiteSuccess { site { id } }",
    )
    return str(result["site"]["id"])


def subject_input(code: str, site_code: str, **overrides: Any) -> dict[str, Any]:
    """A valid EnrollSubjectInput; keyword arguments replace fields."""
    values = {
        "code": code,
        "siteCode": site_code,
        "sex": "FEMALE",
        "yearOfBirth": 1980,
        "ageAtConsent": 45,
        "diagnosis": "AML",
        "remissionStatus": "CR1",
        "consentDate": CONSENT_DATE,
        "status": "ENROLLED",
    }
    return {**values, **overrides}


async def enroll_subject(gql: Any, token: str, code: str, site_code: str, **overrides: Any) -> str:
    result = await _succeed(
        gql,
        token,
        "enrollSubject",
        "EnrollSubjectInput",
        subject_input(code, site_code, **overrides),
        "... on SubjectSuccess { subject { id } }",
    )
    return str(result["subject"]["id"])


async def change_status(gql: Any, token: str, code: str, status: str, reason: str, day: str = "2026-02-01") -> None:
    await _succeed(
        gql,
        token,
        "changeSubjectStatus",
        "ChangeSubjectStatusInput",
        {"code": code, "status": status, "effectiveDate": day, "reason": reason},
        "... on SubjectSuccess { subject { id } }",
    )


async def record_measurement(gql: Any, token: str, code: str, at: str = "2026-02-01T08:00:00Z") -> str:
    result = await _succeed(
        gql,
        token,
        "recordBodyMeasurement",
        "RecordBodyMeasurementInput",
        {"subjectCode": code, "measuredAt": at, "heightCm": 170.0, "weightKg": 65.0},
        "... on BodyMeasurementSuccess { bodyMeasurement { id } }",
    )
    return str(result["bodyMeasurement"]["id"])


async def record_lymphodepletion(gql: Any, token: str, code: str) -> str:
    agents = [
        {"agent": "FLUDARABINE", "dosePerDay": 30.0, "doseUnit": "MG_PER_M2", "days": 3},
        {"agent": "CYCLOPHOSPHAMIDE", "dosePerDay": 500.0, "doseUnit": "MG_PER_M2", "days": 3},
    ]
    result = await _succeed(
        gql,
        token,
        "recordLymphodepletion",
        "RecordLymphodepletionInput",
        {"subjectCode": code, "startDate": "2026-02-02", "endDate": "2026-02-04", "agents": agents},
        "... on LymphodepletionSuccess { lymphodepletionCourse { id } }",
    )
    return str(result["lymphodepletionCourse"]["id"])


async def record_infusion(
    gql: Any, token: str, code: str, product: str = "CD19", at: str = "2026-02-07T10:00:00Z"
) -> str:
    result = await _succeed(
        gql,
        token,
        "recordCarTInfusion",
        "RecordCarTInfusionInput",
        {
            "subjectCode": code,
            "product": product,
            "infusedAt": at,
            "lotNumber": f"LOT-{product}-1",
            "carPositiveCellsPerKg": 1e6,
        },
        "... on CarTInfusionSuccess { infusion { id } }",
    )
    return str(result["infusion"]["id"])


async def record_transfusion(
    gql: Any,
    token: str,
    code: str,
    start: str = "2026-03-01T08:00:00Z",
    end: str = "2026-03-01T08:30:00Z",
    note: str | None = "given over 30 min, no reaction",
) -> str:
    result = await _succeed(
        gql,
        token,
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        {"subjectCode": code, "startedAt": start, "endedAt": end, "units": [{"contentE11": 3.2}], "note": note},
        "... on PlateletTransfusionSuccess { transfusion { id } }",
    )
    return str(result["transfusion"]["id"])


async def record_count(gql: Any, token: str, code: str, value: float = 12.0, at: str = "2026-03-01T07:00:00Z") -> str:
    result = await _succeed(
        gql,
        token,
        "recordPlateletCount",
        "RecordPlateletCountInput",
        {"subjectCode": code, "valueE9PerL": value, "drawnAt": at},
        "... on PlateletCountSuccess { plateletCount { id } }",
    )
    return str(result["plateletCount"]["id"])


async def record_therapy(gql: Any, token: str, code: str, **overrides: Any) -> str:
    """A therapy (default: IVIG 1 g/kg on 2026-02-20, with an indication); returns its id."""
    values = {
        "subjectCode": code,
        "class": "IVIG",
        "name": "IVIG",
        "dose": 1.0,
        "doseUnit": "G_PER_KG",
        "route": "INTRAVENOUS",
        "frequency": "QD",
        "startDate": "2026-02-20",
        "endDate": "2026-02-20",
        "indication": "refractory thrombocytopenia",
        **overrides,
    }
    result = await _succeed(
        gql, token, "recordTherapy", "RecordTherapyInput", values, "... on TherapySuccess { therapy { id } }"
    )
    return str(result["therapy"]["id"])


async def record_procedure(gql: Any, token: str, code: str, **overrides: Any) -> str:
    """A procedure (default: a splenectomy in 2024, with notes); returns its id."""
    values = {
        "subjectCode": code,
        "type": "SPLENECTOMY",
        "performedOn": "2024-05-02",
        "notes": "laparoscopic",
        **overrides,
    }
    result = await _succeed(
        gql, token, "recordProcedure", "RecordProcedureInput", values, "... on ProcedureSuccess { procedure { id } }"
    )
    return str(result["procedure"]["id"])


async def void(gql: Any, token: str, record_id: str, reason: str = "entered in error") -> None:
    await _succeed(gql, token, "voidRecord", "VoidRecordInput", {"id": record_id, "reason": reason}, "")


async def seed_records(gql: Any, token: str, code: str) -> dict[str, str]:
    """One live record of every kind for the subject (CD19 infusion, transfusion with a note) and a
    status change with a reason; returns {type name: global id}."""
    await change_status(gql, token, code, "LYMPHODEPLETED", "lymphodepletion started")
    return {
        "BodyMeasurement": await record_measurement(gql, token, code),
        "LymphodepletionCourse": await record_lymphodepletion(gql, token, code),
        "CarTInfusion": await record_infusion(gql, token, code),
        "PlateletTransfusion": await record_transfusion(gql, token, code),
        "PlateletCount": await record_count(gql, token, code),
    }


SUBJECT_VIEW = """
  id code sex yearOfBirth ageAtConsent diagnosis remissionStatus remissionDate aboGroup rhd consentDate status
  site { code }
  statusHistory { fromStatus toStatus effectiveDate reason }
  measurements { id measuredAt heightCm weightKg }
  lymphodepletions { id startDate endDate agents { agent dosePerDay days otherName } }
  infusions { id product infusedAt lotNumber carPositiveCellsPerKg totalCarPositiveCells }
  transfusions { id startedAt endedAt units { contentE11 } storageAgeDays note }
  plateletCounts { id drawnAt valueE9PerL }
  therapies { id class name dose doseUnit route frequency startDate endDate ongoing indication timing }
  procedures { id type hsctType performedOn notes }
"""


async def audit_event_ids(gql: Any, token: str, **filters: Any) -> list[str]:
    """Ids of every audit event the token may read (all pages)."""
    query = """query($after: String, $subjectCode: String) {
      auditEvents(first: 100, after: $after, subjectCode: $subjectCode) {
        edges { node { id } } pageInfo { hasNextPage endCursor }
      }
    }"""
    ids: list[str] = []
    after = None
    while True:
        page = (await gql.data(token, query, {"after": after, **filters}))["auditEvents"]
        ids += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


async def table_row_counts(app: Any) -> dict[str, int]:
    """Rows per table, straight from the database: voided rows and rows no API field shows count too."""
    async with app.state.engine.connect() as conn:
        return {
            table.name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            for table in Base.metadata.sorted_tables
        }


async def snapshot(gql: Any, admin: str, app: Any) -> dict[str, Any]:
    """Everything stored, as the admin sees it (all subjects with every relation, all sites, every
    audit event) plus each table's row count. Equal snapshots mean nothing was written."""
    data = await gql.data(
        admin,
        f"{{ sites {{ code name }} subjects(first: 100) {{ totalCount edges {{ node {{ {SUBJECT_VIEW} }} }} }} }}",
    )
    return {"api": data, "audit": await audit_event_ids(gql, admin), "rows": await table_row_counts(app)}
