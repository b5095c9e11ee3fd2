"""Structured logs: one JSON object per line, UTC ISO timestamps, the request id and W3C trace id of
the request being served on every line written while serving it.

Stdlib logging with a JSON formatter rather than structlog: uvicorn, SQLAlchemy, strawberry and
alembic all log through stdlib loggers, uvicorn's workers are configured from a picklable
dictConfig, and a formatter class named in that dict covers every logger at once with no second
pipeline to keep in step (and no new dependency: orjson is already here).

What is never written: tokens, activation codes, subject codes, query variables, bodies, client
IPs. Exceptions are written as their type (and chain of types) with the frames' file:line; their
messages (a driver's message can quote a row's values) only at DEBUG. A traceback is written the
first time its fingerprint (type and innermost frame) is seen by the process; later lines carry
the fingerprint only, so a failure repeated a thousand times writes one traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import logging.config
import traceback
from contextvars import ContextVar
from typing import Any

import orjson

# The request being served (set by server.observability's middleware): its id and trace id.
log_context: ContextVar[dict[str, str] | None] = ContextVar("ptr_log_context", default=None)

# Attributes of a LogRecord that are not extra fields.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
_MAX_FINGERPRINTS = 1024


class JsonFormatter(logging.Formatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._tracebacks_written: set[str] = set()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        context = log_context.get()
        if context:
            line.update(context)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            line.update(self._exception(record.exc_info[1], record.levelno))
        return orjson.dumps(line, default=str).decode()

    def _exception(self, error: BaseException, level: int) -> dict[str, Any]:
        chain = _chain(error)
        fingerprint = _fingerprint(error)
        fields: dict[str, Any] = {
            "exc_type": _type_name(error),
            "exc_chain": [_type_name(e) for e in chain[1:]] or None,
            "exc_fingerprint": fingerprint,
        }
        debug = logging.getLogger().isEnabledFor(logging.DEBUG) or level <= logging.DEBUG
        if debug:
            fields["traceback"] = "".join(traceback.format_exception(error))
        elif fingerprint not in self._tracebacks_written:
            if len(self._tracebacks_written) < _MAX_FINGERPRINTS:
                self._tracebacks_written.add(fingerprint)
            fields["traceback"] = _frames_only(chain)
        return {k: v for k, v in fields.items() if v is not None}


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def _fingerprint(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return hashlib.blake2b(f"{_type_name(error)}@{where}".encode(), digest_size=6).hexdigest()


def _frames_only(chain: list[BaseException]) -> str:
    """The frames of each exception of the chain, innermost cause first, without messages."""
    parts = []
    for error in reversed(chain):
        frames = traceback.format_list(traceback.extract_tb(error.__traceback__))
        parts.append("".join(frames) + _type_name(error) + "\n")
    return "".join(parts)


def logging_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A dictConfig for the service and uvicorn (cli._serve passes it to uvicorn.run, which applies
    it in every worker): everything to stderr through one handler; uvicorn's own access log off,
    since it writes the client's address and the query string (GraphQL GET variables) and the
    service writes its own access line (server.observability)."""
    formatter: dict[str, Any] = (
        {"()": "server.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
        "loggers": {
            "uvicorn": {"level": level.upper(), "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def configure(level: str = "INFO", fmt: str = "json") -> None:
    logging.config.dictConfig(logging_config(level, fmt))
