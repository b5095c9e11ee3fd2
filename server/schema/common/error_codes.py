"""Every error a GraphQL answer carries has an `extensions.code` (issue 12), so a client can branch
on a stable code instead of on graphql-core's wording. Our own errors set theirs where they are
raised (BAD_USER_INPUT, PERMISSION_DENIED, TOO_COSTLY...); graphql-core's come without one, and
which phase produced them is known only while the operation runs:

- GRAPHQL_PARSE_FAILED: the document is not GraphQL (graphql-core's GraphQLSyntaxError; also the
  token limit, which aborts parsing);
- GRAPHQL_VALIDATION_FAILED: the document does not hold against the schema (unknown field, wrong
  argument type, unused variable...); tagged by `ErrorCodes.on_validate`;
- BAD_USER_INPUT: the variables do not fit their declared types (variable coercion, which
  graphql-core does as execution starts, before any resolver); tagged by `ErrorCodes.on_execute`;
- INTERNAL_SERVER_ERROR: the masked message of an unexpected exception (server.schema.schema).

The codes are Apollo Server's, which client libraries already know. server/graphql_http.py uses
them to tell a request that failed before execution (HTTP 400 without `data` for clients that
accept application/graphql-response+json) from one that ran."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL_SERVER_ERROR"


def code_of(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def set_default_code(errors: Iterable[GraphQLError], code: str) -> None:
    """Gives `code` to the errors that have none. In place: the validation cache hands out the same
    error objects for a repeated document, which then keep their code."""
    for error in errors:
        if code_of(error) is None:
            error.extensions = {**(error.extensions or {}), "code": code}


def tag_parse_and_internal(errors: Iterable[GraphQLError], masked_message: str) -> None:
    """The codes known from the error itself, whatever phase raised it (a parse error escapes the
    parsing hooks as an exception, so no extension sees it)."""
    for error in errors:
        if code_of(error) is not None:
            continue
        if isinstance(error, GraphQLSyntaxError):
            set_default_code([error], PARSE_FAILED)
        elif error.message == masked_message:
            set_default_code([error], INTERNAL)


class ErrorCodes(SchemaExtension):
    """Tags graphql-core's validation and variable-coercion errors with their code."""

    def on_validate(self) -> Iterator[None]:
        yield
        set_default_code(self.execution_context.pre_execution_errors or (), VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        # graphql-core coerces the variables before it runs any resolver; when they do not fit it
        # returns their errors with no data and, unlike a resolver's error, no path.
        if result is not None and result.data is None and result.errors:
            set_default_code((error for error in result.errors if error.path is None), BAD_USER_INPUT)
