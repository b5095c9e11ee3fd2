"""Bearer token rules over HTTP: a printable `sub`, a maximum lifetime, and production secrets
with enough entropy (server/auth.py, server/settings.py; README "Settings")."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
import pytest
from pydantic import ValidationError

from server.app import create_app
from server.auth import InvalidToken, actor_from_claims, development_token
from server.domain.enums import Role
from server.settings import Settings, estimated_entropy_bits

VIEWER = "{ viewer { role } }"


def signed(settings: Settings, **claims: Any) -> str:
    now = datetime.now(timezone.utc)
    body: dict[str, Any] = {"sub": "api-admin", "role": "admin", "iat": now, "exp": now + timedelta(hours=1)}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, settings.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize(
    "sub",
    [
        pytest.param("", id="empty"),
        pytest.param(" ", id="blank"),
        pytest.param("\t\n", id="whitespace"),
        pytest.param("\u202e", id="bidi-override"),
        pytest.param("admin\u202enimda", id="bidi-inside"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\x1bb", id="escape"),
        pytest.param("zero\u200bwidth", id="zero-width-space"),
        pytest.param("line\u2028sep", id="line-separator"),
        pytest.param("para\u2029sep", id="paragraph-separator"),
        pytest.param("private\ue000use", id="private-use"),
        pytest.param("unassigned\U000e0fff", id="unassigned"),
        pytest.param("x" * 129, id="too-long"),
    ],
)
async def test_a_token_whose_sub_is_blank_or_not_printable_is_401(gql, settings, sub):
    # when
    body = await gql(signed(settings, sub=sub), VIEWER, status=401)
    # then
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("sub", ["investigator-7", "Zoë Ødegård", "李医生", "device:01HZX", "x" * 128])
async def test_printable_subs_are_accepted(gql, settings, sub):
    data = await gql.data(signed(settings, sub=sub), VIEWER)
    assert data == {"viewer": {"role": "ADMIN"}}


def test_a_sub_that_is_not_a_string_is_refused(settings):
    # PyJWT itself refuses a non-string sub; the rule holds even if it stopped doing so
    for sub in (None, 7, ["a"], {"a": 1}):
        with pytest.raises(InvalidToken):
            actor_from_claims({"sub": sub, "role": "admin"})


async def test_a_token_living_longer_than_the_maximum_is_401(gql, settings):
    # given: iat an hour ago, exp 24 h after it plus one second (default maximum: 24 h)
    issued = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    too_long = signed(
        settings, iat=issued, exp=issued + timedelta(minutes=settings.jwt_max_lifetime_minutes, seconds=1)
    )
    at_limit = signed(settings, iat=issued, exp=issued + timedelta(minutes=settings.jwt_max_lifetime_minutes))
    # then
    assert (await gql(too_long, VIEWER, status=401))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await gql.data(at_limit, VIEWER) == {"viewer": {"role": "ADMIN"}}


async def test_without_iat_the_expiry_may_be_at_most_the_maximum_from_now(gql, settings):
    now = datetime.now(timezone.utc)
    far = signed(settings, iat=None, exp=now + timedelta(days=365))
    near = signed(settings, iat=None, exp=now + timedelta(hours=2))
    assert (await gql(far, VIEWER, status=401))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await gql.data(near, VIEWER) == {"viewer": {"role": "ADMIN"}}


async def test_a_token_issued_in_the_future_is_401(gql, settings):
    now = datetime.now(timezone.utc)
    body = await gql(signed(settings, iat=now + timedelta(hours=1), exp=now + timedelta(hours=2)), VIEWER, status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_maximum_lifetime_is_a_setting(tmp_path):
    # given: a 60-minute maximum
    short = Settings(data_dir=tmp_path, jwt_max_lifetime_minutes=60, dev_token_ttl_minutes=30)
    app = create_app(short)
    now = datetime.now(timezone.utc)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):

        async def status(token: str) -> int:
            response = await client.post(
                "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
            )
            return response.status_code

        # then
        assert await status(signed(short, exp=now + timedelta(minutes=61))) == 401
        assert await status(signed(short, exp=now + timedelta(minutes=59))) == 200


def test_development_tokens_longer_than_the_maximum_are_refused():
    settings = Settings(environment="development")
    with pytest.raises(InvalidToken, match="PTR_JWT_MAX_LIFETIME_MINUTES"):
        development_token(settings, role=Role.ADMIN, sites=[], subject=None, ttl=timedelta(hours=25))
    assert development_token(settings, role=Role.ADMIN, sites=[], subject=None, ttl=timedelta(hours=24))


def test_token_lifetime_settings_cannot_exceed_the_maximum():
    with pytest.raises(ValidationError, match="PTR_JWT_MAX_LIFETIME_MINUTES"):
        Settings(jwt_max_lifetime_minutes=60, dev_token_ttl_minutes=61)


# ---- production secrets -------------------------------------------------------------------------

WEAK_SECRETS = [
    pytest.param("a" * 32, id="one-character-repeated"),
    pytest.param("ab" * 32, id="two-characters"),
    pytest.param("0123456789" * 4, id="digits-repeated"),
    pytest.param("password" * 5, id="word-repeated"),
    pytest.param("correct horse battery staple!!!!", id="passphrase-32"),
    pytest.param(secrets.token_hex(8), id="too-short"),
]
STRONG_SECRETS = [
    pytest.param(secrets.token_urlsafe(32), id="token_urlsafe-32"),
    pytest.param(secrets.token_hex(32), id="token_hex-32"),
    pytest.param("e2e-production-secret-0123456789abcdefgh", id="e2e-secret"),
]


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_production_refuses_a_weak_secret(secret):
    with pytest.raises(ValidationError, match="PTR_JWT_SECRET"):
        Settings(environment="production", jwt_secret=secret)


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_production_refuses_a_weak_device_token_secret_in_jwks_mode_too(secret):
    with pytest.raises(ValidationError, match="PTR_JWT_SECRET"):
        Settings(environment="production", jwt_jwks_url="https://idp.example/jwks", jwt_secret=secret)


@pytest.mark.parametrize("secret", STRONG_SECRETS)
def test_production_accepts_a_strong_secret(secret):
    assert (
        Settings(environment="production", jwt_secret=secret, public_base_url="https://diary.example.org").jwt_secret
        == secret
    )


def test_development_accepts_any_secret():
    assert Settings(environment="development", jwt_secret="a" * 32).jwt_secret == "a" * 32


@pytest.mark.parametrize(
    ("secret", "at_most"),
    [("", 0), ("a" * 64, 0), ("ab" * 32, 64), ("abcd" * 16, 128), ("0123456789" * 4, 127)],
)
def test_the_entropy_estimate_never_credits_repetition(secret, at_most):
    # length x Shannon entropy per character, or less when the secret compresses
    assert estimated_entropy_bits(secret) <= at_most


def test_the_entropy_estimate_credits_random_secrets():
    assert estimated_entropy_bits(secrets.token_urlsafe(32)) > 180
