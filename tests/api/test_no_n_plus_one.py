"""A query of 50 subjects with their transfusions and counts runs a number of SQL statements that
does not grow with the number of rows (DESIGN.md rule 8).

The rows are inserted directly through the app's sessionmaker (fast; no audit rows needed here);
the same nested query is then run over 5 subjects x 2 transfusions and over 50 subjects x 10
transfusions, and the statements the app's engine runs are counted: first with no stored platelet
responses (rows written around the services: every subject is evaluated live), then after
`refresh-responses` stored them (the path every write through the API keeps current)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert

from server.db import models as m
from server.domain.enums import (
    AboCompatibility,
    CarTProduct,
    Diagnosis,
    RemissionStatus,
    Sex,
    SubjectStatus,
)

from .stored_responses import refresh_all

NESTED = """
query {
  subjects(first: 50) {
    totalCount
    edges {
      node {
        code
        site { code }
        firstInfusionAt
        statusHistory { fromStatus toStatus effectiveDate reason }
        measurements { heightCm weightKg studyDay }
        lymphodepletions { startDate studyDay agents { agent days } }
        infusions { product infusedAt lotNumber studyDay }
        transfusions {
          startedAt doseE11 doseBasis note studyDay
          units { contentE11 }
          bsa { valueM2 }
          preCount { count { valueE9PerL } }
          earlyCount { minutesFromTransfusion }
          cciEarly cciLate
          response { category parameterVersion }
        }
        plateletCounts { valueE9PerL valuePerUl studyDay }
        plateletResponse { sustained evaluableTransfusions }
      }
    }
  }
}"""

T0 = datetime(2026, 1, 20, 10, 0, tzinfo=timezone.utc)  # each subject's CD19 infusion


async def seed_site(sessionmaker) -> int:
    async with sessionmaker() as session, session.begin():
        site = m.Site(trial_id=1, code="S01", name="One", created_at=T0)
        session.add(site)
        await session.flush()
        return site.id


async def seed_subjects(sessionmaker, site_id: int, first: int, count: int) -> list[int]:
    """Subjects S01-<n> with a status history, a measurement, a lymphodepletion and a CD19 infusion."""
    async with sessionmaker() as session, session.begin():
        subjects = [
            m.Subject(
                trial_id=1,
                site_id=site_id,
                code=f"S01-{n:03d}",
                sex=Sex.FEMALE,
                year_of_birth=1980,
                age_at_consent=45,
                diagnosis=Diagnosis.AML,
                remission_status=RemissionStatus.CR1,
                consent_date=date(2026, 1, 2),
                status=SubjectStatus.INFUSED,
                created_at=T0,
                updated_at=T0,
            )
            for n in range(first, first + count)
        ]
        session.add_all(subjects)
        await session.flush()
        stamps = {"created_at": T0, "updated_at": T0}
        for subject in subjects:
            session.add_all(
                [
                    m.SubjectStatusChange(
                        subject_id=subject.id,
                        from_status=None,
                        to_status=SubjectStatus.ENROLLED,
                        effective_date=date(2026, 1, 2),
                        changed_at=T0 - timedelta(days=18),
                        reason=None,
                        actor_id="seed",
                    ),
                    m.SubjectStatusChange(
                        subject_id=subject.id,
                        from_status=SubjectStatus.ENROLLED,
                        to_status=SubjectStatus.INFUSED,
                        effective_date=date(2026, 1, 20),
                        changed_at=T0,
                        reason="infused",
                        actor_id="seed",
                    ),
                    m.BodyMeasurement(
                        subject_id=subject.id,
                        measured_at=T0 - timedelta(days=10),
                        height_cm=170,
                        weight_kg=65,
                        **stamps,
                    ),
                    m.LymphodepletionCourse(
                        subject_id=subject.id,
                        start_date=date(2026, 1, 14),
                        end_date=date(2026, 1, 16),
                        agents=[
                            {
                                "agent": "fludarabine",
                                "other_name": None,
                                "dose_per_day": 30,
                                "dose_unit": "mg_per_m2",
                                "days": 3,
                            }
                        ],
                        **stamps,
                    ),
                    m.CarTInfusion(
                        subject_id=subject.id,
                        product=CarTProduct.CD19,
                        infused_at=T0,
                        car_positive_cells_per_kg=1e6,
                        total_car_positive_cells=6.5e7,
                        lot_number=f"LOT-{subject.code}",
                        **stamps,
                    ),
                ]
            )
        return [s.id for s in subjects]


async def seed_transfusions(sessionmaker, subject_ids: list[int], first: int, count: int) -> None:
    """Transfusions number first..first+count-1 of each subject, every other day after the
    infusion, each with a pre-count, an early (1 h) and a late (20 h) count (bulk inserts)."""
    stamps = {"created_at": T0, "updated_at": T0, "voided_at": None, "void_reason": None}
    transfusions, counts = [], []
    for subject_id in subject_ids:
        for k in range(first, first + count):
            started = T0 + timedelta(days=2 * (k + 1))
            ended = started + timedelta(minutes=30)
            transfusions.append(
                {
                    "subject_id": subject_id,
                    "started_at": started,
                    "ended_at": ended,
                    "units": [{"kind": "apheresis", "content_e11": 3.0, "content_basis": "measured"}],
                    "abo_compatibility": AboCompatibility.IDENTICAL,
                    "hla_selected": True,
                    "crossmatched": False,
                    "storage_age_days": 3,
                    "note": "seeded",
                    **stamps,
                }
            )
            counts += [
                {"subject_id": subject_id, "drawn_at": drawn, "value_e9_per_l": value, **stamps}
                for drawn, value in (
                    (started - timedelta(hours=2), 5.0),
                    (ended + timedelta(hours=1), 35.0),
                    (ended + timedelta(hours=20), 25.0),
                )
            ]
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(m.PlateletTransfusion), transfusions)
        await session.execute(insert(m.PlateletCount), counts)


async def statements_for(gql, sql_statements, auth: str) -> tuple[int, dict[str, Any]]:
    before = sql_statements.count
    data = await gql.data(auth, NESTED)
    return sql_statements.count - before, data


def shape(data: dict[str, Any]) -> tuple[int, int, set[int], set[int]]:
    nodes = [edge["node"] for edge in data["subjects"]["edges"]]
    return (
        data["subjects"]["totalCount"],
        len(nodes),
        {len(node["transfusions"]) for node in nodes},
        {len(node["plateletCounts"]) for node in nodes},
    )


def check_result(data: dict[str, Any], role: str) -> None:
    first = data["subjects"]["edges"][0]["node"]["transfusions"][0]
    assert first["response"] == {"category": "RESPONSIVE", "parameterVersion": 1}
    # (35 - 5) x10^9/L x 1000 x Mosteller(170 cm, 65 kg) / 3.0 x10^11
    assert first["cciEarly"] == pytest.approx(30 * 1000 * (170 * 65 / 3600) ** 0.5 / 3.0)
    assert first["note"] == (None if role == "analyst" else "seeded")


async def test_statement_count_does_not_grow_with_rows(app, gql, token, sql_statements, database_url):
    # given: 5 subjects x 2 transfusions
    sessionmaker = app.state.sessionmaker
    tokens = {"coordinator": token("coordinator", "S01"), "analyst": token("analyst")}
    site_id = await seed_site(sessionmaker)
    first_five = await seed_subjects(sessionmaker, site_id, 1, 5)
    await seed_transfusions(sessionmaker, first_five, 0, 2)
    for auth in tokens.values():
        # warm-up: connections and caches (the protocol versions the process keeps, on PostgreSQL)
        await gql.data(auth, "{ trial { protocolParameters { version } } }")
    # when: evaluated live, then read from the stored responses
    small_live = {role: await statements_for(gql, sql_statements, auth) for role, auth in tokens.items()}
    await refresh_all(app)
    small = {role: await statements_for(gql, sql_statements, auth) for role, auth in tokens.items()}
    # given: grown to 50 subjects x 10 transfusions
    others = await seed_subjects(sessionmaker, site_id, 6, 45)
    await seed_transfusions(sessionmaker, first_five, 2, 8)
    await seed_transfusions(sessionmaker, others, 0, 10)
    # when
    large_live = {role: await statements_for(gql, sql_statements, auth) for role, auth in tokens.items()}
    await refresh_all(app)
    large = {role: await statements_for(gql, sql_statements, auth) for role, auth in tokens.items()}
    # then
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    for role in tokens:
        (small_count, small_data), (large_count, large_data) = small[role], large[role]
        (small_live_count, small_live_data), (large_live_count, large_live_data) = small_live[role], large_live[role]
        print(
            f"\n[{backend} {role}] statements, 5 subjects x 2 transfusions -> 50 x 10: stored responses"
            f" {small_count} -> {large_count}; evaluated live {small_live_count} -> {large_live_count}"
        )
        assert shape(small_data) == shape(small_live_data) == (5, 5, {2}, {6})
        assert shape(large_data) == shape(large_live_data) == (50, 50, {10}, {30})
        for data in (small_data, large_data, small_live_data, large_live_data):
            check_result(data, role)
        assert small_data == small_live_data and large_data == large_live_data
        assert large_count == small_count
        assert large_live_count == small_live_count
        assert large_count <= 14


BEFORE_AFTER = """
query {
  subjects(first: 50) {
    edges { node {
      code
      beforeAfter {
        lastFollowUpAt daysToFirstGrade2Bleed
        baseline { period { daysUnderFollowUp } plateletIncrement { medianCciEarlyPerUl } transfusionBurden { units }
                   bleeding { daysObserved daysGrade2OrMoreConfirmed } }
        followUp { period { daysUnderFollowUp } plateletIncrement { medianCciEarlyPerUl } transfusionBurden { units }
                   bleeding { daysObserved daysGrade2OrMoreConfirmed } }
      }
    } }
  }
  trial {
    beforeAfterComparison(measure: TRANSFUSIONS_PER_30_DAYS) { subjects pairs pValue }
    firstResponse: timeToEvent(event: FIRST_RESPONSE) { subjects events curve { survival } }
    bCells: timeToEvent(event: B_CELL_APLASIA) { subjects }
    hla: timeToEvent(event: HLA_CLEARANCE) { subjects }
  }
}"""


async def seed_baseline_and_diary(sessionmaker, subject_ids: list[int]) -> None:
    """Per subject: two baseline transfusions (days -10, -5, no counts) and two diary days
    (a check-in on day -3 and a 45-minute nosebleed on day 30), inserted directly."""
    stamps = {"created_at": T0, "updated_at": T0, "voided_at": None, "void_reason": None}
    transfusions, reports = [], []
    for subject_id in subject_ids:
        for days in (-10, -5):
            started = T0 + timedelta(days=days)
            transfusions.append(
                {
                    "subject_id": subject_id,
                    "started_at": started,
                    "ended_at": started + timedelta(minutes=30),
                    "units": [{"kind": "apheresis", "content_e11": 3.0, "content_basis": "measured"}],
                    "abo_compatibility": AboCompatibility.IDENTICAL,
                    "hla_selected": True,
                    "crossmatched": False,
                    **stamps,
                }
            )
        for days, symptoms, grade in ((-3, [], None), (30, [{"site": "nose", "duration_minutes": 45}], 2)):
            noticed = T0 + timedelta(days=days)
            reports.append(
                {
                    "subject_id": subject_id,
                    "client_report_id": f"{subject_id:08d}-0000-4000-8000-{days + 100:012d}",
                    "content_hash": "0" * 64,
                    "noticed_at": noticed,
                    "device_entered_at": noticed,
                    "device_utc_offset_minutes": 0,
                    "received_at": noticed,
                    "late": False,
                    "symptoms": symptoms,
                    "neurological_signs": {},
                    "pro_ctcae": {},
                    "who_grade": grade,
                    "red_flags": [],
                    "submitted_by": "seed",
                    "kind": "symptoms" if symptoms else "no_bleeding",
                    "local_date": noticed.date(),
                    "day_who_grade": grade,
                    "changed_at": noticed,
                }
            )
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(m.PlateletTransfusion), transfusions)
        await session.execute(insert(m.BleedingReport), reports)


async def before_after_statements(gql, sql_statements, auth: str) -> tuple[int, dict[str, Any]]:
    before = sql_statements.count
    data = await gql.data(auth, BEFORE_AFTER)
    return sql_statements.count - before, data


async def test_before_after_statement_count_does_not_grow_with_subjects(app, gql, token, sql_statements, database_url):
    # given: 5 subjects with baseline and follow-up transfusions and diary days
    sessionmaker = app.state.sessionmaker
    tokens = {"coordinator": token("coordinator", "S01"), "analyst": token("analyst")}
    site_id = await seed_site(sessionmaker)
    first_five = await seed_subjects(sessionmaker, site_id, 1, 5)
    await seed_transfusions(sessionmaker, first_five, 0, 2)
    await seed_baseline_and_diary(sessionmaker, first_five)
    await refresh_all(app)
    for auth in tokens.values():  # warm-up, as above
        await gql.data(auth, "{ trial { protocolParameters { version } } }")
    # when
    small = {role: await before_after_statements(gql, sql_statements, auth) for role, auth in tokens.items()}
    # given: 50 subjects
    others = await seed_subjects(sessionmaker, site_id, 6, 45)
    await seed_transfusions(sessionmaker, others, 0, 2)
    await seed_baseline_and_diary(sessionmaker, others)
    await refresh_all(app)
    # when
    large = {role: await before_after_statements(gql, sql_statements, auth) for role, auth in tokens.items()}
    # then
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    for role in tokens:
        (small_count, _), (large_count, large_data) = small[role], large[role]
        print(f"\n[{backend} {role}] beforeAfter statements, 5 -> 50 subjects: {small_count} -> {large_count}")
        nodes = [edge["node"] for edge in large_data["subjects"]["edges"]]
        assert len(nodes) == 50
        baseline = nodes[0]["beforeAfter"]["baseline"]
        assert baseline["transfusionBurden"]["units"] == 2 and baseline["bleeding"]["daysObserved"] == 1
        assert nodes[0]["beforeAfter"]["daysToFirstGrade2Bleed"] == 30
        assert large_data["trial"]["beforeAfterComparison"]["pairs"] == 50
        assert large_data["trial"]["firstResponse"]["subjects"] == 50
        assert large_count == small_count
        assert large_count <= 32
