"""Live site alerts end to end: real `serve` processes, real WebSockets (graphql-transport-ws), a
patient's red-flag diary report over HTTP, the site's staff told within a second.

SQLite: one embedded server. PostgreSQL (TEST_DATABASE_URL; a scratch database of its own, created,
migrated and dropped here): two server processes on one database, the alert raised through one and
received through the other (LISTEN/NOTIFY), and `serve --workers 2`."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import jwt
import pytest
from sqlalchemy.engine import make_url

from server.auth import development_token
from server.domain.enums import Role

from .servers import DEV_SETTINGS, Launch, Server, clean_env, cli, dev_token, serving, worker_of_client_ports
from .ws_client import GraphQLWS, Received

LIVE_WITHIN_S = 1.0
QUIET_FOR_S = 1.5
FORBIDDEN = 4403

# ---- operations ---------------------------------------------------------------------------------

CREATE_SITE = """
mutation($input: CreateSiteInput!) {
  createSite(input: $input) { __typename ... on SiteSuccess { site { code } } ... on UserError { code message } }
}"""

ENROLL = """
mutation($input: EnrollSubjectInput!) {
  enrollSubject(input: $input) {
    __typename
    ... on SubjectSuccess { subject { code site { code } } }
    ... on UserError { code message field }
  }
}"""

SUBMIT = """
mutation($input: SubmitBleedingReportInput!) {
  submitBleedingReport(input: $input) {
    __typename
    ... on BleedingReportAccepted { report { id } provisionalWhoGrade redFlags alertRaised }
    ... on UserError { code message field }
    ... on InputError { problems { code message field } }
  }
}"""

ALERT_FIELDS = "id siteCode subjectCode bleedingReportId redFlags provisionalWhoGrade message createdAt acknowledgedAt"
SITE_ALERTS = f"subscription($sites: [String!]) {{ siteAlerts(siteCodes: $sites) {{ {ALERT_FIELDS} }} }}"
INBOX = f"{{ alerts(first: 100) {{ edges {{ node {{ {ALERT_FIELDS} }} }} }} }}"

ADMIN = dev_token("admin", sub="e2e-admin")
INVESTIGATOR_S01 = dev_token("investigator", "S01", sub="e2e-investigator-s01")
COORDINATOR_S01 = dev_token("coordinator", "S01", sub="e2e-coordinator-s01")
INVESTIGATOR_S02 = dev_token("investigator", "S02", sub="e2e-investigator-s02")
SUBJECTS = {"S01": ["S01-001", "S01-002", "S01-003", "S01-004"], "S02": ["S02-001"]}


def patient(code: str) -> str:
    return dev_token("patient", subject=code)


def vomited_blood(now: datetime | None = None) -> dict[str, Any]:
    """A report with a red flag (vomiting blood, WHO grade 2): raises an alert."""
    now = now or datetime.now(timezone.utc)
    return {
        "clientReportId": str(uuid.uuid4()),
        "noticedAt": (now - timedelta(hours=1)).isoformat(),
        "deviceEnteredAt": (now - timedelta(minutes=5)).isoformat(),
        "symptoms": [{"site": "VOMIT"}],
    }


def short_nosebleed() -> dict[str, Any]:
    """WHO grade 1, no red flag: stored, no alert."""
    now = datetime.now(timezone.utc)
    return {
        "clientReportId": str(uuid.uuid4()),
        "noticedAt": (now - timedelta(hours=2)).isoformat(),
        "deviceEnteredAt": (now - timedelta(minutes=5)).isoformat(),
        "symptoms": [{"site": "NOSE", "durationMinutes": 5, "stopped": True}],
    }


def red_flag_message(subject_code: str) -> str:
    return f"{subject_code}: red flag in a bleeding diary report (vomiting blood); contact the patient now"


def seed(server: Server) -> None:
    """Sites S01 and S02 and their subjects, through the API as an admin and the coordinators would."""
    for code in SUBJECTS:
        created = server.gql(ADMIN, CREATE_SITE, {"input": {"code": code, "name": f"Site {code}"}})["createSite"]
        assert created == {"__typename": "SiteSuccess", "site": {"code": code}}
    for site, codes in SUBJECTS.items():
        coordinator = dev_token("coordinator", site, sub=f"e2e-coordinator-{site}")
        for code in codes:
            enrolment = {
                "code": code,
                "siteCode": site,
                "sex": "FEMALE",
                "yearOfBirth": 1980,
                "ageAtConsent": 44,
                "diagnosis": "AML",
                "remissionStatus": "CR1",
                "consentDate": "2024-06-03",
                "status": "ENROLLED",
            }
            enrolled = server.gql(coordinator, ENROLL, {"input": enrolment})["enrollSubject"]
            assert enrolled == {"__typename": "SubjectSuccess", "subject": {"code": code, "site": {"code": site}}}


async def subscriber(server: Server, token: str, sites: list[str] | None = None) -> GraphQLWS:
    """An open, acknowledged connection with subscription "alerts" running."""
    ws = await GraphQLWS(server.ws_url).open()
    try:
        await ws.init({"Authorization": f"Bearer {token}"})
        await ws.subscribe("alerts", SITE_ALERTS, {"sites": sites})
        await ws.ping()  # the server has read the subscribe message and started its task ...
        await asyncio.sleep(0.1)  # ... which registers with the alert bus on its first step
    except BaseException:
        await ws.close()
        raise
    return ws


async def submit(server: Server, subject_code: str, report: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    """Submits as the patient; returns the result, when it was sent and when its response came."""
    sent = time.monotonic()
    result = (await server.agql(patient(subject_code), SUBMIT, {"input": report}))["submitBleedingReport"]
    return result, sent, time.monotonic()


def live_alert(received: Received) -> dict[str, Any]:
    assert received.type == "next" and received.id == "alerts", received.message
    assert "errors" not in received.payload, received.payload
    return received.payload["data"]["siteAlerts"]


def inbox(server: Server, token: str) -> list[dict[str, Any]]:
    return [edge["node"] for edge in server.gql(token, INBOX)["alerts"]["edges"]]


def report_latency(label: str, received: Received, sent: float, responded: float) -> float:
    after_response = received.at - responded
    print(
        f"\n[alert latency] {label}: {1000 * (received.at - sent):.1f} ms after the mutation was sent, "
        f"{1000 * after_response:+.1f} ms relative to its response"
    )
    return after_response


# ---- SQLite: one embedded server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("alerts-sqlite")
    env = clean_env(PTR_DATA_DIR=str(data_dir), PTR_ENVIRONMENT="development", PTR_LOG_LEVEL="WARNING")
    with serving(env, Launch(data_dir / "server.log")) as (server,):
        seed(server)
        yield server


async def test_site_investigator_receives_a_red_flag_alert_within_a_second(sqlite_server: Server) -> None:
    # given: S01's investigator and S02's investigator are subscribed; S01's coordinator is not connected
    server = sqlite_server
    s01 = await subscriber(server, INVESTIGATOR_S01)
    s02 = await subscriber(server, INVESTIGATOR_S02)
    s02_asking_for_s01 = await subscriber(server, INVESTIGATOR_S02, ["S01"])
    try:
        # when: an S01 patient reports vomiting blood
        result, sent, responded = await submit(server, "S01-001", vomited_blood())
        received = await s01.receive(within=5)
        # then: the report raised an alert, pushed to S01 within a second of the response
        assert result["__typename"] == "BleedingReportAccepted", result
        assert (result["provisionalWhoGrade"], result["redFlags"], result["alertRaised"]) == (
            2,
            ["VOMITING_BLOOD"],
            True,
        )
        assert report_latency("SQLite, one process", received, sent, responded) < LIVE_WITHIN_S
        alert = live_alert(received)
        assert {k: v for k, v in alert.items() if k not in ("id", "createdAt")} == {
            "siteCode": "S01",
            "subjectCode": "S01-001",
            "bleedingReportId": result["report"]["id"],
            "redFlags": ["VOMITING_BLOOD"],
            "provisionalWhoGrade": 2,
            "message": red_flag_message("S01-001"),
            "acknowledgedAt": None,
        }

        # when: another S01 patient reports a short nosebleed that stopped (grade 1, no red flag)
        quiet, _sent, _responded = await submit(server, "S01-002", short_nosebleed())
        # then: no alert, and no more pushes; S02's investigator heard nothing at all, even asking for S01's
        assert (quiet["provisionalWhoGrade"], quiet["redFlags"], quiet["alertRaised"]) == (1, [], False)
        await asyncio.gather(*(ws.nothing_within(QUIET_FOR_S) for ws in (s01, s02, s02_asking_for_s01)))
        # and: every message (ack, next) came as a text frame, which browser clients need
        assert [ws.binary_frames for ws in (s01, s02, s02_asking_for_s01)] == [0, 0, 0]
    finally:
        await asyncio.gather(s01.close(), s02.close(), s02_asking_for_s01.close())
    # and: a member of the site who was not connected finds the alert, the same, in the inbox
    stored = [a for a in inbox(server, COORDINATOR_S01) if a["subjectCode"] in ("S01-001", "S01-002")]
    assert stored == [alert]
    assert inbox(server, INVESTIGATOR_S02) == []


async def test_site_codes_argument_narrows_an_admins_subscription(sqlite_server: Server) -> None:
    # given: an admin listening to S02 only, another to every site
    server = sqlite_server
    s02_only = await subscriber(server, ADMIN, ["S02"])
    everything = await subscriber(server, ADMIN)
    try:
        # when
        result, _sent, _responded = await submit(server, "S01-003", vomited_blood())
        # then
        assert result["alertRaised"] is True, result
        assert live_alert(await everything.receive(within=5))["subjectCode"] == "S01-003"
        await s02_only.nothing_within(0.5)
    finally:
        await asyncio.gather(s02_only.close(), everything.close())


# ---- authentication and authorization of the socket ---------------------------------------------

WRONG_SECRET_TOKEN = jwt.encode(
    {"sub": "e2e-intruder", "role": "admin", "exp": datetime.now(timezone.utc) + timedelta(hours=1)},
    "not-the-servers-secret-0123456789abcdef",
    algorithm="HS256",
)
EXPIRED_TOKEN = development_token(DEV_SETTINGS, role=Role.ADMIN, sites=[], subject=None, ttl=timedelta(minutes=-1))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="no-payload"),
        pytest.param({}, id="empty-payload"),
        pytest.param({"Authorization": "Bearer "}, id="empty-token"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage-token"),
        pytest.param({"Authorization": f"Bearer {WRONG_SECRET_TOKEN}"}, id="wrong-secret"),
        pytest.param({"Authorization": f"Bearer {EXPIRED_TOKEN}"}, id="expired"),
        pytest.param({"Authorization": f"Basic {ADMIN}"}, id="not-bearer"),
        pytest.param({"Authorization": ADMIN}, id="no-scheme"),
    ],
)
async def test_connection_init_without_a_valid_token_is_closed_with_4403(
    sqlite_server: Server, payload: dict[str, Any] | None
) -> None:
    # given
    async with GraphQLWS(sqlite_server.ws_url) as ws:
        # when
        await ws.send(
            {"type": "connection_init"} if payload is None else {"type": "connection_init", "payload": payload}
        )
        # then
        closed = await ws.closed_within(5)
    assert (closed.code, closed.reason) == (FORBIDDEN, "Forbidden")


async def test_subscribing_before_connection_init_is_closed_with_4401(sqlite_server: Server) -> None:
    # given
    async with GraphQLWS(sqlite_server.ws_url) as ws:
        # when
        await ws.subscribe("alerts", SITE_ALERTS)
        # then
        closed = await ws.closed_within(5)
    assert (closed.code, closed.reason) == (4401, "Unauthorized")


async def test_an_open_subscription_is_closed_with_4401_when_its_token_expires(sqlite_server: Server) -> None:
    # given: S01's investigator subscribed with a token that expires in 2 s
    short_lived = development_token(
        DEV_SETTINGS, role=Role.INVESTIGATOR, sites=["S01"], subject=None, sub="e2e-short", ttl=timedelta(seconds=2)
    )
    async with GraphQLWS(sqlite_server.ws_url) as ws:
        await ws.init({"Authorization": f"Bearer {short_lived}"})
        subscribed = time.monotonic()
        await ws.subscribe("alerts", SITE_ALERTS)
        # when: the client sends nothing more
        closed = await ws.closed_within(5)
    # then: the server closes the socket as the token expires
    assert (closed.code, closed.reason) == (4401, "Token expired")
    assert time.monotonic() - subscribed < 3.5


async def test_patients_analysts_and_monitors_are_refused_and_hear_no_alert(sqlite_server: Server) -> None:
    # given: an S01 patient, an analyst and an S01 monitor, each with an accepted connection
    server = sqlite_server
    tokens = {
        "patient": patient("S01-004"),
        "analyst": dev_token("analyst", sub="e2e-analyst"),
        "monitor": dev_token("monitor", "S01", sub="e2e-monitor"),
    }
    sockets = {role: await GraphQLWS(server.ws_url).open() for role in tokens}
    try:
        for role, ws in sockets.items():
            await ws.init({"Authorization": f"Bearer {tokens[role]}"})
        # when
        for ws in sockets.values():
            await ws.subscribe("alerts", SITE_ALERTS, {"sites": ["S01"]})
        answers = {role: await ws.receive(within=5) for role, ws in sockets.items()}
        # then: an `error` message, PERMISSION_DENIED
        for role, answer in answers.items():
            assert (answer.type, answer.id, answer.payload) == (
                "error",
                "alerts",
                [
                    {
                        "message": "site alerts go to the site's clinical staff",
                        "locations": [{"line": 1, "column": 35}],
                        "path": ["siteAlerts"],
                        "extensions": {"code": "PERMISSION_DENIED"},
                    }
                ],
            ), role
        # and an S01 alert raised now reaches none of them
        result, _sent, _responded = await submit(server, "S01-004", vomited_blood())
        assert result["alertRaised"] is True, result
        await asyncio.gather(*(ws.nothing_within(1.0) for ws in sockets.values()))
        assert all(ws.closed is None for ws in sockets.values())  # refused the operation, not the socket
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets.values()))


# ---- PostgreSQL: across server processes --------------------------------------------------------

PG_URL = os.environ.get("TEST_DATABASE_URL")


def _run(coroutine: Any) -> Any:
    """Runs a coroutine to completion from synchronous fixture code, whatever loop is running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _admin_sql(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def scratch_database_url() -> Iterator[str]:
    """A database of this module's own next to TEST_DATABASE_URL's: created, migrated, dropped."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    base = make_url(PG_URL).set(drivername="postgresql")
    name = f"{base.database}_e2e"
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
def pg_servers(scratch_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Servers A and B, and one `serve --workers 2`, all on the scratch database (started at once)."""
    logs = tmp_path_factory.mktemp("alerts-postgres")
    env = clean_env(
        DATABASE_URL=scratch_database_url,
        PTR_DATA_DIR=str(logs),
        PTR_ENVIRONMENT="development",
        PTR_LOG_LEVEL="WARNING",
    )
    workers = Launch(logs / "workers.log", env={"PTR_LOG_LEVEL": "INFO"}, workers=2)
    with serving(env, Launch(logs / "a.log"), Launch(logs / "b.log"), workers) as servers:
        seed(servers[0])
        yield servers


@pytest.mark.postgres
async def test_an_alert_raised_through_one_server_reaches_a_subscriber_of_another(pg_servers: list[Server]) -> None:
    # given: S01's investigator connected to server B, S02's too; S01's coordinator to server A
    a, b, _workers = pg_servers
    on_b = await subscriber(b, INVESTIGATOR_S01)
    s02_on_b = await subscriber(b, INVESTIGATOR_S02)
    on_a = await subscriber(a, COORDINATOR_S01)
    try:
        # when: the patient's report goes to server A
        result, sent, responded = await submit(a, "S01-001", vomited_blood())
        received_b, received_a = await asyncio.gather(on_b.receive(within=5), on_a.receive(within=5))
        # then: B's subscriber has it within a second of A's response; A's own subscriber too
        assert result["alertRaised"] is True, result
        latency_b = report_latency("PostgreSQL, server A -> subscriber on server B", received_b, sent, responded)
        latency_a = report_latency("PostgreSQL, server A -> subscriber on server A", received_a, sent, responded)
        assert latency_b < LIVE_WITHIN_S and latency_a < LIVE_WITHIN_S
        alert = live_alert(received_b)
        assert live_alert(received_a) == alert
        assert {k: v for k, v in alert.items() if k not in ("id", "createdAt")} == {
            "siteCode": "S01",
            "subjectCode": "S01-001",
            "bleedingReportId": result["report"]["id"],
            "redFlags": ["VOMITING_BLOOD"],
            "provisionalWhoGrade": 2,
            "message": red_flag_message("S01-001"),
            "acknowledgedAt": None,
        }

        # when: a grade-1 report without red flag goes to server A
        quiet, _sent, _responded = await submit(a, "S01-002", short_nosebleed())
        # then: nothing more anywhere, and S02's investigator on B heard nothing at all
        assert (quiet["provisionalWhoGrade"], quiet["alertRaised"]) == (1, False), quiet
        await asyncio.gather(*(ws.nothing_within(QUIET_FOR_S) for ws in (on_b, s02_on_b, on_a)))
    finally:
        await asyncio.gather(on_b.close(), s02_on_b.close(), on_a.close())
    # and: both servers' inboxes hold that one alert
    assert [x for x in inbox(b, INVESTIGATOR_S01) if x["subjectCode"] in ("S01-001", "S01-002")] == [alert]
    assert [x for x in inbox(a, INVESTIGATOR_S01) if x["subjectCode"] in ("S01-001", "S01-002")] == [alert]


@pytest.mark.postgres
async def test_serve_with_two_workers_delivers_to_subscribers_on_every_worker(pg_servers: list[Server]) -> None:
    # given: `serve --workers 2` on the same database; S01 subscribers opened until each worker holds
    # at least one (the kernel decides which worker accepts a connection; /proc tells which did).
    # A worker still starting, or starved of CPU on a loaded machine, accepts nothing for a while:
    # keep opening them, a little apart, for up to 30 s.
    _a, _b, server = pg_servers
    sockets = [await subscriber(server, INVESTIGATOR_S01)]
    owners = worker_of_client_ports(server)
    deadline = time.monotonic() + 30
    while owners is not None and len(set(owners.values())) < 2 and len(sockets) < 64 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        sockets.append(await subscriber(server, INVESTIGATOR_S01))
        owners = worker_of_client_ports(server)
    if owners is not None:
        assert len(set(owners.values())) == 2, f"every connection went to one worker: {owners}"
        assert {ws.local_port for ws in sockets} <= owners.keys()
    try:
        # when: a report through the same port, so through either worker
        result, sent, responded = await submit(server, "S01-003", vomited_blood())
        received = await asyncio.gather(*(ws.receive(within=5) for ws in sockets))
        # then: every subscriber, on either worker, has it within a second
        assert result["alertRaised"] is True, result
        latencies = [
            report_latency(f"PostgreSQL, --workers 2, subscriber {i}", r, sent, responded)
            for i, r in enumerate(received)
        ]
        assert max(latencies) < LIVE_WITHIN_S
        alerts = [live_alert(r) for r in received]
        assert [a["subjectCode"] for a in alerts] == ["S01-003"] * len(sockets)
        assert len({a["id"] for a in alerts}) == 1
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


LISTENERS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'"


async def _listener_pids(url: str) -> set[int]:
    connection = await asyncpg.connect(url)
    try:
        return {row["pid"] for row in await connection.fetch(LISTENERS)}
    finally:
        await connection.close()


async def _terminate(url: str, pids: set[int]) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(pids))
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_listeners_dropped_by_the_database_reconnect_and_deliver_again(
    pg_servers: list[Server], scratch_database_url: str
) -> None:
    # given: the database ends every server process's LISTEN connection (A, B, two workers)
    a, b, _workers = pg_servers
    dropped = await _listener_pids(scratch_database_url)
    assert len(dropped) == 4
    await _terminate(scratch_database_url, dropped)
    deadline = time.monotonic() + 10
    while (
        (listening := await _listener_pids(scratch_database_url)) == set()
        or listening & dropped
        or (len(listening) < 4)
    ):
        assert time.monotonic() < deadline, f"listeners not back within 10 s: {listening}"
        await asyncio.sleep(0.1)
    on_b = await subscriber(b, INVESTIGATOR_S01)
    try:
        # when
        result, sent, responded = await submit(a, "S01-004", vomited_blood())
        received = await on_b.receive(within=5)
        # then
        assert result["alertRaised"] is True, result
        assert report_latency("PostgreSQL, after the listeners reconnected", received, sent, responded) < (
            LIVE_WITHIN_S
        )
        assert live_alert(received)["subjectCode"] == "S01-004"
    finally:
        await on_b.close()


@pytest.mark.postgres
async def test_an_alert_raised_while_the_listeners_are_down_is_replayed_once_they_are_back(
    pg_servers: list[Server], scratch_database_url: str
) -> None:
    # given: S01's investigator on server B and coordinator on server A; then the database ends
    # every LISTEN connection and, at once (before the 2 s reconnect tick), an alert is raised
    # through A: its NOTIFY reaches nobody
    a, b, _workers = pg_servers
    on_b = await subscriber(b, INVESTIGATOR_S01)
    on_a = await subscriber(a, COORDINATOR_S01)
    try:
        missed: dict[str, Any] | None = None
        results: list[dict[str, Any]] = []
        for attempt in range(1, 6):  # another try only if a listener came back within the submit
            dropped = await _listener_pids(scratch_database_url)
            await _terminate(scratch_database_url, dropped)
            # a day of its own each time: a red flag already raised that day raises no new alert
            report = vomited_blood(datetime.now(timezone.utc) - timedelta(days=attempt))
            result, _sent, _responded = await submit(a, "S01-001", report)
            assert result["alertRaised"] is True, result
            results.append(result)
            if not await _listener_pids(scratch_database_url):
                missed = result
                break
        assert missed is not None, "a listener reconnected within every submit: the gap was never hit"
        print(f"\n[alert replay] the alert was committed with no listener up (attempt {attempt})")

        # when: the listeners reconnect (within one tick) and replay from the alert table
        received_b = [live_alert(await on_b.receive(within=10)) for _ in results]
        received_a = [live_alert(await on_a.receive(within=10)) for _ in results]
        deadline = time.monotonic() + 10
        while len(await _listener_pids(scratch_database_url)) < 4:
            assert time.monotonic() < deadline, "listeners not back within 10 s"
            await asyncio.sleep(0.1)
        # then: each subscriber has every alert raised, the missed one included, exactly once
        for received in (received_b, received_a):
            # (in any order: a replayed alert may come after a later one NOTIFYed)
            assert sorted(r["bleedingReportId"] for r in received) == sorted(r["report"]["id"] for r in results)
            assert {r["message"] for r in received} == {red_flag_message("S01-001")}
            assert len({r["id"] for r in received}) == len(results)
        await asyncio.gather(on_b.nothing_within(QUIET_FOR_S), on_a.nothing_within(QUIET_FOR_S))
        # and: the replayed alert is the one in the inbox
        stored = {x["id"]: x for x in inbox(b, INVESTIGATOR_S01)}
        replayed = next(r for r in received_b if r["bleedingReportId"] == missed["report"]["id"])
        assert replayed == stored[replayed["id"]]
    finally:
        await asyncio.gather(on_b.close(), on_a.close())
