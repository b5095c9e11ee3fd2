"""The real thing, end to end: `python -m server.cli serve --seed-demo` in a subprocess on the embedded
SQLite database, spoken to over a real TCP socket; tokens from the `token` command; the analyst
example client run as a subprocess. Also: the production refusals of the `token` command."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.domain.devices import CODE_ALPHABET

from .servers import REPO, Launch, Server, clean_env, cli, serving

ANALYST_CLIENT = REPO / "clients" / "examples" / "analyst.py"
PRODUCTION_SECRET = "e2e-production-secret-0123456789abcdefgh"  # 40 characters

# Tokens the tests use, minted by the `token` command while the server starts.
TOKENS = {
    "coordinator": ("--role", "coordinator", "--site", "S01", "--sub", "e2e-coordinator"),
    "patient": ("--role", "patient", "--subject", "S01-001"),
    "analyst": ("--role", "analyst", "--sub", "e2e-analyst"),
}


def _start_token_commands(env: dict[str, str]) -> dict[str, subprocess.Popen[str]]:
    return {
        name: subprocess.Popen(
            [sys.executable, "-m", "server.cli", "token", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in TOKENS.items()
    }


def _collect_tokens(commands: dict[str, subprocess.Popen[str]]) -> dict[str, str]:
    tokens = {}
    try:
        for name, command in commands.items():
            out, err = command.communicate(timeout=30)
            assert command.returncode == 0, f"token {name}: {err}"
            tokens[name] = out.strip()
    finally:
        for command in commands.values():
            if command.poll() is None:
                command.kill()
                command.wait()
    return tokens


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    env = clean_env(PTR_DATA_DIR=str(data_dir), PTR_ENVIRONMENT="development", PTR_LOG_LEVEL="WARNING")
    commands = _start_token_commands(env)  # minted while the demo is seeded
    try:
        with serving(env, Launch(data_dir / "server.log", ("--seed-demo",))) as (started,):
            started.tokens = _collect_tokens(commands)
            yield started
    finally:  # when the server failed to start, the token commands may still run
        for command in commands.values():
            if command.poll() is None:
                command.kill()
                command.wait()


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---- health and transport ----------------------------------------------------------------------


def test_health_and_readiness_over_a_real_socket(server: Server) -> None:
    # when
    health = httpx.get(f"{server.url}/healthz", timeout=5)
    ready = httpx.get(f"{server.url}/readyz", timeout=5)
    # then
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["migrations"]["current"] == ready.json()["migrations"]["head"]


def test_graphql_without_token_is_401(server: Server) -> None:
    # when
    response = httpx.post(server.graphql_url, json={"query": "{ viewer { role } }"}, timeout=5)
    # then
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_graphiql_page_is_served_to_a_browser_in_development(server: Server) -> None:
    # when
    response = httpx.get(server.graphql_url, headers={"Accept": "text/html"}, timeout=5)
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


# ---- a coordinator's first write ---------------------------------------------------------------

ENROLL = """
mutation($input: EnrollSubjectInput!) {
  enrollSubject(input: $input) {
    __typename
    ... on SubjectSuccess { subject { code status site { code } } }
    ... on UserError { code message field }
  }
}"""

RECORD_TRANSFUSION = """
mutation($input: RecordPlateletTransfusionInput!) {
  recordPlateletTransfusion(input: $input) {
    __typename
    ... on PlateletTransfusionSuccess {
      transfusion { id startedAt endedAt doseE11 units { kind contentE11 } }
      counts { id drawnAt valueE9PerL }
    }
    ... on UserError { code message field }
    ... on InputError { problems { code message field } }
  }
}"""

READ_BACK = """
query($code: String!) {
  subject(code: $code) {
    code
    status
    site { code }
    transfusions { id startedAt endedAt doseE11 aboCompatibility }
    plateletCounts { drawnAt valueE9PerL }
  }
}"""


def test_coordinator_enrolls_and_records_a_transfusion_with_its_counts(server: Server) -> None:
    # given
    coordinator = server.tokens["coordinator"]
    enrolment = {
        "code": "S01-E2E-001",
        "siteCode": "S01",
        "sex": "FEMALE",
        "yearOfBirth": 1982,
        "ageAtConsent": 42,
        "diagnosis": "AML",
        "remissionStatus": "CR1",
        "consentDate": "2024-06-03",
        "status": "ENROLLED",
    }
    transfusion = {
        "subjectCode": "S01-E2E-001",
        "startedAt": "2024-07-01T08:00:00Z",
        "endedAt": "2024-07-01T09:00:00Z",
        "units": [{"kind": "APHERESIS", "contentE11": 3.5}],
        "aboCompatibility": "IDENTICAL",
        "preCount": {"valueE9PerL": 8, "drawnAt": "2024-07-01T06:30:00Z"},
        "postCounts": [
            {"valueE9PerL": 31, "drawnAt": "2024-07-01T09:30:00Z"},
            {"valueE9PerL": 22, "drawnAt": "2024-07-02T07:00:00Z"},
        ],
    }
    # when
    enrolled = server.gql(coordinator, ENROLL, {"input": enrolment})["enrollSubject"]
    recorded = server.gql(coordinator, RECORD_TRANSFUSION, {"input": transfusion})["recordPlateletTransfusion"]
    read = server.gql(coordinator, READ_BACK, {"code": "S01-E2E-001"})["subject"]
    # then
    assert enrolled == {
        "__typename": "SubjectSuccess",
        "subject": {"code": "S01-E2E-001", "status": "ENROLLED", "site": {"code": "S01"}},
    }
    assert recorded["__typename"] == "PlateletTransfusionSuccess", recorded
    assert recorded["transfusion"]["doseE11"] == 3.5
    assert recorded["transfusion"]["units"] == [{"kind": "APHERESIS", "contentE11": 3.5}]
    assert [c["valueE9PerL"] for c in recorded["counts"]] == [8.0, 31.0, 22.0]
    assert read["code"] == "S01-E2E-001" and read["site"] == {"code": "S01"}
    assert [t["id"] for t in read["transfusions"]] == [recorded["transfusion"]["id"]]
    (stored,) = read["transfusions"]
    assert _utc(stored["startedAt"]) == _utc("2024-07-01T08:00:00Z")
    assert _utc(stored["endedAt"]) == _utc("2024-07-01T09:00:00Z")
    assert stored["aboCompatibility"] == "IDENTICAL"
    assert [(_utc(c["drawnAt"]), c["valueE9PerL"]) for c in read["plateletCounts"]] == [
        (_utc("2024-07-01T06:30:00Z"), 8.0),
        (_utc("2024-07-01T09:30:00Z"), 31.0),
        (_utc("2024-07-02T07:00:00Z"), 22.0),
    ]


# ---- a patient sees only their own subject -----------------------------------------------------

PATIENT_VIEW = """
{
  viewer { role subjectCode sites }
  subjects { totalCount edges { node { code site { code } } } }
  other: subject(code: "S01-002") { code }
  own: subject(code: "S01-001") { code }
}"""


def test_patient_sees_exactly_their_own_subject(server: Server) -> None:
    # given: S01-002 exists in the demo (an analyst sees it)
    analyst = server.tokens["analyst"]
    assert server.gql(analyst, '{ subject(code: "S01-002") { code } }')["subject"] == {"code": "S01-002"}
    patient = server.tokens["patient"]
    # when
    data = server.gql(patient, PATIENT_VIEW)
    # then
    assert data["viewer"] == {"role": "PATIENT", "subjectCode": "S01-001", "sites": []}
    assert data["subjects"] == {"totalCount": 1, "edges": [{"node": {"code": "S01-001", "site": {"code": "S01"}}}]}
    assert data["other"] is None
    assert data["own"] == {"code": "S01-001"}


# ---- the analyst example client ----------------------------------------------------------------

ALL_SUBJECTS = """
query($after: String) {
  subjects(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { code status site { code } transfusions { studyDay } } }
  }
}"""


def _all_subjects(server: Server, token: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = server.gql(token, ALL_SUBJECTS, {"after": after})["subjects"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def test_analyst_example_client_pages_through_every_subject(server: Server) -> None:
    # given
    analyst = server.tokens["analyst"]
    expected = _all_subjects(server, analyst)
    env = {**server.env, "PTR_TOKEN": analyst, "PTR_API_URL": server.graphql_url}
    # when: pages of 5 make the client follow cursors
    result = subprocess.run(
        [sys.executable, str(ANALYST_CLIENT), "--page-size", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    # then
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["subject", "site", "status", "transfusions", "study", "days"]
    assert lines[-1] == f"{len(expected)} subjects"
    assert len(expected) >= 12  # the demo's twelve, plus any a test above enrolled
    rows = [line.split(None, 4) for line in lines[1:-1]]
    assert [row[0] for row in rows] == [s["code"] for s in expected]
    for row, subject in zip(rows, expected, strict=True):
        days = [str(t["studyDay"]) if t["studyDay"] is not None else "?" for t in subject["transfusions"]]
        assert row[1:4] == [subject["site"]["code"], subject["status"], str(len(subject["transfusions"]))]
        assert row[4] == (", ".join(days) if days else "-")


def test_analyst_example_client_without_token_exits_2(server: Server) -> None:
    # when
    result = subprocess.run(
        [sys.executable, str(ANALYST_CLIENT)],
        env={**server.env, "PTR_API_URL": server.graphql_url},
        capture_output=True,
        text=True,
        timeout=30,
    )
    # then
    assert result.returncode == 2
    assert "PTR_TOKEN" in result.stderr


# ---- production refuses development tokens -----------------------------------------------------


def test_production_refuses_the_development_secret(tmp_path: Path) -> None:
    # given
    env = clean_env(PTR_ENVIRONMENT="production", PTR_DATA_DIR=str(tmp_path))
    # when
    result = cli(env, "token", "--role", "admin")
    # then
    assert result.returncode != 0
    assert result.stdout == ""
    assert "production refuses the development token secret" in result.stderr


def test_production_refuses_development_tokens_even_with_a_real_secret(tmp_path: Path) -> None:
    # given
    assert len(PRODUCTION_SECRET) == 40
    env = clean_env(
        PTR_ENVIRONMENT="production",
        PTR_JWT_SECRET=PRODUCTION_SECRET,
        PTR_PUBLIC_BASE_URL="https://trial.example.org",
        PTR_DATA_DIR=str(tmp_path),
    )
    # when
    result = cli(env, "token", "--role", "admin")
    # then
    assert result.returncode == 2
    assert result.stdout == ""
    assert "development tokens are refused in production" in result.stderr


@pytest.mark.parametrize("base_url", [None, "http://trial.example.org"], ids=["unset", "plain-http"])
def test_production_refuses_to_start_without_an_https_public_address(tmp_path: Path, base_url: str | None) -> None:
    # given: activation links would otherwise point at http://127.0.0.1:8000 or go out unencrypted
    extra = {"PTR_PUBLIC_BASE_URL": base_url} if base_url else {}
    env = clean_env(PTR_ENVIRONMENT="production", PTR_JWT_SECRET=PRODUCTION_SECRET, PTR_DATA_DIR=str(tmp_path), **extra)
    # when
    result = cli(env, "migrate")
    # then
    assert result.returncode != 0
    assert "production needs PTR_PUBLIC_BASE_URL" in result.stderr


@pytest.mark.parametrize("command", [("serve", "--seed-demo", "--port", "1"), ("seed-demo",)], ids=["serve", "seed"])
def test_production_refuses_the_demo_trial_and_prints_no_activation_code(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # given
    env = clean_env(
        PTR_ENVIRONMENT="production",
        PTR_JWT_SECRET=PRODUCTION_SECRET,
        PTR_PUBLIC_BASE_URL="https://trial.example.org",
        PTR_DATA_DIR=str(tmp_path),
    )
    # when
    result = cli(env, *command)
    # then: refused before touching the database
    assert result.returncode == 2
    assert "activate=" not in result.stdout + result.stderr
    assert "the demo trial is refused in production" in result.stderr
    assert not (tmp_path / "ptr-trial.sqlite3").exists()


# ---- client addresses behind a reverse proxy ----------------------------------------------------


def test_x_forwarded_for_from_an_untrusted_address_does_not_escape_the_per_ip_limit(tmp_path: Path) -> None:
    # given: a server that trusts only its proxy at 10.9.9.9, reached directly from 127.0.0.1
    env = clean_env(PTR_DATA_DIR=str(tmp_path), PTR_LOG_LEVEL="WARNING", PTR_FORWARDED_ALLOW_IPS="10.9.9.9")
    with serving(env, Launch(tmp_path / "server.log")) as (server,):
        # when: eleven wrong codes, each claiming another client address (the limit is 10/minute per IP)
        statuses = [
            httpx.post(
                f"{server.url}/diary/api/activate",
                json={"code": "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
                timeout=10,
            ).status_code
            for n in range(11)
        ]
    # then: the spoofed header is ignored; all eleven count against 127.0.0.1
    assert statuses == [401] * 10 + [429]
