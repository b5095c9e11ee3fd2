"""Error masking that also tells operations what happened (server.observability):

- an error meaning the database could not be reached (server.db.outage) is answered as
  SERVICE_UNAVAILABLE, not masked as internal; when every error is one and the operation produced
  nothing (no top-level field has a value), the HTTP answer becomes 503 with Retry-After: the
  client retries, nothing was done;
- the operation's name and type and its errors' codes go into the request's record, for the
  access log line and the metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from ...db.outage import database_unavailable
from ...metrics import valid_operation_name
from ...observability import UNAVAILABLE_MESSAGE, RequestRecord, current_request

UNAVAILABLE = "SERVICE_UNAVAILABLE"


class ObservedMaskErrors(MaskErrors):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if not database_unavailable(error.original_error):
            return super().anonymise_error(error)
        record = current_request.get()
        if record is not None and record.database_error is None:
            record.database_error = error.original_error
        return GraphQLError(
            UNAVAILABLE_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": UNAVAILABLE},
        )

    def on_operation(self) -> Iterator[None]:
        yield from super().on_operation()
        record = current_request.get()
        if record is not None:
            self._observe(record)

    def _observe(self, record: RequestRecord) -> None:
        context = self.execution_context
        record.operation_name = valid_operation_name(context.operation_name)
        try:
            record.operation_type = context.operation_type.value
        except Exception:  # noqa: BLE001 - no parsable document: the name stays, the type is unknown
            record.operation_type = "unknown"
        result = context.result
        errors: list[GraphQLError] = list(getattr(result, "errors", None) or [])
        record.error_codes = [self._code(error) for error in errors]
        data = getattr(result, "data", None)
        record.answer_unavailable = (
            bool(errors) and all(code == UNAVAILABLE for code in record.error_codes) and _did_nothing(data)
        )

    def _code(self, error: GraphQLError) -> str:
        code: Any = (error.extensions or {}).get("code")
        if isinstance(code, str) and code:
            return code[:40]
        return "INTERNAL" if error.message == self.error_message else "GRAPHQL_ERROR"


def _did_nothing(data: Any) -> bool:
    return data is None or (isinstance(data, dict) and all(value is None for value in data.values()))
