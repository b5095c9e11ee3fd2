"""Rate limits with the `limits` library: in memory for one process, in Redis when PTR_REDIS_URL is
set (shared by every worker). One storage per app, used by the phones' device endpoints
(server.device_routes) and by the general limits of /graphql here:

- per client IP, every /graphql request (PTR_GRAPHQL_RATE_LIMIT_PER_IP, 600/minute);
- per token subject, every authenticated /graphql request (PTR_GRAPHQL_RATE_LIMIT_PER_SUBJECT,
  300/minute), counted once the token is verified, so a forged token cannot spend another's quota;
- per client IP, refusals for a missing or bad token on /graphql and /exports
  (PTR_AUTH_FAILURE_RATE_LIMIT_PER_IP, 20/minute); once spent, every request of that IP is refused
  until the window ends.

A refusal is 429 with Retry-After and {"errors": [{"message", "extensions": {"code": "RATE_LIMITED"}}]}.
Keys hold a digest of the IP or subject, never the value. If the store is unreachable the limits
fail open (one warning per outage)."""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .domain.auth import Actor
from .settings import Settings

log = logging.getLogger("ptr_trial.ratelimit")
RATE_LIMITED_MESSAGE = "Too many requests; retry after the number of seconds in the Retry-After header."
GUARDED_BY_TOKEN = ("/graphql", "/exports")
UNLIMITED = {"/healthz", "/readyz", "/metrics"}  # probes and scrapes, often from one proxy address


def build_storage(settings: Settings) -> Storage:
    if settings.redis_url:
        storage = storage_from_string(
            "async+" + settings.redis_url, implementation="redispy", key_prefix=settings.rate_limit_key_prefix
        )
    else:
        storage = storage_from_string("async+memory://")
    assert isinstance(storage, Storage)
    return storage


def digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


def error_body(path: str, code: str, message: str) -> dict[str, object]:
    """The refusal shaped as the endpoint's own: the phones' endpoints answer {"error": {...}}."""
    if path.startswith("/diary/api/"):
        return {"error": {"code": code, "message": message}}
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def rate_limited(retry_after: int, path: str = "/graphql") -> JSONResponse:
    return JSONResponse(
        error_body(path, "RATE_LIMITED", RATE_LIMITED_MESSAGE),
        status_code=429,
        headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
    )


class StoreHealth:
    """Logs the first failure of the store and its recovery, not every request in between."""

    def __init__(self) -> None:
        self.failing = False

    def failed(self) -> None:
        if not self.failing:
            self.failing = True
            log.warning("rate-limit storage unavailable; requests allowed until it is back", exc_info=True)

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            log.warning("rate-limit storage reachable again")


def _item(text: str) -> RateLimitItem | None:
    return parse(text) if text else None


class RequestRateLimits:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.per_ip = _item(settings.graphql_rate_limit_per_ip)
        self.per_subject = _item(settings.graphql_rate_limit_per_subject)
        self.auth_failures = _item(settings.auth_failure_rate_limit_per_ip)
        self.health = StoreHealth()

    async def _retry_after(self, item: RateLimitItem, *keys: str) -> int:
        stats = await self.limiter.get_window_stats(item, *keys)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def _hit(self, name: str, item: RateLimitItem | None, key: str) -> JSONResponse | None:
        if item is None:
            return None
        try:
            if await self.limiter.hit(item, name, key):
                self.health.ok()
                return None
            retry = await self._retry_after(item, name, key)
        except Exception:  # noqa: BLE001 - a store outage must not lock every user out
            self.health.failed()
            return None
        metrics.RATE_LIMITED.labels(name).inc()
        return rate_limited(retry)

    async def before(self, path: str, ip: str) -> JSONResponse | None:
        """Before any request: refused when the IP spent its bad-token allowance, or (/graphql) its
        request allowance."""
        key = digest(ip)
        if self.auth_failures is not None:
            try:
                blocked = not await self.limiter.test(self.auth_failures, "auth-failures", key)
                retry = await self._retry_after(self.auth_failures, "auth-failures", key) if blocked else 0
            except Exception:  # noqa: BLE001
                self.health.failed()
                blocked = False
            if blocked:
                metrics.RATE_LIMITED.labels("auth-failures").inc()
                return rate_limited(retry, path)
        if path == "/graphql":
            return await self._hit("graphql-ip", self.per_ip, key)
        return None

    async def for_actor(self, actor: Actor) -> JSONResponse | None:
        return await self._hit("graphql-subject", self.per_subject, digest(actor.actor_id))

    async def failed_authentication(self, path: str, ip: str) -> None:
        if self.auth_failures is None or not path.startswith(GUARDED_BY_TOKEN):
            return
        try:
            await self.limiter.hit(self.auth_failures, "auth-failures", digest(ip))
        except Exception:  # noqa: BLE001
            self.health.failed()


class RateLimitMiddleware:
    """Applies RequestRateLimits.before to every HTTP request and counts its 401 answers on the
    token-guarded paths as failed authentications. The per-subject limit is applied by the GraphQL
    endpoint, which verifies the token. Inactive without a lifespan (app.state.rate_limits)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits: RequestRateLimits | None = getattr(getattr(scope.get("app"), "state", None), "rate_limits", None)
        if scope["type"] != "http" or limits is None or scope["path"] in UNLIMITED:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if (refusal := await limits.before(scope["path"], ip)) is not None:
            await refusal(scope, receive, send)
            return
        status = 0

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, observed_send)
        if status == 401:
            await limits.failed_authentication(scope["path"], ip)
