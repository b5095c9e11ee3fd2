"""A small graphql-transport-ws client for tests (https://github.com/enisdenjo/graphql-ws, PROTOCOL.md).

    async with GraphQLWS(url) as ws:               # the socket is open; nothing sent yet
        await ws.init({"Authorization": "Bearer ..."})   # connection_init -> connection_ack
        await ws.subscribe("1", "subscription { ... }")
        message = await ws.receive(within=1)      # Received(message={"type": "next", ...}, at=...)
        await ws.complete("1")

A reader task stamps every message with time.monotonic() as it arrives (for latency measurements)
and answers the server's pings with pongs. A close by the server is reported as ConnectionClosedBy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed

SUBPROTOCOL = "graphql-transport-ws"


@dataclass(frozen=True)
class Received:
    message: dict[str, Any]
    at: float  # time.monotonic() when it arrived

    @property
    def type(self) -> str:
        return str(self.message.get("type"))

    @property
    def id(self) -> str | None:
        return self.message.get("id")

    @property
    def payload(self) -> Any:
        return self.message.get("payload")


class ConnectionClosedBy(Exception):
    """The server closed the socket (code and reason as it sent them)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed by the server: {code} {reason}")
        self.code = code
        self.reason = reason


class NothingReceived(Exception):
    pass


class GraphQLWS:
    def __init__(self, url: str, *, open_timeout: float = 5) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self._socket: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[Received | ConnectionClosedBy] = asyncio.Queue()
        self._pongs: asyncio.Queue[float] = asyncio.Queue()
        self.pings_answered = 0
        # Browser graphql-ws clients parse text frames only; a binary one would break them.
        self.binary_frames = 0
        self.closed: ConnectionClosedBy | None = None

    # ---- the socket ----------------------------------------------------------------------------

    async def open(self) -> GraphQLWS:
        self._socket = await websockets.connect(self.url, subprotocols=[SUBPROTOCOL], open_timeout=self.open_timeout)
        assert self._socket.subprotocol == SUBPROTOCOL, self._socket.subprotocol
        self._reader = asyncio.create_task(self._read())
        return self

    @property
    def local_port(self) -> int:
        return int(self._socket.local_address[1])

    async def close(self, code: int = 1000) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._socket.close(code=code), timeout=5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def __aenter__(self) -> GraphQLWS:
        return await self.open()

    async def __aexit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _read(self) -> None:
        try:
            async for raw in self._socket:
                at = time.monotonic()
                self.binary_frames += not isinstance(raw, str)
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await self.send({"type": "pong"})
                    self.pings_answered += 1
                elif message.get("type") == "pong":
                    self._pongs.put_nowait(at)
                else:
                    self._inbox.put_nowait(Received(message, at))
        except ConnectionClosed:
            pass
        close = self._socket.close_code, self._socket.close_reason or ""
        self.closed = ConnectionClosedBy(*close)
        self._inbox.put_nowait(self.closed)

    async def send(self, message: dict[str, Any]) -> None:
        await self._socket.send(json.dumps(message))

    # ---- the protocol --------------------------------------------------------------------------

    async def init(self, payload: dict[str, Any] | None = None, *, within: float = 5) -> Received:
        """connection_init (with `payload` when given); returns connection_ack, raises ConnectionClosedBy."""
        await self.send(
            {"type": "connection_init"} if payload is None else {"type": "connection_init", "payload": payload}
        )
        ack = await self.receive(within=within)
        assert ack.type == "connection_ack", ack.message
        return ack

    async def subscribe(self, operation_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send(
            {"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        )

    async def complete(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "complete"})

    async def ping(self, *, within: float = 5) -> float:
        """Round trip of a ping; returns its duration in seconds."""
        sent = time.monotonic()
        await self.send({"type": "ping"})
        answered = await asyncio.wait_for(self._pongs.get(), within)
        return answered - sent

    async def receive(self, *, within: float) -> Received:
        """The next next/error/complete/connection_ack message; ConnectionClosedBy when the server
        closed the socket; NothingReceived after `within` seconds."""
        try:
            item = await asyncio.wait_for(self._inbox.get(), within)
        except TimeoutError:
            raise NothingReceived(f"nothing within {within} s") from None
        if isinstance(item, ConnectionClosedBy):
            self._inbox.put_nowait(item)  # stays closed for later calls
            raise item
        return item

    async def nothing_within(self, seconds: float) -> None:
        """Asserts that no message (and no close) arrives within `seconds`."""
        try:
            item = await self.receive(within=seconds)
        except NothingReceived:
            return
        raise AssertionError(f"expected nothing, received {item.message}")

    async def closed_within(self, seconds: float) -> ConnectionClosedBy:
        """Waits for the server to close the socket; returns its code and reason."""
        try:
            item = await self.receive(within=seconds)
        except ConnectionClosedBy as closed:
            return closed
        except NothingReceived:
            raise AssertionError(f"the server did not close the socket within {seconds} s") from None
        raise AssertionError(f"expected a close, received {item.message}")
