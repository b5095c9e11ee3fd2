"""Plain JSON endpoints of the patients' phones (no bearer token: the code or the refresh token is
the credential): POST /diary/api/activate and POST /diary/api/token.

Answers: 200 with credentials; 401 {"error": {"code", "message"}} for a refused code or token;
400 BAD_REQUEST for a body that is not a small JSON object of strings; 429 RATE_LIMITED with
Retry-After. Codes and tokens are never logged; rate-limit keys use the code's keyed digest (HMAC),
never the code. Rate limits use the `limits` library (moving window) in memory, or in Redis when
PTR_REDIS_URL is set (shared by every worker); if Redis is unreachable the limit fails open
with a warning (the codes' 10 random characters and single use still hold)."""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import metrics
from .auth import InvalidToken, device_access_token
from .db import devices as repo_devices
from .db.engine import read_retrying
from .domain.devices import MAX_CODE_INPUT, check_device_label, normalize_code, secret_digest, secret_digest_key
from .ratelimit import build_storage
from .services.devices import PATIENT_APP, DeviceCredentials, DeviceRefusal, DeviceRefused, redeem_activation
from .services.devices import refresh_device as refresh_device_credentials
from .services.unit_of_work import UnitOfWork
from .settings import Settings

log = logging.getLogger("ptr_trial.devices")

MAX_DEVICE_BODY = 4096  # a code or a token and a label: a few hundred bytes
MAX_REFRESH_TOKEN = 200

MESSAGES = {
    DeviceRefusal.ACTIVATION_CODE_INVALID: "This activation code is not right. Check it and try again, or ask your study team for a new code.",
    DeviceRefusal.ACTIVATION_CODE_EXPIRED: "This activation code has expired. Please ask your study team for a new code.",
    DeviceRefusal.ACTIVATION_CODE_USED: "This activation code has already been used. Please ask your study team for a new code.",
    DeviceRefusal.DEVICE_REVOKED: "This phone is no longer connected to the study. Please contact your study team.",
    DeviceRefusal.REFRESH_TOKEN_INVALID: "Your sign-in on this phone is no longer valid. Please ask your study team for a new activation code.",
}
BAD_REQUEST = "The app sent a request the server could not read. Please update the app or try again."
RATE_LIMITED = "Too many attempts. Please wait a moment and try again."
UNAVAILABLE = "Phone sign-in is not available on this server. Please contact your study team."


class BadRequest(Exception):
    pass


class DeviceRateLimits:
    """Moving-window limits: redemption per client IP and per code digest, refresh per IP."""

    def __init__(self, settings: Settings) -> None:
        storage = build_storage(settings)  # shared with the general limits (server.ratelimit)
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self.activation_per_ip = parse(settings.activation_rate_limit_per_ip)
        self.activation_per_code = parse(settings.activation_rate_limit_per_code)
        self.refresh_per_ip = parse(settings.refresh_rate_limit_per_ip)

    async def hit(self, item: RateLimitItem, *keys: str) -> int | None:
        """Counts one attempt; None when allowed, else the seconds until the next is allowed."""
        try:
            if await self.limiter.hit(item, *keys):
                return None
            stats = await self.limiter.get_window_stats(item, *keys)
        except Exception:  # noqa: BLE001 - a rate-limit store outage must not lock every patient out
            log.warning("rate-limit storage unavailable; request allowed", exc_info=True)
            return None
        metrics.RATE_LIMITED.labels(keys[0] if keys else "device").inc()
        return max(1, math.ceil(stats.reset_time - time.time()))


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _refused(refusal: DeviceRefusal) -> JSONResponse:
    return _error(401, refusal.value, MESSAGES[refusal])


def _rate_limited(retry_after: int) -> JSONResponse:
    return _error(429, "RATE_LIMITED", RATE_LIMITED, {"Retry-After": str(retry_after)})


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_DEVICE_BODY:
        raise BadRequest
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise BadRequest from error
    if not isinstance(data, dict):
        raise BadRequest
    return data


def _text(data: dict[str, Any], name: str, max_length: int, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length or "\x00" in value:
        raise BadRequest
    return value


def _credentials(settings: Settings, credentials: DeviceCredentials) -> dict[str, Any]:
    token, expires = device_access_token(
        settings,
        device_id=credentials.device.public_id,
        subject_code=credentials.subject.code,
        site_code=credentials.site.code,
    )
    return {
        "refreshToken": credentials.refresh_token,
        "accessToken": token,
        "accessTokenExpiresAt": expires.isoformat(),
    }


def _unit_of_work(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.write_sessionmaker, PATIENT_APP, request_id=request.state.request_id)


async def activate(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    limits: DeviceRateLimits = request.app.state.device_limits
    if (retry := await limits.hit(limits.activation_per_ip, "activate-ip", _client_ip(request))) is not None:
        return _rate_limited(retry)
    try:
        data = await _json_object(request)
        code = _text(data, "code", MAX_CODE_INPUT)
        label = _text(data, "deviceLabel", 1000, required=False)
        if label is not None and check_device_label(label) is not None:
            raise BadRequest
    except BadRequest:
        return _error(400, "BAD_REQUEST", BAD_REQUEST)
    assert code is not None
    digest_key = secret_digest_key(settings.jwt_secret)
    code_key = secret_digest(normalize_code(code) or code.strip().upper(), digest_key)
    if (retry := await limits.hit(limits.activation_per_code, "activate-code", code_key)) is not None:
        return _rate_limited(retry)
    try:
        async with _unit_of_work(request) as uow:
            credentials = await redeem_activation(
                uow, code=code, label=label.strip() if label else None, digest_key=digest_key
            )
            body = _credentials(settings, credentials)
            await uow.commit()
    except DeviceRefused as refused:
        return _refused(refused.refusal)
    except InvalidToken:
        return _error(503, "UNAVAILABLE", UNAVAILABLE)
    site = credentials.site
    return JSONResponse(
        {
            "deviceId": credentials.device.public_id,
            **body,
            "subjectCode": credentials.subject.code,
            # `phone` arrives with the site contact column of another branch; null until then.
            "site": {"code": site.code, "name": site.name, "phone": site.phone},
        },
        headers={"Cache-Control": "no-store"},
    )


async def refresh(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    limits: DeviceRateLimits = request.app.state.device_limits
    if (retry := await limits.hit(limits.refresh_per_ip, "refresh-ip", _client_ip(request))) is not None:
        return _rate_limited(retry)
    try:
        token = _text(await _json_object(request), "refreshToken", MAX_REFRESH_TOKEN)
    except BadRequest:
        return _error(400, "BAD_REQUEST", BAD_REQUEST)
    assert token is not None
    try:
        async with _unit_of_work(request) as uow:
            credentials = await refresh_device_credentials(
                uow, refresh_token=token, digest_key=secret_digest_key(settings.jwt_secret)
            )
            body = _credentials(settings, credentials)
            await uow.commit()
    except DeviceRefused as refused:
        return _refused(refused.refusal)
    except InvalidToken:
        return _error(503, "UNAVAILABLE", UNAVAILABLE)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def device_is_active(state: Any, device_id: str) -> bool:
    """For the GraphQL endpoint: one SELECT by the device's unique id per request, on PostgreSQL
    outside a transaction (one round trip, no BEGIN/ROLLBACK), once more on a new connection if
    the pooled one turns out dead (server.db.engine)."""
    open_reader = state.autocommit_engine.connect if state.autocommit_engine is not None else state.sessionmaker
    return await read_retrying(open_reader, lambda reader: repo_devices.device_is_active(reader, device_id))
