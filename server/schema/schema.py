"""The assembled GraphQL schema with its protective extensions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext, ExecutionResult

from ..db.outage import database_unavailable
from ..settings import Settings
from .access.types import Site
from .common.edge import EdgeChecks
from .common.error_codes import ErrorCodes, tag_parse_and_internal
from .execution.limits import QueryLimits, QueryLimitsExtension
from .execution.observe import ObservedMaskErrors
from .execution.planner import PlannedReads, ReadPlanner
from .mutation import Mutation
from .query import NODE_TYPES, Query
from .safety.subscription import Subscription
from .subjects.types import Subject

log = logging.getLogger("ptr_trial.graphql")
MASKED_MESSAGE = "Internal error; quote the X-Request-ID response header when reporting it."


def is_unexpected(error: GraphQLError) -> bool:
    """Our own GraphQLErrors and GraphQL's validation errors are meant for the client; anything
    else is a bug whose details (stack, SQL) must not reach it."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class CloseReadSession(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if hasattr(context, "ended"):
            context.ended = False  # a WebSocket connection's context serves several operations
        try:
            yield
        finally:
            await self._end(context)

    @staticmethod
    async def _end(context: Any) -> None:
        if hasattr(context, "end"):
            try:
                await context.end()
            except Exception:  # noqa: BLE001
                # The read session only read: its answers stand even when ending it fails (e.g. a
                # connection the driver already dropped). An exception here would escape
                # MaskErrors, which runs inside the operation, and replace the data with the
                # driver's text; it is logged instead, with the request id.
                log.error("closing the read session failed (request %s)", context.request_id, exc_info=True)


class TrialSchema(strawberry.Schema):
    query_limits: QueryLimits  # set by build_schema
    read_planner: ReadPlanner  # set by build_schema

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Masks what escaped MaskErrors: strawberry turns an exception raised by an extension's
        own hooks (after MaskErrors has run) into a result error carrying the exception's text.
        strawberry has already logged it through process_errors, with the request id. Then gives
        parse errors and masked ones their extensions.code (server/schema/common/error_codes.py)."""
        result = await super().execute(*args, **kwargs)
        if result.errors and any(is_unexpected(error) for error in result.errors):
            result.errors = [
                GraphQLError(MASKED_MESSAGE, path=error.path) if is_unexpected(error) else error
                for error in result.errors
            ]
        if result.errors:
            tag_parse_and_internal(result.errors, MASKED_MESSAGE)
        return result

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        request_id = getattr(getattr(execution_context, "context", None), "request_id", None)
        for error in errors:
            if database_unavailable(error.original_error):
                continue  # answered SERVICE_UNAVAILABLE and logged once per outage (server.db.outage)
            if is_unexpected(error):
                log.error(
                    "unexpected error in %s (request %s)",
                    ".".join(map(str, error.path or [])),
                    request_id,
                    exc_info=error.original_error,
                )
            else:  # the message can quote a variable's value: the code only
                log.info("request %s: refused (%s)", request_id, (error.extensions or {}).get("code", "GRAPHQL_ERROR"))


def build_schema(settings: Settings) -> strawberry.Schema:
    # The depth and alias rules are built once, here: built per request (as the limiter
    # extensions do), every request would bring new rule classes and miss the validation cache.
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=30).validation_rules,
    ]
    limits = QueryLimits.from_settings(settings, rules)
    planner = ReadPlanner(enabled=settings.planned_reads)
    extensions: list[Any] = [
        CloseReadSession,
        lambda: MaxTokensLimiter(max_token_count=4000),
        lambda: ObservedMaskErrors(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE),
        # extensions.code on graphql-core's validation and variable errors (server/schema/common/error_codes.py)
        ErrorCodes,
        # Client apps send the same few documents over and over: parse and validate each once.
        lambda: ParserCache(maxsize=512),
        # Refuses arguments the database cannot take (NUL, huge lists...) once per operation, before
        # any resolver. Listed before the extensions whose on_execute holds something (the time
        # budget below): strawberry does not unwind the ones already entered when one raises.
        EdgeChecks,
        # Answers plain reads with one SQL statement (server/schema/execution/planner.py), within its own time
        # budget; listed before the time budget below for the same reason as EdgeChecks.
        lambda: PlannedReads(planner=planner),
        # Refuses repeated fields and costly documents, then validates through its cache; bounds
        # a query's time (server/schema/execution/limits.py).
        lambda: QueryLimitsExtension(limits),
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    schema = TrialSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Node implementations a client may get from node(id:) (the interface alone does not list them).
        types=[Subject, Site, *(graphql_type for _model, graphql_type in NODE_TYPES.values())],
        extensions=extensions,
    )
    schema.query_limits = limits
    schema.read_planner = planner
    return schema
