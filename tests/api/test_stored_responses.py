"""The stored platelet responses (transfusion_response, subject_response) are kept in step with their
inputs inside each write transaction: after every kind of write through the API they equal a fresh
live evaluation; a version effective in the future is read live once its date has come, until
`ptr-trial refresh-responses` stores it; a refused write leaves them as they were.

The comparison (tests/api/stored_responses.py) checks every subject, exactly: each CCI, PPR,
attributed count, BSA, category and reason, and the per-subject result."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from .fixtures_data import create_site, enroll_subject, mutate
from .stored_responses import assert_stored_equals_live, clear_stored, stored_rows, stored_versions, today_utc
from .test_platelet_response import (
    DAY_1,
    ENDPOINT_QUERY,
    HOUR,
    SUBJECT_QUERY,
    iso,
    new_subject,
    responsive,
    transfuse,
)

T0 = datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)
LAB_RECORD = """mutation($input: RecordLabResultsInput!) {
  recordLabResults(input: $input) { __typename ... on LabResultsRecorded { created } ... on UserError { code } }
}"""
AMEND_PARAMETERS = "... on ProtocolParametersSuccess { protocolParameters { version } }"


@pytest.fixture
async def site_s01(gql: Any, token: Any) -> str:
    return await create_site(gql, token("admin"), "S01")


async def succeed(gql: Any, auth: str, name: str, input_type: str, values: dict[str, Any], selection: str) -> Any:
    result = await mutate(gql, auth, name, input_type, values, selection)
    assert "code" not in result, result
    return result


async def lab_platelets(gql: Any, auth: str, rows: list[tuple[str, float, datetime]]) -> dict[str, Any]:
    results = [
        {"subjectCode": code, "analyte": "PLATELETS", "value": value, "unit": "E9_PER_L", "collectedAt": iso(at)}
        for code, value, at in rows
    ]
    return (await gql.data(auth, LAB_RECORD, {"input": {"results": results}}))["recordLabResults"]


async def test_every_kind_of_write_keeps_the_stored_responses_equal_to_a_live_evaluation(app, gql, token, site_s01):
    admin, coordinator = token("admin"), token("coordinator", "S01")

    async def step(name: str, input_type: str, values: dict[str, Any], selection: str = "") -> Any:
        result = await succeed(gql, coordinator, name, input_type, values, selection)
        assert await assert_stored_equals_live(app) == 2, name
        return result

    # given: a subject that is only enrolled has a stored (empty) result
    await enroll_subject(gql, admin, "S01-001", "S01")
    await enroll_subject(gql, admin, "S01-002", "S01")
    assert await assert_stored_equals_live(app) == 2
    # when / then: body measurements
    measurement = await step(
        "recordBodyMeasurement",
        "RecordBodyMeasurementInput",
        {"subjectCode": "S01-001", "measuredAt": iso(T0), "heightCm": 180.0, "weightKg": 80.0},
        "... on BodyMeasurementSuccess { bodyMeasurement { id } }",
    )
    measurement_id = measurement["bodyMeasurement"]["id"]
    # CAR-T infusions
    infusion = await step(
        "recordCarTInfusion",
        "RecordCarTInfusionInput",
        {"subjectCode": "S01-001", "product": "CD19", "infusedAt": "2026-02-07T10:00:00Z", "lotNumber": "L-1"},
        "... on CarTInfusionSuccess { infusion { id } }",
    )
    infusion_id = infusion["infusion"]["id"]
    # transfusions with their counts
    first, (pre_id, early_id, _late) = await responsive(gql, coordinator, "S01-001", DAY_1)
    assert await assert_stored_equals_live(app) == 2
    second, _ = await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    assert await assert_stored_equals_live(app) == 2
    rows = await stored_rows(app)
    assert {r["category"].value for r in rows["transfusion_response"]} == {"responsive"}
    assert [r["sustained"] for r in rows["subject_response"]] == [True, False]
    # a count on its own (the late count of a third transfusion)
    third, _ = await transfuse(gql, coordinator, "S01-001", DAY_1 + timedelta(days=6), pre=(5.0, HOUR))
    await step(
        "recordPlateletCount",
        "RecordPlateletCountInput",
        {"subjectCode": "S01-001", "valueE9PerL": 30.0, "drawnAt": iso(DAY_1 + timedelta(days=6, hours=20))},
        "... on PlateletCountSuccess { plateletCount { id } }",
    )
    # amendments
    await step("amendPlateletCount", "AmendPlateletCountInput", {"id": early_id, "valueE9PerL": 12.0, "reason": "lab"})
    corrected = next(r for r in (await stored_rows(app))["transfusion_response"] if r["transfusion_id"] == 1)
    assert (corrected["early_value_e9_per_l"], corrected["category"].value) == (12.0, "non_responsive")
    await step(
        "amendPlateletTransfusion",
        "AmendPlateletTransfusionInput",
        {"id": second, "units": [{"kind": "APHERESIS", "contentE11": 4.0}], "reason": "unit content measured"},
    )
    await step(
        "amendPlateletTransfusion",
        "AmendPlateletTransfusionInput",
        {"id": third, "endedAt": iso(DAY_1 + timedelta(days=6, minutes=45)), "reason": "ended later"},
    )
    await step(
        "amendBodyMeasurement",
        "AmendBodyMeasurementInput",
        {"id": measurement_id, "weightKg": 70.0, "reason": "re-weighed"},
    )
    await step(
        "amendCarTInfusion",
        "AmendCarTInfusionInput",
        {"id": infusion_id, "infusedAt": "2026-02-08T10:00:00Z", "reason": "date"},
    )
    # lab results carrying platelet counts (a Core INSERT, unseen by the ORM)
    result = await lab_platelets(gql, coordinator, [("S01-001", 40.0, DAY_1 + timedelta(days=6, minutes=75))])
    assert result == {"__typename": "LabResultsRecorded", "created": 1}, result
    assert await assert_stored_equals_live(app) == 2
    # voids
    for record_id in (pre_id, first, measurement_id, infusion_id):
        await step("voidRecord", "VoidRecordInput", {"id": record_id, "reason": "entered in error"})
    # a parameter amendment in force today: every subject, under the new version
    await succeed(
        gql,
        admin,
        "amendProtocolParameters",
        "AmendProtocolParametersInput",
        {"effectiveFrom": today_utc().isoformat(), "reason": "Amendment 2", "cciEarlyThresholdPerUl": 25000},
        AMEND_PARAMETERS,
    )
    assert await assert_stored_equals_live(app) == 2
    assert await stored_versions(app) == {2}


class RandomWrites:
    """Records, amendments and voids of every input kind in a random order over some subjects, with
    times chosen so counts fall in and out of the windows and across neighbouring transfusions.
    Refused writes (a second CD19, say) are part of the walk."""

    def __init__(self, gql: Any, auth: str, codes: tuple[str, ...], seed: int) -> None:
        self.gql, self.auth, self.codes, self.seed = gql, auth, codes, seed
        self.rng = random.Random(seed)
        self.live: dict[str, list[str]] = {"transfusion": [], "count": [], "measurement": [], "infusion": []}

    def moment(self, days: float = 20.0) -> datetime:
        return T0 + timedelta(minutes=self.rng.randrange(0, int(days * 24 * 60), 5))

    def code(self) -> str:
        return self.rng.choice(self.codes)

    async def record_transfusion(self) -> None:
        rng = self.rng
        after_end = (5, 10, 30, 60, 61, 18 * 60, 20 * 60, 24 * 60, 1500)
        posts = tuple((rng.uniform(1, 80), timedelta(minutes=rng.choice(after_end))) for _ in range(rng.randrange(3)))
        before_start = (0, 60, 24 * 60, 24 * 60 + 1)
        pre = (rng.uniform(1, 30), timedelta(minutes=rng.choice(before_start))) if rng.random() < 0.8 else None
        content = rng.choice((3.0, 2.5, 4.1, None))
        transfusion, counts = await transfuse(
            self.gql,
            self.auth,
            self.code(),
            self.moment(),
            pre=pre,
            posts=posts,
            units=[{"kind": "APHERESIS", "contentE11": content, "contentBasis": "MEASURED" if content else "NOMINAL"}],
            abo=rng.choice(("IDENTICAL", "MAJOR_INCOMPATIBLE")),
            minutes=rng.choice((20, 30, 60)),
        )
        self.live["transfusion"].append(transfusion)
        self.live["count"] += counts

    async def record_count(self) -> None:
        values = {"subjectCode": self.code(), "valueE9PerL": self.rng.uniform(1, 80), "drawnAt": iso(self.moment())}
        selection = "... on PlateletCountSuccess { plateletCount { id } }"
        result = await succeed(
            self.gql, self.auth, "recordPlateletCount", "RecordPlateletCountInput", values, selection
        )
        self.live["count"].append(result["plateletCount"]["id"])

    async def record_lab_count(self) -> None:
        result = await lab_platelets(
            self.gql, self.auth, [(self.code(), round(self.rng.uniform(1, 80), 1), self.moment())]
        )
        assert result["__typename"] == "LabResultsRecorded", result

    async def record_measurement(self) -> None:
        height = self.rng.choice((None, 160.0, 175.0))
        weight = self.rng.choice((None, 55.0, 80.0)) if height else self.rng.choice((55.0, 80.0))
        values = {
            "subjectCode": self.code(),
            "measuredAt": iso(self.moment(10)),
            "heightCm": height,
            "weightKg": weight,
        }
        selection = "... on BodyMeasurementSuccess { bodyMeasurement { id } }"
        result = await succeed(
            self.gql, self.auth, "recordBodyMeasurement", "RecordBodyMeasurementInput", values, selection
        )
        self.live["measurement"].append(result["bodyMeasurement"]["id"])

    async def record_infusion(self) -> None:
        values = {"subjectCode": self.code(), "product": "CD19", "infusedAt": iso(self.moment(15)), "lotNumber": "L"}
        selection = "... on CarTInfusionSuccess { infusion { id } }"
        result = await mutate(self.gql, self.auth, "recordCarTInfusion", "RecordCarTInfusionInput", values, selection)
        if "infusion" in result:
            self.live["infusion"].append(result["infusion"]["id"])

    async def amend(self) -> None:
        kinds = [kind for kind, ids in self.live.items() if ids]
        if not kinds:
            return
        kind = self.rng.choice(kinds)
        name, input_type, values = {
            "transfusion": (
                "amendPlateletTransfusion",
                "AmendPlateletTransfusionInput",
                {"units": [{"contentE11": self.rng.uniform(1, 5)}]},
            ),
            "count": (
                "amendPlateletCount",
                "AmendPlateletCountInput",
                {"valueE9PerL": self.rng.uniform(1, 80), "drawnAt": iso(self.moment())},
            ),
            "measurement": (
                "amendBodyMeasurement",
                "AmendBodyMeasurementInput",
                {"weightKg": self.rng.uniform(40, 120)},
            ),
            "infusion": ("amendCarTInfusion", "AmendCarTInfusionInput", {"infusedAt": iso(self.moment(15))}),
        }[kind]
        record_id = self.rng.choice(self.live[kind])
        await mutate(self.gql, self.auth, name, input_type, {"id": record_id, "reason": "corrected", **values}, "")

    async def void(self) -> None:
        kinds = [kind for kind, ids in self.live.items() if ids]
        if not kinds:
            return
        ids = self.live[self.rng.choice(kinds)]
        record_id = ids.pop(self.rng.randrange(len(ids)))
        await mutate(self.gql, self.auth, "voidRecord", "VoidRecordInput", {"id": record_id, "reason": "error"}, "")

    async def step(self) -> None:
        operations = [self.record_transfusion] * 4 + [self.amend] * 3 + [self.void] * 2
        operations += [self.record_count, self.record_lab_count, self.record_measurement, self.record_infusion]
        await self.rng.choice(operations)()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_random_sequence_of_writes_leaves_the_stored_responses_equal_to_a_live_evaluation(
    app, gql, token, site_s01, seed
):
    # given
    admin, coordinator = token("admin"), token("coordinator", "S01")
    codes = ("S01-001", "S01-002")
    for code in codes:
        await enroll_subject(gql, admin, code, "S01")
    walk = RandomWrites(gql, coordinator, codes, seed)
    for n in range(36):
        # when
        await walk.step()
        # then
        if n % 12 == 11:
            assert await assert_stored_equals_live(app) == 2, f"seed {seed}, after step {n}"


async def test_concurrent_writes_to_one_subject_and_an_amendment_leave_the_stored_responses_current(
    app, gql, token, site_s01
):
    # given: a subject with a transfusion and its pre-count
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await transfuse(gql, coordinator, "S01-001", DAY_1, pre=(5.0, HOUR))

    async def count(minutes: int) -> None:
        await succeed(
            gql,
            coordinator,
            "recordPlateletCount",
            "RecordPlateletCountInput",
            {
                "subjectCode": "S01-001",
                "valueE9PerL": 20.0 + minutes,
                "drawnAt": iso(DAY_1 + timedelta(minutes=minutes)),
            },
            "... on PlateletCountSuccess { plateletCount { id } }",
        )

    async def amendment() -> None:
        await succeed(
            gql,
            admin,
            "amendProtocolParameters",
            "AmendProtocolParametersInput",
            {"effectiveFrom": today_utc().isoformat(), "reason": "Amendment 2", "earlyWindowMaxMinutes": 90},
            AMEND_PARAMETERS,
        )

    # when: counts arrive concurrently (each refreshes the subject), with a parameter amendment
    await asyncio.gather(*(count(m) for m in range(40, 120, 10)), amendment())
    # then
    assert await assert_stored_equals_live(app) == 1
    assert await stored_versions(app) == {2}


async def test_a_future_version_is_read_live_once_in_force_until_refresh_responses_stores_it(
    app, gql, token, site_s01, database_url
):
    # given: a sustained responder under version 1
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, coordinator, "S01-001", DAY_1)
    await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    # when: version 2 (early CCI must exceed 25,000) is amended effective in 30 days
    effective = today_utc() + timedelta(days=30)
    await succeed(
        gql,
        admin,
        "amendProtocolParameters",
        "AmendProtocolParametersInput",
        {"effectiveFrom": effective.isoformat(), "reason": "Amendment 2", "cciEarlyThresholdPerUl": 25000},
        AMEND_PARAMETERS,
    )
    # then: nothing changes yet; the stored rows are version 1 and current
    assert await stored_versions(app) == {1}
    assert await assert_stored_equals_live(app) == 1
    subject = (await gql.data(coordinator, SUBJECT_QUERY, {"code": "S01-001"}))["subject"]
    assert subject["plateletResponse"]["sustained"] is True
    assert {t["response"]["parameterVersion"] for t in subject["transfusions"]} == {1}

    # when: its date comes (the effective date is moved back, as the passing of time would)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE protocol_parameter_set SET effective_from = :day WHERE version = 2"),
            {"day": today_utc() - timedelta(days=1)},
        )
    # then: reads evaluate under version 2 live, although the stored rows still say version 1
    subject = (await gql.data(coordinator, SUBJECT_QUERY, {"code": "S01-001"}))["subject"]
    assert [t["response"]["category"] for t in subject["transfusions"]] == ["NON_RESPONSIVE", "NON_RESPONSIVE"]
    assert {t["response"]["parameterVersion"] for t in subject["transfusions"]} == {2}
    assert subject["plateletResponse"]["sustained"] is False
    assert subject["plateletResponse"]["parameterVersion"] == 2
    endpoint = (await gql.data(token("analyst"), ENDPOINT_QUERY))["trial"]["infused"]
    assert (endpoint["subjects"], endpoint["responders"], endpoint["parameterVersion"]) == (1, 0, 2)
    assert await stored_versions(app) == {1}

    # when: an operator runs `ptr-trial refresh-responses`
    env = {**os.environ, "DATABASE_URL": database_url}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", "refresh-responses"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then: the stored rows are version 2, equal to a live evaluation, and reads give the same answer
    assert done.returncode == 0, done.stderr
    assert "refresh-responses: 1 subjects recomputed" in done.stdout
    assert await stored_versions(app) == {2}
    assert await assert_stored_equals_live(app) == 1
    again = (await gql.data(coordinator, SUBJECT_QUERY, {"code": "S01-001"}))["subject"]
    assert again == subject


async def test_a_refused_write_leaves_the_stored_responses_unchanged(app, gql, token, site_s01):
    # given: two subjects with responses stored
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await new_subject(gql, admin, "S01-002")
    _t, (_pre, early_id, _late) = await responsive(gql, coordinator, "S01-001", DAY_1)
    await lab_platelets(gql, coordinator, [("S01-002", 30.0, DAY_1)])
    before = await stored_rows(app)
    assert len(before["transfusion_response"]) == 1 and len(before["subject_response"]) == 2
    # when: a count sent per uL by mistake (refused before anything is written)
    unit_suspect = await mutate(
        gql,
        coordinator,
        "recordPlateletTransfusion",
        "RecordPlateletTransfusionInput",
        {
            "subjectCode": "S01-001",
            "startedAt": iso(DAY_1 + timedelta(days=3)),
            "endedAt": iso(DAY_1 + timedelta(days=3, minutes=30)),
            "units": [{"contentE11": 3.0}],
            "postCounts": [{"valueE9PerL": 35000.0, "drawnAt": iso(DAY_1 + timedelta(days=3, hours=1))}],
        },
        "",
    )
    # when: an amendment without a reason
    no_reason = await mutate(
        gql,
        coordinator,
        "amendPlateletCount",
        "AmendPlateletCountInput",
        {"id": early_id, "valueE9PerL": 9.0, "reason": " "},
        "",
    )
    # when: a lab batch whose first row is written before a later row is refused (all or nothing)
    partly_written = await lab_platelets(
        gql, coordinator, [("S01-001", 25.0, DAY_1 - 2 * HOUR), ("S01-002", 99.0, DAY_1)]
    )
    # when: a parameter amendment in force today that fails validation
    bad_amendment = await mutate(
        gql,
        admin,
        "amendProtocolParameters",
        "AmendProtocolParametersInput",
        {"effectiveFrom": today_utc().isoformat(), "reason": "Amendment 2", "earlyWindowMinMinutes": 70},
        "",
    )
    # then: every write was refused with a typed error, and the stored rows did not change
    assert (unit_suspect["code"], no_reason["code"]) == ("UNIT_SUSPECT", "REQUIRED")
    assert partly_written == {"__typename": "InputError", "code": "NOT_ALLOWED"}, partly_written
    assert bad_amendment["code"] == "OUT_OF_RANGE"
    assert await stored_rows(app) == before
    assert await assert_stored_equals_live(app) == 2


async def test_migrate_computes_the_responses_a_database_upgraded_to_0004_lacks(
    app, gql, token, site_s01, database_url
):
    # given: a responder, then the stored rows gone, as on a database just upgraded to 0004
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, coordinator, "S01-001", DAY_1)
    await clear_stored(app)
    env = {**os.environ, "DATABASE_URL": database_url}

    async def migrate() -> str:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "server.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    # when: the deployment runs `ptr-trial migrate` (the container entrypoint does)
    first = await migrate()
    # then: the missing results are stored, equal to a live evaluation; a second run has nothing to do
    assert "stored platelet responses computed for 1 subjects" in first
    assert await assert_stored_equals_live(app) == 1
    assert "stored platelet responses" not in await migrate()


# Columns of the stored responses that migration 0009 adds (therapies and transplant).
NEW_IN_0009 = (
    "confounding_therapy_id",
    "confounding_class",
    "endpoint_exclusion",
    "follow_up_ends_on",
    "confounded_transfusions",
    "sensitivity_sustained",
    "sensitivity_first_response_at",
    "sensitivity_days_to_response",
    "sensitivity_longest_responsive_run",
    "sensitivity_lost_response",
    "sensitivity_lost_response_at",
    "sensitivity_evaluable_transfusions",
    "sensitivity_responsive_transfusions",
)


def without_0009(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in NEW_IN_0009}


async def test_migration_0008_replaces_responses_stored_under_the_old_rules(app, gql, token, site_s01, database_url):
    """The amended rules (pre-count confounded, next-start boundary, ABO unknown not counted) keep the
    parameter version, so stored rows of the old rules would look current: 0008 deletes them and
    `ptr-trial migrate` recomputes them under the new rules."""
    from server.db import migrate as db_migrate

    # given: a transfusion whose only count in the look-back predates the previous one's end (the
    # old rules used it: CCI 20,000), and one of unknown ABO compatibility
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await transfuse(gql, coordinator, "S01-001", DAY_1, pre=(5.0, HOUR))
    confounded, _ = await transfuse(
        gql, coordinator, "S01-001", DAY_1 + 3 * HOUR, posts=((35.0, timedelta(minutes=30)), (25.0, 20 * HOUR))
    )
    await transfuse(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3), abo="UNKNOWN", pre=(5.0, HOUR))
    current = await stored_rows(app)
    # ... and a database at 0006 holding what the old rules stored for it (the confounded transfusion
    # responsive, ABO unknown stored as incompatible), under the version in force
    old_transfusions = [
        {k: v for k, v in row.items() if k not in ("refractory_exclusion", *NEW_IN_0009)}
        | {"abo_compatible": bool(row["abo_compatible"])}
        | ({"category": "responsive", "reasons": "", "cci_early": 20000.0} if row["reasons"] else {})
        for row in current["transfusion_response"]
    ]
    engine = app.state.engine
    await db_migrate.downgrade(engine, "0006")
    try:
        async with engine.begin() as conn:
            for table, rows in (
                ("transfusion_response", old_transfusions),
                ("subject_response", [without_0009(row) for row in current["subject_response"]]),
            ):
                columns = ", ".join(rows[0])
                values = ", ".join(f":{c}" for c in rows[0])
                await conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)
        # when: the deployment upgrades
    finally:
        await db_migrate.upgrade(engine)
    # then: the old rows are gone, and reads already follow the new rules (evaluated live)
    assert await stored_rows(app) == {"transfusion_response": [], "subject_response": []}
    subject = (await gql.data(coordinator, SUBJECT_QUERY, {"code": "S01-001"}))["subject"]
    by_id = {t["id"]: t for t in subject["transfusions"]}
    assert by_id[confounded]["response"]["notEvaluableReasons"] == ["PRE_COUNT_CONFOUNDED"]
    # when: `ptr-trial migrate` runs (the container entrypoint does)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", "migrate"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then: the stored rows equal a live evaluation under the new rules
    assert done.returncode == 0, done.stderr
    assert "stored platelet responses computed for 1 subjects" in done.stdout
    assert await assert_stored_equals_live(app) == 1
    rows = (await stored_rows(app))["transfusion_response"]
    assert [r["reasons"] for r in rows][1] == "pre_count_confounded"
    assert [r["abo_compatible"] for r in rows] == [True, True, None]  # unknown is no longer "incompatible"


async def test_a_write_committed_while_a_request_reads_does_not_split_its_answer(app, gql, token, site_s01, settings):
    """A request reads the stored responses and the transfusions in separate statements; a write
    committed between them must not make them disagree (on PostgreSQL the read transaction is one
    snapshot, REPEATABLE READ, as SQLite's is)."""
    from server.db.models import Subject
    from server.domain.auth import Actor
    from server.domain.enums import Role
    from server.schema.common.context import Context
    from server.schema.response.loaders import ResponseLoaders
    from server.schema.response.types import PlateletTransfusion

    # given: a subject with one transfusion, and a request that has read its stored responses
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, coordinator, "S01-001", DAY_1)
    async with app.state.engine.connect() as conn:
        subject_id = (await conn.execute(Subject.__table__.select().where(Subject.code == "S01-001"))).one().id
    context = Context(
        actor=Actor(actor_id="reader", role=Role.ADMIN),
        sessionmaker=app.state.sessionmaker,
        write_sessionmaker=app.state.write_sessionmaker,
        alert_bus=app.state.alert_bus,
        settings=settings,
        request_id="snapshot-test",
    )
    try:
        reading = await context.loaders.of(ResponseLoaders).evaluation.load(subject_id)
        # when: another request records a second transfusion, then this one reads the transfusions
        await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
        rows = await context.loaders.of(ResponseLoaders).transfusions.load(subject_id)
        # then: it sees the state of its first read, and every transfusion has its derived values
        views = [PlateletTransfusion.of(row, reading) for row in rows]
        assert [view.response.category.name for view in views] == ["RESPONSIVE"]
    finally:
        await context.close()
    # and: the next request sees both
    subject = (await gql.data(coordinator, SUBJECT_QUERY, {"code": "S01-001"}))["subject"]
    assert len(subject["transfusions"]) == 2


async def test_migration_0009_replaces_responses_stored_without_therapy_columns(
    app, gql, token, site_s01, database_url
):
    """0009 adds the confounding, endpoint-exclusion and sensitivity columns under the same parameter
    version: rows stored by the old engine would look current, so 0009 deletes them and
    `ptr-trial migrate` recomputes them (as 0008 does). (Going down to 0008 drops the therapy and
    procedure tables, so the subject here has transfusions only.)"""
    from server.db import migrate as db_migrate

    # given: a sustained responder, and a database at 0008 holding the old engine's rows
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, coordinator, "S01-001", DAY_1)
    await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=3))
    current = await stored_rows(app)
    engine = app.state.engine
    await db_migrate.downgrade(engine, "0008")
    try:
        async with engine.begin() as conn:
            for table, rows in current.items():
                old = [without_0009(row) for row in rows]
                columns = ", ".join(old[0])
                values = ", ".join(f":{c}" for c in old[0])
                await conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), old)
    finally:
        # when: the deployment upgrades
        await db_migrate.upgrade(engine)
    # then: the old rows are gone and reads evaluate live, sensitivity included
    assert await stored_rows(app) == {"transfusion_response": [], "subject_response": []}
    query = 'query { subject(code: "S01-001") { plateletResponse { sustained sensitivity { sustained } } } }'
    response = (await gql.data(coordinator, query))["subject"]["plateletResponse"]
    assert response == {"sustained": True, "sensitivity": {"sustained": True}}
    # when: `ptr-trial migrate` runs
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", "migrate"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then: stored again, with the new columns
    assert done.returncode == 0, done.stderr
    assert "stored platelet responses computed for 1 subjects" in done.stdout
    assert await assert_stored_equals_live(app) == 1
    subject_row = (await stored_rows(app))["subject_response"][0]
    assert (subject_row["sensitivity_sustained"], subject_row["confounded_transfusions"]) == (True, 0)
