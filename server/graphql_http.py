"""GraphQL over HTTP (the GraphQL Foundation's spec, graphql.github.io/graphql-over-http): the media
type of an answer, its status code, and which operations HTTP runs. Used by server/app.py
TrialGraphQL; strawberry 0.341 knows only application/json.

- A client whose Accept header prefers `application/graphql-response+json` gets that type, and a
  request that fails before execution (its document does not parse or validate, its variables do
  not fit, its arguments are refused before any resolver runs) is answered HTTP 400 *without* a
  `data` key: the status alone tells it nothing ran.
- A client that asks for `application/json` (or `*/*`, or sends no Accept) keeps the legacy
  behaviour the spec prescribes for it: HTTP 200 with `"data": null` and the errors.
- GET runs queries only (a mutation by GET: 405 with `Allow: POST`), POST queries and mutations; a
  subscription is refused with 400 OPERATION_NOT_SUPPORTED: it needs the WebSocket
  (graphql-transport-ws) at the same path.
"""

from __future__ import annotations

from collections.abc import Mapping

from cross_web import HTTPException
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from .schema.common.error_codes import BAD_USER_INPUT, PARSE_FAILED, VALIDATION_FAILED, code_of
from .schema.execution.limits import TOO_COMPLEX, TOO_COSTLY

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# The codes of errors that refuse the request itself, raised before any resolver runs.
REQUEST_ERROR_CODES = frozenset({PARSE_FAILED, VALIDATION_FAILED, BAD_USER_INPUT, TOO_COMPLEX, TOO_COSTLY})
HTTP_OPERATIONS = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
OPERATION_NOT_SUPPORTED = "OPERATION_NOT_SUPPORTED"
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"  # Apollo's code for the same case


class GraphQLHTTPError(HTTPException):
    """A refusal answered as a GraphQL error body with this status, code and headers
    (server/app.py TrialGraphQL.__call__)."""

    def __init__(self, status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code, message)
        self.code = code
        self.headers = dict(headers or {})


def response_media_type(accept: str | None) -> str:
    """application/graphql-response+json when the Accept header names it with a quality at least
    that of application/json; application/json otherwise. Wildcards (`*/*`, `application/*`) count
    for application/json only, as the spec asks: a client that does not name the new type is one
    that may not understand it."""
    preferred = legacy = 0.0
    for item in (accept or "").split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        quality = _quality(parameters)
        media = media.lower()
        if media == GRAPHQL_RESPONSE_JSON:
            preferred = max(preferred, quality)
        elif media in (JSON, "application/*", "*/*"):
            legacy = max(legacy, quality)
    return GRAPHQL_RESPONSE_JSON if preferred > 0 and preferred >= legacy else JSON


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def failed_before_execution(result: ExecutionResult) -> bool:
    """No data, and every error refuses the request itself (code in REQUEST_ERROR_CODES) with no
    path: no resolver ran. A resolver's error has a path, and an internal error or a timeout is
    not the request's fault, so those keep `data`."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None and code_of(error) in REQUEST_ERROR_CODES for error in result.errors or ())
    )


def operation_refusal(error: Exception, method: str) -> GraphQLHTTPError:
    """What strawberry reports as a bare 400 (an operation HTTP does not run, or no operation to
    run), with its proper status and a code."""
    if isinstance(error, InvalidOperationTypeError):
        if error.operation_type is OperationType.SUBSCRIPTION:
            return GraphQLHTTPError(
                400,
                OPERATION_NOT_SUPPORTED,
                "subscriptions are not served over HTTP: open a WebSocket (graphql-transport-ws) to /graphql",
            )
        if error.operation_type is OperationType.MUTATION and method == "GET":
            return GraphQLHTTPError(
                405, "METHOD_NOT_ALLOWED", "mutations are not allowed over GET: use POST", headers={"Allow": "POST"}
            )
    if isinstance(error, CannotGetOperationTypeError):
        return GraphQLHTTPError(400, OPERATION_RESOLUTION_FAILURE, error.as_http_error_reason())
    return GraphQLHTTPError(400, "BAD_REQUEST", str(error))
