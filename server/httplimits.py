"""HTTP limits: uvicorn's options (cli._serve) and two checks uvicorn does not make itself.

- Header size: uvicorn runs with the h11 parser, whose incomplete-event limit bounds the memory a
  client can make it buffer for headers (httptools, uvicorn's other parser, has no such limit: an
  8 MB header is accepted). h11 only applies that limit while headers are still arriving, so a
  request whose oversized headers came in one read is refused here: 431.
- Body time: a request body that does not arrive within PTR_HTTP_BODY_TIMEOUT_SECONDS is answered
  408 and the connection closed (bodies over 1 MB are refused by server.app's size limit).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "limit_concurrency": settings.http_limit_concurrency,
        "backlog": settings.http_backlog,
        "timeout_graceful_shutdown": settings.http_graceful_shutdown_seconds,
    }


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"Connection": "close"},
    )


class HeaderLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = 16 * 1024) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_bytes:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1009})
                    return
                await _error(431, "HEADERS_TOO_LARGE", "request headers too large")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTimeout(Exception):
    pass


class BodyTimeoutMiddleware:
    def __init__(self, app: ASGIApp, seconds: float = 30) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.seconds
        complete = False
        started = False

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:  # after the body: waiting for a disconnect is the app's business
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError as error:
                raise BodyTimeout from error
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except BodyTimeout:
            if started:
                raise
            await _error(408, "REQUEST_TIMEOUT", "the request body did not arrive in time")(scope, receive, send)
