"""Bearer tokens: who is calling. HS256 with a shared secret in development, RS256 keys from an
identity provider's JWKS URL in production. Claims: sub, role, sites, and subject for patients."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import jwt

from .domain.auth import Actor
from .domain.enums import Role
from .settings import Settings


class InvalidToken(Exception):
    pass


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True)


def actor_from_token(token: str, settings: Settings) -> Actor:
    options: Any = {"require": ["sub", "role", "exp"]}
    try:
        if settings.jwt_jwks_url:
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
    return Actor(
        actor_id=str(claims["sub"])[:128],
        role=role,
        site_codes=frozenset(sites),
        subject_code=subject if role is Role.PATIENT else None,
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
