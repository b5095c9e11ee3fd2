"""Patients' phones over HTTP: staff issue an activation code, the phone redeems it for a device
with rotating credentials, staff revoke it. SQLite and PostgreSQL.

World: sites S01 and S02, subjects S01-001 and S02-001."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server.db.models import AuditEvent, DeviceActivation, PatientDevice
from server.domain.auth import Actor
from server.domain.devices import CODE_ALPHABET, secret_digest_key
from server.domain.enums import Role
from server.services.devices import issue_activation
from server.services.unit_of_work import UnitOfWork
from server.settings import Settings
from tests.api import fixtures_data as fx

ISSUE = """mutation($input: IssueDeviceActivationInput!) {
  issueDeviceActivation(input: $input) {
    __typename
    ... on DeviceActivationIssued { activation: activationCode expiresAt activationUrl qrSvg subjectCode }
    ... on UserError { code message field }
  }
}"""
REVOKE = """mutation($input: RevokeDeviceInput!) {
  revokeDevice(input: $input) {
    __typename
    ... on DeviceRevoked { device { id revokedAt revokedReason } }
    ... on UserError { code message field }
  }
}"""
DEVICES = """query($code: String!) {
  subject(code: $code) {
    devices { id label createdAt lastUsedAt revokedAt revokedReason }
    activations { createdAt expiresAt redeemedAt revokedAt revokedReason }
  }
}"""
CANCEL = """mutation($input: RevokeDeviceActivationsInput!) {
  revokeDeviceActivations(input: $input) {
    __typename
    ... on DeviceActivationsRevoked { subjectCode activations { revokedAt revokedReason } }
    ... on UserError { code message field }
  }
}"""


@pytest.fixture
async def world(gql: Any, token: Any) -> None:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.create_site(gql, admin, "S02")
    await fx.enroll_subject(gql, admin, "S01-001", "S01")
    await fx.enroll_subject(gql, admin, "S02-001", "S02")


async def issue(gql: Any, bearer: str, subject: str = "S01-001") -> dict[str, Any]:
    return (await gql.data(bearer, ISSUE, {"input": {"subjectCode": subject}}))["issueDeviceActivation"]


async def activate(client: httpx.AsyncClient, code: str, label: str | None = "Pixel 7") -> httpx.Response:
    body: dict[str, Any] = {"code": code}
    if label is not None:
        body["deviceLabel"] = label
    return await client.post("/diary/api/activate", json=body)


async def activated(client: httpx.AsyncClient, gql: Any, token: Any) -> dict[str, Any]:
    issued = await issue(gql, token("coordinator", "S01"))
    response = await activate(client, issued["activation"])
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def digest_key(app: Any) -> bytes:
    return secret_digest_key(app.state.settings.jwt_secret)


async def audit_rows(app: Any, entity: str) -> list[AuditEvent]:
    async with app.state.sessionmaker() as session:
        query = select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.id)
        return list((await session.execute(query)).scalars().all())


# ---------------------------------------------------------------------------------------------
# Issuing


async def test_coordinator_of_the_site_issues_a_code(gql: Any, token: Any, world: None, app: Any):
    # given
    coordinator = token("coordinator", "S01", sub="coord-1")
    before = datetime.now(timezone.utc)
    # when
    issued = await issue(gql, coordinator)
    # then
    assert issued["__typename"] == "DeviceActivationIssued"
    code = issued["activation"]
    assert len(code) == 11 and code[5] == "-"
    assert all(ch in CODE_ALPHABET for ch in code.replace("-", ""))
    assert issued["activationUrl"] == f"http://127.0.0.1:8000/diary/#activate={code}"
    assert issued["subjectCode"] == "S01-001"
    expires = datetime.fromisoformat(issued["expiresAt"])
    assert timedelta(hours=71, minutes=59) < expires - before < timedelta(hours=72, minutes=1)
    svg = issued["qrSvg"]
    assert svg.startswith("<?xml") or svg.startswith("<svg")
    assert "<svg" in svg and "</svg>" in svg
    # and the audit trail names the issuer and keeps nothing derived from the code
    rows = await audit_rows(app, "DeviceActivation")
    assert [(r.actor_id, r.action.value) for r in rows] == [("coord-1", "create")]
    assert set(rows[0].changes) == {"expires_at"}


async def test_codes_and_refresh_tokens_are_stored_as_keyed_digests(
    client: Any, gql: Any, token: Any, world: None, app: Any, settings: Settings
):
    # given
    issued = await issue(gql, token("coordinator", "S01"))
    code = issued["activation"].replace("-", "")
    # when
    device = (await activate(client, issued["activation"])).json()
    # then: neither the code's nor the token's plain SHA-256 is stored, only their HMAC
    key = hmac.new(settings.jwt_secret.encode(), b"ptr-activation-code-v1", hashlib.sha256).digest()
    async with app.state.sessionmaker() as session:
        stored_code = (await session.execute(select(DeviceActivation.code_hash))).scalar_one()
        stored_token = (await session.execute(select(PatientDevice.refresh_token_hash))).scalar_one()
    assert stored_code == hmac.new(key, code.encode(), hashlib.sha256).hexdigest()
    assert stored_code != hashlib.sha256(code.encode()).hexdigest()
    assert stored_token == hmac.new(key, device["refreshToken"].encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("role", "sites", "expected"),
    [
        ("coordinator", ("S02",), ("NotFoundError", "NOT_FOUND")),
        ("investigator", ("S02",), ("NotFoundError", "NOT_FOUND")),
        ("analyst", (), ("PermissionDeniedError", "PERMISSION_DENIED")),
        ("monitor", ("S01",), ("PermissionDeniedError", "PERMISSION_DENIED")),
    ],
)
async def test_others_cannot_issue(gql: Any, token: Any, world: None, role: str, sites: tuple[str, ...], expected: Any):
    # when
    result = await issue(gql, token(role, *sites))
    # then
    assert (result["__typename"], result["code"]) == expected


async def test_patient_cannot_issue(gql: Any, token: Any, world: None):
    # when
    result = await issue(gql, token("patient", subject="S01-001"))
    # then
    assert (result["__typename"], result["code"]) == ("PermissionDeniedError", "PERMISSION_DENIED")


async def test_investigator_and_admin_issue(gql: Any, token: Any, world: None):
    # when
    by_investigator = await issue(gql, token("investigator", "S01"))
    by_admin = await issue(gql, token("admin"), "S02-001")
    # then: both work, and the earlier code stays valid beside the new one
    assert by_investigator["__typename"] == by_admin["__typename"] == "DeviceActivationIssued"
    assert by_investigator["activation"] != by_admin["activation"]


async def test_staff_cancel_unused_codes_and_a_phone_is_told_the_code_expired(
    client: Any, gql: Any, token: Any, world: None, app: Any
):
    # given: two codes for S01-001, one already redeemed, one still unused
    coordinator = token("coordinator", "S01", sub="coord-1")
    await activated(client, gql, token)
    unused = await issue(gql, coordinator)
    # when
    result = (
        await gql.data(
            coordinator, CANCEL, {"input": {"subjectCode": "S01-001", "reason": "card handed to the wrong patient"}}
        )
    )["revokeDeviceActivations"]
    # then: only the unused code is cancelled, with its reason, audited
    assert result["__typename"] == "DeviceActivationsRevoked", result
    assert [a["revokedReason"] for a in result["activations"]] == ["card handed to the wrong patient"]
    listed = (await gql.data(coordinator, DEVICES, {"code": "S01-001"}))["subject"]["activations"]
    assert [(a["redeemedAt"] is None, a["revokedAt"] is None) for a in listed] == [(False, True), (True, False)]
    voids = [r for r in await audit_rows(app, "DeviceActivation") if r.action.value == "void"]
    assert [(r.actor_id, r.reason) for r in voids] == [("coord-1", "card handed to the wrong patient")]
    # and the phone trying it is told, in the words it knows, to ask for a new one
    response = await activate(client, unused["activation"])
    assert (response.status_code, error_of(response)) == (401, "ACTIVATION_CODE_EXPIRED")
    # and cancelling again finds nothing to cancel
    again = (await gql.data(coordinator, CANCEL, {"input": {"subjectCode": "S01-001", "reason": "again"}}))[
        "revokeDeviceActivations"
    ]
    assert (again["__typename"], again["code"]) == ("ConflictError", "NO_CHANGE")


# ---------------------------------------------------------------------------------------------
# Redemption


async def test_redeemed_code_gives_tokens_for_the_own_subject(client: Any, gql: Any, token: Any, world: None):
    # given
    issued = await issue(gql, token("coordinator", "S01"))
    typed = issued["activation"].lower().replace("-", " ")  # as a patient might type it
    # when
    response = await activate(client, typed)
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subjectCode"] == "S01-001"
    assert body["site"] == {"code": "S01", "name": "Site S01", "phone": None}
    assert len(body["refreshToken"]) >= 40 and body["deviceId"]
    assert datetime.fromisoformat(body["accessTokenExpiresAt"]) > datetime.now(timezone.utc)
    assert response.headers["cache-control"] == "no-store"
    # and the access token works on /graphql for the own subject only
    data = await gql.data(
        body["accessToken"],
        '{ viewer { role subjectCode } own: subject(code: "S01-001") { code } other: subject(code: "S02-001") { code } }',
    )
    assert data == {"viewer": {"role": "PATIENT", "subjectCode": "S01-001"}, "own": {"code": "S01-001"}, "other": None}


async def test_code_is_single_use(client: Any, gql: Any, token: Any, world: None):
    # given
    issued = await issue(gql, token("coordinator", "S01"))
    assert (await activate(client, issued["activation"])).status_code == 200
    # when
    again = await activate(client, issued["activation"])
    # then
    assert (again.status_code, error_of(again)) == (401, "ACTIVATION_CODE_USED")


async def test_expired_code_is_refused(client: Any, app: Any, world: None):
    # given: a code issued 73 hours ago (the default TTL is 72 h)
    admin = Actor(actor_id="admin-1", role=Role.ADMIN)
    issued_at = datetime.now(timezone.utc) - timedelta(hours=73)
    async with UnitOfWork(app.state.write_sessionmaker, admin, clock=lambda: issued_at) as uow:
        code = (await issue_activation(uow, subject_code="S01-001", digest_key=digest_key(app))).code
        await uow.commit()
    # when
    response = await activate(client, code)
    # then
    assert (response.status_code, error_of(response)) == (401, "ACTIVATION_CODE_EXPIRED")


async def test_wrong_code_is_refused_and_the_attempt_audited(client: Any, app: Any, world: None):
    # given
    wrong = "ABCDE-FGHJK"
    # when
    response = await activate(client, wrong)
    # then
    assert (response.status_code, error_of(response)) == (401, "ACTIVATION_CODE_INVALID")
    assert "study team" in response.json()["error"]["message"]
    rows = await audit_rows(app, "DeviceActivation")
    assert len(rows) == 1
    attempt = rows[0]
    assert (attempt.entity_id, attempt.subject_id, attempt.site_id) == (0, None, None)
    assert attempt.changes["redemption_refused"]["new"] == "ACTIVATION_CODE_INVALID"
    # and nothing derived from the typed code is recorded (no digest, no prefix)
    assert set(attempt.changes) == {"redemption_refused"}
    # and nothing else was written
    async with app.state.sessionmaker() as session:
        assert (await session.execute(select(PatientDevice))).first() is None


# ---------------------------------------------------------------------------------------------
# Refresh, reuse, revocation


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/diary/api/token", json={"refreshToken": refresh_token})


async def test_refresh_rotates_the_token(client: Any, gql: Any, token: Any, world: None):
    # given
    first = await activated(client, gql, token)
    # when
    rotated = await refresh(client, first["refreshToken"])
    # then
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert (await gql.data(second["accessToken"], "{ viewer { subjectCode } }"))["viewer"]["subjectCode"] == "S01-001"
    # and the token after it rotates in turn
    assert (await refresh(client, second["refreshToken"])).status_code == 200


async def test_a_retry_hours_after_a_lost_refresh_answer_rotates_again(
    client: Any, gql: Any, token: Any, world: None, app: Any
):
    # given a refresh whose answer never reached the phone, and the app reopened hours later
    first = await activated(client, gql, token)
    lost = await refresh(client, first["refreshToken"])
    assert lost.status_code == 200
    await age_rotation(app, seconds=6 * 3600)
    # when the phone retries with the token it still holds
    retried = await refresh(client, first["refreshToken"])
    # then it gets a fresh pair, the device stays active, and its new tokens work
    assert retried.status_code == 200, retried.text
    again = await refresh(client, retried.json()["refreshToken"])
    assert again.status_code == 200, again.text
    assert (await gql.data(again.json()["accessToken"], "{ viewer { role } }"))["viewer"]["role"] == "PATIENT"
    devices = (await gql.data(token("coordinator", "S01"), DEVICES, {"code": "S01-001"}))["subject"]["devices"]
    assert devices[0]["revokedAt"] is None
    assert [r.action.value for r in await audit_rows(app, "PatientDevice")] == ["create"]


async def test_a_theft_race_revokes_the_device_when_the_discarded_token_returns(
    client: Any, gql: Any, token: Any, world: None, app: Any
):
    # given: the phone refreshed T0 into T1; an attacker holding a copy of T0 replays it and gets T2
    t0 = await activated(client, gql, token)
    t1 = (await refresh(client, t0["refreshToken"])).json()
    stolen = await refresh(client, t0["refreshToken"])
    assert stolen.status_code == 200, stolen.text
    t2 = stolen.json()
    # when: the phone presents T1, which the attacker's rotation discarded
    legit = await refresh(client, t1["refreshToken"])
    # then: refused, and the whole family is dead: the attacker's T2 and its access token too
    assert (legit.status_code, error_of(legit)) == (401, "REFRESH_TOKEN_INVALID")
    attacker = await refresh(client, t2["refreshToken"])
    assert (attacker.status_code, error_of(attacker)) == (401, "DEVICE_REVOKED")
    body = await gql(t2["accessToken"], "{ viewer { role } }", status=401)
    assert body["errors"][0]["extensions"]["code"] == "DEVICE_REVOKED"
    devices = (await gql.data(token("coordinator", "S01"), DEVICES, {"code": "S01-001"}))["subject"]["devices"]
    assert devices[0]["revokedReason"] == "refresh token family reused (possible theft)"
    voids = [r for r in await audit_rows(app, "PatientDevice") if r.action.value == "void"]
    assert [(r.actor_id, r.reason, r.changes["revoked_by"]["new"]) for r in voids] == [
        ("patient-app", "refresh token family reused (possible theft)", "system:refresh-token-reuse")
    ]


async def test_an_older_token_is_refused_without_revoking(client: Any, gql: Any, token: Any, world: None, app: Any):
    # given: T0 -> T1 -> T2, all answers received
    t0 = await activated(client, gql, token)
    t1 = (await refresh(client, t0["refreshToken"])).json()
    t2 = (await refresh(client, t1["refreshToken"])).json()
    # when: T0, two rotations old, comes back
    old = await refresh(client, t0["refreshToken"])
    # then: refused, and the device goes on
    assert (old.status_code, error_of(old)) == (401, "REFRESH_TOKEN_INVALID")
    assert (await refresh(client, t2["refreshToken"])).status_code == 200
    assert [r.action.value for r in await audit_rows(app, "PatientDevice")] == ["create"]


async def age_rotation(app: Any, *, seconds: int) -> None:
    """Moves every device's last rotation `seconds` into the past."""
    async with app.state.write_sessionmaker() as session, session.begin():
        for device in (await session.execute(select(PatientDevice))).scalars():
            assert device.last_used_at is not None
            device.last_used_at -= timedelta(seconds=seconds)


async def test_unknown_refresh_token_is_refused(client: Any, world: None):
    # when
    response = await client.post("/diary/api/token", json={"refreshToken": secrets.token_urlsafe(32)})
    # then
    assert (response.status_code, error_of(response)) == (401, "REFRESH_TOKEN_INVALID")


async def test_staff_revoke_a_device(client: Any, gql: Any, token: Any, world: None, app: Any):
    # given
    device = await activated(client, gql, token)
    coordinator = token("coordinator", "S01", sub="coord-1")
    listed = (await gql.data(coordinator, DEVICES, {"code": "S01-001"}))["subject"]
    assert [d["id"] for d in listed["devices"]] == [device["deviceId"]]
    assert listed["devices"][0]["label"] == "Pixel 7" and listed["devices"][0]["revokedAt"] is None
    assert listed["activations"][0]["redeemedAt"] is not None
    # when
    result = (await gql.data(coordinator, REVOKE, {"input": {"id": device["deviceId"], "reason": "phone lost"}}))[
        "revokeDevice"
    ]
    # then
    assert result["__typename"] == "DeviceRevoked"
    assert result["device"]["revokedReason"] == "phone lost"
    body = await gql(device["accessToken"], "{ viewer { role } }", status=401)
    assert body["errors"][0]["extensions"]["code"] == "DEVICE_REVOKED"
    refresh = await client.post("/diary/api/token", json={"refreshToken": device["refreshToken"]})
    assert (refresh.status_code, error_of(refresh)) == (401, "DEVICE_REVOKED")
    voids = [r for r in await audit_rows(app, "PatientDevice") if r.action.value == "void"]
    assert [(r.actor_id, r.reason) for r in voids] == [("coord-1", "phone lost")]


async def test_revoke_by_others(client: Any, gql: Any, token: Any, world: None):
    # given
    device = await activated(client, gql, token)

    async def revoke(bearer: str, device_id: str) -> dict[str, Any]:
        variables = {"input": {"id": device_id, "reason": "phone lost"}}
        return (await gql.data(bearer, REVOKE, variables))["revokeDevice"]

    # when
    other_site = await revoke(token("coordinator", "S02"), device["deviceId"])
    missing = await revoke(token("coordinator", "S02"), uuid.uuid4().hex)
    monitor = await revoke(token("monitor", "S01"), device["deviceId"])
    patient = await revoke(device["accessToken"], device["deviceId"])
    # then: another site's device is not found, exactly like a missing one
    assert other_site == missing
    assert (other_site["__typename"], other_site["code"]) == ("NotFoundError", "NOT_FOUND")
    assert monitor["code"] == patient["code"] == "PERMISSION_DENIED"


async def test_who_sees_devices(client: Any, gql: Any, token: Any, world: None):
    # given
    device = await activated(client, gql, token)
    # when
    seen = {
        role: (await gql.data(bearer, DEVICES, {"code": "S01-001"}))["subject"]
        for role, bearer in {
            "monitor": token("monitor", "S01"),
            "admin": token("admin"),
            "patient": device["accessToken"],
            "analyst": token("analyst"),
        }.items()
    }
    other_site = (await gql.data(token("coordinator", "S02"), DEVICES, {"code": "S01-001"}))["subject"]
    # then
    for role in ("monitor", "admin", "patient"):
        assert [d["id"] for d in seen[role]["devices"]] == [device["deviceId"]], role
    assert seen["analyst"] == {"devices": [], "activations": []}
    assert other_site is None


# ---------------------------------------------------------------------------------------------
# Bad input and rate limits


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'"ABCDE-FGHJK"',
        b"[]",
        b"\xff\xfe\x00",
        b"{}",
        b'{"code": 12345}',
        b'{"code": ["ABCDE-FGHJK"]}',
        b'{"code": "ABCDE\\u0000FGHJK"}',
        b'{"code": "ABCDE-FGHJK", "deviceLabel": 7}',
        b'{"code": "ABCDE-FGHJK", "deviceLabel": "tab\\tin label"}',
        json.dumps({"code": "A" * 100_000}).encode(),
        json.dumps({"code": "ABCDE-FGHJK", "deviceLabel": "x" * 81}).encode(),
        b"[" * 3000 + b"]" * 3000,
    ],
)
async def test_malformed_activation_bodies_are_400(client: Any, world: None, content: bytes):
    # when
    response = await client.post("/diary/api/activate", content=content, headers={"content-type": "application/json"})
    # then
    assert response.status_code == 400, response.text
    assert error_of(response) == "BAD_REQUEST"


async def test_an_oversized_body_is_413_in_the_phone_api_shape(client: Any, world: None):
    # given: 1.1 MB, over the service's 1 MB limit on any request body
    content = json.dumps({"code": "ABCDE-FGHJK", "deviceLabel": "x" * 1_100_000}).encode()
    # when
    response = await client.post("/diary/api/activate", content=content, headers={"content-type": "application/json"})
    # then
    assert response.status_code == 413
    assert error_of(response) == "PAYLOAD_TOO_LARGE"
    assert "app" in response.json()["error"]["message"]


@pytest.mark.parametrize("content", [b"nope", b'{"refreshToken": null}', b'{"refreshToken": "a\\u0000b"}', b"1"])
async def test_malformed_refresh_bodies_are_400(client: Any, world: None, content: bytes):
    # when
    response = await client.post("/diary/api/token", content=content)
    # then
    assert (response.status_code, error_of(response)) == (400, "BAD_REQUEST")


def random_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


async def test_eleventh_attempt_from_one_ip_is_rate_limited(client: Any, world: None):
    # given: ten wrong codes from one address (the per-IP limit is 10/minute)
    for _ in range(10):
        assert (await activate(client, random_code())).status_code == 401
    # when
    response = await activate(client, random_code())
    # then
    assert (response.status_code, error_of(response)) == (429, "RATE_LIMITED")
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_one_code_is_rate_limited_across_addresses(app: Any, world: None):
    # given: the same code tried from five addresses (the per-code limit is 5 per 15 minutes)
    code = random_code()
    for n in range(5):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(f"10.0.0.{n}", 1000)), base_url="http://testserver"
        ) as c:
            assert (await activate(c, code)).status_code == 401
    # when: a sixth address, the code typed differently
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.9", 1000)), base_url="http://testserver"
    ) as c:
        response = await activate(c, code.lower())
    # then
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 60


async def test_rate_limits_in_redis(settings: Settings, world: None):
    # given: a second app sharing Redis, one limit of 3/minute
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    from server.app import create_app

    shared = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:6379/0", "activation_rate_limit_per_ip": "3/minute"}
    )
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    statuses = []
    last = None
    for attempts in (3, 1):  # two app instances (two workers): the count is shared through Redis
        application = create_app(shared)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, client=(address, 1000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                for _ in range(attempts):
                    last = await activate(c, random_code())
                    statuses.append(last.status_code)
    # then: the second instance refuses the fourth attempt
    assert statuses == [401, 401, 401, 429]
    assert last is not None and int(last.headers["retry-after"]) >= 1


# ---------------------------------------------------------------------------------------------
# Secrets stay out of logs


async def test_codes_and_tokens_never_reach_the_logs(
    client: Any, gql: Any, token: Any, world: None, caplog: pytest.LogCaptureFixture
):
    # given
    caplog.set_level(logging.DEBUG)
    # when
    issued = await issue(gql, token("coordinator", "S01"))
    await activate(client, "ZZZZZ-ZZZZZ")
    first = (await activate(client, issued["activation"])).json()
    second = (await client.post("/diary/api/token", json={"refreshToken": first["refreshToken"]})).json()
    await client.post("/diary/api/token", json={"refreshToken": first["refreshToken"]})
    # then
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    secrets_seen = [
        issued["activation"],
        issued["activation"].replace("-", ""),
        "ZZZZZZZZZZ",
        first["refreshToken"],
        first["accessToken"],
        second["refreshToken"],
        second["accessToken"],
    ]
    assert [s for s in secrets_seen if s in logged] == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_websocket_refuses_a_revoked_device(settings: Settings):
    # given: a device revoked by its coordinator (a synchronous client: WebSockets need one)
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from server.app import create_app
    from server.auth import development_token

    admin = development_token(settings, role=Role.ADMIN, sites=[], subject=None)

    def gql(bearer: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = tc.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {bearer}"}
        )
        return response.json()["data"]

    with TestClient(create_app(settings)) as tc:
        gql(
            admin,
            "mutation($i: CreateSiteInput!) { createSite(input: $i) { __typename } }",
            {"i": {"code": "S01", "name": "One"}},
        )
        enrol = "mutation($i: EnrollSubjectInput!) { enrollSubject(input: $i) { __typename } }"
        gql(admin, enrol, {"i": fx.subject_input("S01-001", "S01")})
        code = gql(admin, ISSUE, {"input": {"subjectCode": "S01-001"}})["issueDeviceActivation"]["activation"]
        device = tc.post("/diary/api/activate", json={"code": code}).json()

        def connect() -> dict[str, Any]:
            with tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
                ws.send_json(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {device['accessToken']}"}}
                )
                return ws.receive_json()

        assert connect()["type"] == "connection_ack"
        gql(admin, REVOKE, {"input": {"id": device["deviceId"], "reason": "phone lost"}})
        # when / then
        with pytest.raises(WebSocketDisconnect) as closed:
            connect()
        assert closed.value.code == 4403


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_open_websocket_of_a_revoked_device_is_closed_at_its_next_operation(settings: Settings):
    # given: a device whose socket was accepted and has answered one query
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from server.app import create_app
    from server.auth import development_token

    admin = development_token(settings, role=Role.ADMIN, sites=[], subject=None)

    def gql(bearer: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = tc.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {bearer}"}
        )
        return response.json()["data"]

    def operation(ws: Any, operation_id: str) -> None:
        ws.send_json({"id": operation_id, "type": "subscribe", "payload": {"query": "{ viewer { role } }"}})

    with TestClient(create_app(settings)) as tc:
        gql(
            admin,
            "mutation($i: CreateSiteInput!) { createSite(input: $i) { __typename } }",
            {"i": {"code": "S01", "name": "One"}},
        )
        gql(
            admin,
            "mutation($i: EnrollSubjectInput!) { enrollSubject(input: $i) { __typename } }",
            {"i": fx.subject_input("S01-001", "S01")},
        )
        code = gql(admin, ISSUE, {"input": {"subjectCode": "S01-001"}})["issueDeviceActivation"]["activation"]
        device = tc.post("/diary/api/activate", json={"code": code}).json()
        with tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {device['accessToken']}"}})
            assert ws.receive_json()["type"] == "connection_ack"
            operation(ws, "1")
            assert ws.receive_json()["payload"] == {"data": {"viewer": {"role": "PATIENT"}}}
            assert ws.receive_json()["type"] == "complete"
            # when: staff revoke the phone, and it sends another operation on the open socket
            gql(admin, REVOKE, {"input": {"id": device["deviceId"], "reason": "phone lost"}})
            operation(ws, "2")
            # then: the socket is closed, 4403
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 4403
