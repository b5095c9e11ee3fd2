"""Fault test: patients' diary submissions survive a worker killed mid-run (PostgreSQL only).

`serve --workers 2` on a scratch database of its own; a site and SUBJECTS subjects; SUBMISSIONS
diary submissions from CONCURRENCY concurrent clients (a fixed-seed plan: 30 % of them re-send
a clientReportId already sent, with the same content, as a phone does when it lost the answer);
`kill -9` of one worker once KILL_AFTER_ACKS submissions are acknowledged. Clients retry on
connection errors, 5xx and masked errors until acknowledged (MAX_TRIES each). Then, read from the
database: no acknowledged report lost, no report stored twice, no provisional adverse event or
alert duplicated, one CREATE audit row per stored report. The counts are printed for CI's log."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from server.domain import bleeding as b

from .servers import Launch, Server, _children, clean_env, cli, dev_token, serving
from .test_site_alerts_subscription import CREATE_SITE, ENROLL, SUBMIT, _admin_sql, _run

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("TEST_DATABASE_URL")
SEED = 20260510
SUBMISSIONS = 1000
RESENDS = 300  # 30 %: re-sends of a clientReportId already sent, same content
CONCURRENCY = 20
SUBJECTS = 20
KILL_AFTER_ACKS = 300
MAX_TRIES = 40
REQUEST_TIMEOUT_S = 15
TIME_CAP_S = 240  # a bound, not the expected time (84 s measured on a loaded 2-core machine)
SITE = "F01"
ADMIN = dev_token("admin", sub="fault-admin")
COORDINATOR = dev_token("coordinator", SITE, sub="fault-coordinator")

# One report's content per kind: symptoms (the domain tells how many terms each proposes).
KINDS: dict[str, list[dict[str, Any]]] = {
    "nosebleed": [{"site": "NOSE", "durationMinutes": 10, "stopped": True}],
    "vomited-blood": [{"site": "VOMIT"}],
    "bruise-and-gums": [
        {"site": "BRUISE", "sizeCm": 3.0},
        {"site": "GUMS_MOUTH", "durationMinutes": 5, "stopped": True},
    ],
    "no-bleeding": [],
}


def proposals_of(kind: str) -> int:
    symptoms = [
        b.Symptom(
            site=b.BleedingSite(s["site"].lower()),
            duration_minutes=s.get("durationMinutes"),
            size_cm=s.get("sizeCm"),
            stopped=s.get("stopped"),
        )
        for s in KINDS[kind]
    ]
    return len(b.assess_report(symptoms, b.NeurologicalSigns()).proposals)


@dataclass(frozen=True)
class Report:
    client_report_id: str
    subject: str
    kind: str
    content: dict[str, Any]


def plan(now: datetime) -> list[Report]:
    """SUBMISSIONS submissions, RESENDS of them re-sending an earlier one (fixed seed)."""
    rng = random.Random(SEED)
    subjects = [f"{SITE}-{i:03d}" for i in range(1, SUBJECTS + 1)]
    sent: list[Report] = []
    submissions: list[Report] = []
    resends_left, new_left = RESENDS, SUBMISSIONS - RESENDS
    for _ in range(SUBMISSIONS):
        if sent and rng.random() < resends_left / (resends_left + new_left):
            submissions.append(rng.choice(sent))
            resends_left -= 1
            continue
        kind = rng.choice(list(KINDS))
        noticed = now - timedelta(minutes=rng.randint(10, 240))
        content: dict[str, Any] = {
            "clientReportId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "noticedAt": noticed.isoformat(),
            "deviceEnteredAt": (now - timedelta(minutes=1)).isoformat(),
            "symptoms": KINDS[kind],
        }
        if kind == "no-bleeding":
            content["kind"] = "NO_BLEEDING"
        report = Report(content["clientReportId"], rng.choice(subjects), kind, content)
        sent.append(report)
        submissions.append(report)
        new_left -= 1
    return submissions


@dataclass
class Tally:
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # first answer per id
    acks: int = 0
    retried: int = 0
    transport_errors: int = 0
    server_errors: int = 0
    refused: list[tuple[str, Any]] = field(default_factory=list)  # typed errors: never expected
    disagreements: list[str] = field(default_factory=list)
    killed_pid: int | None = None
    killed_at_ack: int | None = None
    kill_due: asyncio.Event = field(default_factory=asyncio.Event)


async def submit_until_acknowledged(client: httpx.AsyncClient, server: Server, report: Report, tally: Tally) -> None:
    token = dev_token("patient", subject=report.subject)
    for attempt in range(MAX_TRIES):
        if attempt:
            tally.retried += 1
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        # a fresh submission time on every try, as the phone sends it: not part of the content
        body = {"input": {**report.content, "deviceSubmittedAt": datetime.now(timezone.utc).isoformat()}}
        try:
            response = await client.post(
                server.graphql_url,
                json={"query": SUBMIT, "variables": body},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TransportError:
            tally.transport_errors += 1
            continue
        if response.status_code >= 500 or "errors" in (answer := response.json()):
            tally.server_errors += 1
            continue
        assert response.status_code == 200, response.text
        result = answer["data"]["submitBleedingReport"]
        if result["__typename"] != "BleedingReportAccepted":
            tally.refused.append((report.client_report_id, result))
            return
        tally.acks += 1
        if tally.acks >= KILL_AFTER_ACKS:
            tally.kill_due.set()
        first = tally.acknowledged.setdefault(report.client_report_id, result)
        if (first["report"]["id"], first["alertRaised"]) != (result["report"]["id"], result["alertRaised"]):
            tally.disagreements.append(report.client_report_id)
        return
    raise AssertionError(f"{report.client_report_id} not acknowledged after {MAX_TRIES} tries")


def worker_pids(server: Server) -> list[int]:
    """uvicorn's worker processes: the serve process's children but multiprocessing's helpers."""
    assert server.pid is not None
    workers = []
    for pid in _children(server.pid):
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return workers


async def kill_one_worker_mid_run(server: Server, tally: Tally) -> None:
    await tally.kill_due.wait()
    workers = worker_pids(server)
    assert len(workers) == 2, f"expected two workers: {workers}"
    victim = random.Random(SEED).choice(sorted(workers))
    os.kill(victim, signal.SIGKILL)  # a child of the server this test started
    tally.killed_pid, tally.killed_at_ack = victim, tally.acks


async def run(server: Server, submissions: list[Report], tally: Tally) -> None:
    queue: asyncio.Queue[Report] = asyncio.Queue()
    for report in submissions:
        queue.put_nowait(report)

    async def client_loop() -> None:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
            while not queue.empty():
                await submit_until_acknowledged(client, server, queue.get_nowait(), tally)

    killer = asyncio.create_task(kill_one_worker_mid_run(server, tally))
    try:
        await asyncio.gather(*(client_loop() for _ in range(CONCURRENCY)))
        await asyncio.wait_for(killer, 1)  # the kill happened (mid-run: after KILL_AFTER_ACKS)
    finally:
        killer.cancel()


# ---- the database, read after the run -----------------------------------------------------------


@dataclass
class Stored:
    reports: dict[str, int]  # clientReportId -> report id (one row each: the column is unique)
    report_rows: int
    links: Counter[int]  # report id -> adverse_event_report rows
    alerts: Counter[int]  # report id -> alerts
    episodes: Counter[tuple[int, int]]  # (subject id, MedDRA code) -> patient-reported events
    report_audits: Counter[int]  # report id -> CREATE audit rows
    alert_audits: int


async def read_back(url: str) -> Stored:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT id, client_report_id FROM bleeding_report")
        links = await connection.fetch(
            "SELECT bleeding_report_id AS id, count(*) AS n FROM adverse_event_report GROUP BY 1"
        )
        alerts = await connection.fetch("SELECT bleeding_report_id AS id, count(*) AS n FROM alert GROUP BY 1")
        episodes = await connection.fetch(
            "SELECT subject_id, meddra_code, count(*) AS n FROM adverse_event WHERE source = 'patient_report' GROUP BY 1, 2"
        )
        audits = await connection.fetch(
            "SELECT entity_id AS id, count(*) AS n FROM audit_event"
            " WHERE entity = 'BleedingReport' AND action = 'create' GROUP BY 1"
        )
        alert_audits = await connection.fetchval(
            "SELECT count(*) FROM audit_event WHERE entity = 'Alert' AND action = 'create'"
        )
    finally:
        await connection.close()
    return Stored(
        reports={r["client_report_id"]: r["id"] for r in rows},
        report_rows=len(rows),
        links=Counter({r["id"]: r["n"] for r in links}),
        alerts=Counter({r["id"]: r["n"] for r in alerts}),
        episodes=Counter({(r["subject_id"], r["meddra_code"]): r["n"] for r in episodes}),
        report_audits=Counter({r["id"]: r["n"] for r in audits}),
        alert_audits=alert_audits,
    )


# ---- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_database_url() -> Iterator[str]:
    """A database of this module's own next to TEST_DATABASE_URL's: created, migrated, dropped."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    base = make_url(PG_URL).set(drivername="postgresql")
    name = f"{base.database}_fault"
    maintenance = base.set(database="postgres").render_as_string(hide_password=False)
    scratch = base.set(database=name).render_as_string(hide_password=False)
    _run(_admin_sql(maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    _run(_admin_sql(maintenance, f'CREATE DATABASE "{name}"'))
    try:
        migrated = cli(clean_env(DATABASE_URL=scratch, PTR_ENVIRONMENT="development"), "migrate")
        assert migrated.returncode == 0, migrated.stderr
        yield scratch
    finally:
        _run(_admin_sql(maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def two_workers(fault_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("fault")
    env = clean_env(
        DATABASE_URL=fault_database_url,
        PTR_DATA_DIR=str(logs),
        PTR_ENVIRONMENT="development",
        PTR_LOG_LEVEL="INFO",
        # 1,000 submissions from one address in under a minute: the general rate limits (tested in
        # tests/api/test_operations.py) would refuse most of them, which is not what this tests
        PTR_GRAPHQL_RATE_LIMIT_PER_IP="",
        PTR_GRAPHQL_RATE_LIMIT_PER_SUBJECT="",
    )
    with serving(env, Launch(logs / "serve.log", workers=2)) as (server,):
        created = server.gql(ADMIN, CREATE_SITE, {"input": {"code": SITE, "name": "Fault site"}})["createSite"]
        assert created["__typename"] == "SiteSuccess", created
        for i in range(1, SUBJECTS + 1):
            enrolment = {
                "code": f"{SITE}-{i:03d}",
                "siteCode": SITE,
                "sex": "MALE",
                "yearOfBirth": 1975,
                "ageAtConsent": 49,
                "diagnosis": "ALL",
                "remissionStatus": "CR1",
                "consentDate": "2024-06-03",
                "status": "ENROLLED",
            }
            enrolled = server.gql(COORDINATOR, ENROLL, {"input": enrolment})["enrollSubject"]
            assert enrolled["__typename"] == "SubjectSuccess", enrolled
        yield server


# ---- the test -----------------------------------------------------------------------------------


async def test_diary_submissions_survive_a_worker_killed_mid_run(two_workers: Server, fault_database_url: str) -> None:
    # given: the plan (fixed seed)
    submissions = plan(datetime.now(timezone.utc))
    unique = {r.client_report_id: r for r in submissions}
    tally = Tally()
    # when: every submission is sent until acknowledged, a worker killed with SIGKILL on the way
    started = time.monotonic()
    await asyncio.wait_for(run(two_workers, submissions, tally), TIME_CAP_S)
    elapsed = time.monotonic() - started
    stored = await read_back(fault_database_url)

    acknowledged = set(tally.acknowledged)
    lost = sorted(acknowledged - stored.reports.keys())
    duplicates = stored.report_rows - len(set(stored.reports))
    unexpected = sorted(stored.reports.keys() - unique.keys())
    report_ids = {cid: stored.reports[cid] for cid in unique if cid in stored.reports}
    wrong_links = [cid for cid, rid in report_ids.items() if stored.links[rid] != proposals_of(unique[cid].kind)]
    wrong_alerts = [
        cid
        for cid, rid in report_ids.items()
        if cid in tally.acknowledged and stored.alerts[rid] != int(tally.acknowledged[cid]["alertRaised"])
    ]
    duplicated_episodes = {key: n for key, n in stored.episodes.items() if n > 1}
    wrong_audits = [cid for cid, rid in report_ids.items() if stored.report_audits[rid] != 1]
    print(
        f"\n[fault] submissions={len(submissions)} unique={len(unique)} resends={len(submissions) - len(unique)}"
        f" concurrency={CONCURRENCY} acknowledged={tally.acks} (unique {len(acknowledged)})"
        f" retried={tally.retried} transport_errors={tally.transport_errors} server_errors={tally.server_errors}"
        f" refused={len(tally.refused)} killed_pid={tally.killed_pid} (after {tally.killed_at_ack} acks)"
        f"\n[fault] stored={stored.report_rows} duplicates={duplicates} lost={len(lost)} unexpected={len(unexpected)}"
        f" adverse_event_links={sum(stored.links.values())} wrong_links={len(wrong_links)}"
        f" alerts={sum(stored.alerts.values())} wrong_alerts={len(wrong_alerts)}"
        f" provisional_events={len(stored.episodes)} duplicated_events={len(duplicated_episodes)}"
        f" report_create_audits={sum(stored.report_audits.values())} wrong_audits={len(wrong_audits)}"
        f" alert_create_audits={stored.alert_audits} elapsed={elapsed:.1f}s"
    )
    # then
    assert tally.killed_pid is not None and tally.killed_pid not in worker_pids(two_workers)
    assert tally.refused == [] and tally.disagreements == []
    assert acknowledged == unique.keys()  # every submission acknowledged in the end
    assert lost == [] and duplicates == 0 and unexpected == []
    assert stored.report_rows == len(unique)
    assert wrong_links == [] and wrong_alerts == [] and duplicated_episodes == {}
    assert all(n <= 1 for n in stored.alerts.values())
    assert wrong_audits == [] and set(stored.report_audits) == set(stored.reports.values())
    assert stored.alert_audits == sum(stored.alerts.values())
