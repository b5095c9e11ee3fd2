"""Bearer tokens: who is calling. HS256 with a shared secret in development, RS256 keys from an
identity provider's JWKS URL in production. Claims: sub, role, sites, and subject for patients.

Patients' phones get short-lived device access tokens minted here (device_access_token): always
HS256 with the server's own secret, also when a JWKS URL is configured (the identity provider
knows nothing of devices). In JWKS mode an HS256 token is accepted only when it is a device
token (a `dev` claim and the patient role) and the server secret is not the development one."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import jwt

from .domain.auth import Actor
from .domain.enums import Role
from .settings import DEVELOPMENT_SECRET, Settings


class InvalidToken(Exception):
    pass


# Control, format (bidi overrides, zero-width), line/paragraph separators, private use, unassigned.
_FORBIDDEN_IN_SUB = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})
MAX_SUB_LENGTH = 128


def check_sub(sub: Any) -> str:
    """The actor id written into the audit trail: a non-blank printable string of at most 128
    characters (longer ones are refused, not cut: two actors must never share one id)."""
    if not isinstance(sub, str) or not sub.strip():
        raise InvalidToken("sub must be a non-empty string")
    if len(sub) > MAX_SUB_LENGTH:
        raise InvalidToken("sub is longer than 128 characters")
    if any(unicodedata.category(ch) in _FORBIDDEN_IN_SUB for ch in sub):
        raise InvalidToken("sub contains control or invisible characters")
    return sub


def check_lifetime(claims: dict[str, Any], settings: Settings, now: datetime | None = None) -> None:
    """A token lives at most PTR_JWT_MAX_LIFETIME_MINUTES: `exp - iat`, or, without `iat` (it
    is optional), `exp - now`, so a far-future token is refused either way."""
    limit = timedelta(minutes=settings.jwt_max_lifetime_minutes).total_seconds()
    exp, iat = claims.get("exp"), claims.get("iat")
    start = iat if isinstance(iat, int | float) else (now or datetime.now(timezone.utc)).timestamp()
    if not isinstance(exp, int | float) or exp - start > limit:
        raise InvalidToken("the token lives longer than the maximum lifetime")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True)


def _is_hs256(token: str) -> bool:
    try:
        return jwt.get_unverified_header(token).get("alg") == "HS256"
    except jwt.PyJWTError:
        return False


def device_tokens_enabled(settings: Settings) -> bool:
    """Device tokens are signed with the server secret; a production service whose secret is
    still the public development one (possible in JWKS mode) must not mint or accept them."""
    return not (settings.is_production and settings.jwt_secret == DEVELOPMENT_SECRET)


def actor_from_token(token: str, settings: Settings) -> Actor:
    options: Any = {"require": ["sub", "role", "exp"]}
    device_in_jwks_mode = bool(settings.jwt_jwks_url) and _is_hs256(token)
    if device_in_jwks_mode and not device_tokens_enabled(settings):
        raise InvalidToken("device tokens are disabled: set PTR_JWT_SECRET")
    try:
        if settings.jwt_jwks_url and not device_in_jwks_mode:
            key: Any = _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key
            algorithms = ["RS256"]
        else:
            key, algorithms = settings.jwt_secret, ["HS256"]
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options=options,
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    if device_in_jwks_mode and not (isinstance(claims.get("dev"), str) and claims.get("role") == Role.PATIENT.value):
        raise InvalidToken("only device tokens are signed by this server in JWKS mode")
    check_lifetime(claims, settings)
    return actor_from_claims(claims)


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    try:
        role = Role(claims["role"])
    except (KeyError, ValueError) as error:
        raise InvalidToken("unknown role") from error
    sites = claims.get("sites") or []
    if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
        raise InvalidToken("sites must be a list of site codes")
    subject = claims.get("subject")
    if role is Role.PATIENT and not isinstance(subject, str):
        raise InvalidToken("a patient token names its subject")
    exp = claims.get("exp")
    expires_at = datetime.fromtimestamp(exp, timezone.utc) if isinstance(exp, int | float) else None
    device = claims.get("dev")
    if device is not None and (role is not Role.PATIENT or not isinstance(device, str) or not device):
        raise InvalidToken("a device token is a patient's")
    return Actor(
        actor_id=check_sub(claims.get("sub")),
        role=role,
        site_codes=frozenset(sites),
        subject_code=subject if role is Role.PATIENT else None,
        device_id=device,
        expires_at=expires_at,
    )


def development_token(
    settings: Settings,
    *,
    role: Role,
    sites: list[str],
    subject: str | None,
    sub: str | None = None,
    ttl: timedelta | None = None,
) -> str:
    if settings.is_production:
        raise InvalidToken("development tokens are refused in production: use the identity provider")
    if ttl is not None and ttl > timedelta(minutes=settings.jwt_max_lifetime_minutes):
        raise InvalidToken("the lifetime exceeds PTR_JWT_MAX_LIFETIME_MINUTES")
    now = datetime.now(timezone.utc)
    claims: dict[str, Any] = {
        "sub": sub or f"dev-{role.value}",
        "role": role.value,
        "sites": sites,
        "iat": now,
        "exp": now + (ttl or timedelta(minutes=settings.dev_token_ttl_minutes)),
    }
    if subject:
        claims["subject"] = subject
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def device_access_token(
    settings: Settings, *, device_id: str, subject_code: str, site_code: str, now: datetime | None = None
) -> tuple[str, datetime]:
    """(token, expiry) for a patient's phone: sub "device:<id>", role patient, its subject and
    site, and `dev` = the device id, which the GraphQL endpoint checks against revocation."""
    if not device_tokens_enabled(settings):
        raise InvalidToken("device tokens are disabled: set PTR_JWT_SECRET")
    issued = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    expires = issued + timedelta(minutes=settings.device_access_token_minutes)
    claims: dict[str, Any] = {
        "sub": f"device:{device_id}",
        "role": Role.PATIENT.value,
        "subject": subject_code,
        "sites": [site_code],
        "dev": device_id,
        "iat": issued,
        "exp": expires,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256"), expires
