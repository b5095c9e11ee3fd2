"""HTTP endpoints of the SDTM exports: `GET /exports/{domain}.json|csv` and `GET /exports/define.json`.

Same bearer token as /graphql; the files are streamed as they are produced (services.exports),
inside one read transaction, never cached. Refusals are typed JSON errors shaped like the
GraphQL endpoint's: 401 without a valid token, 403 for roles that may not export, 404 for an
unknown dataset or file type.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .auth import InvalidToken, actor_from_token
from .domain.auth import Actor
from .services import exports
from .services.errors import ServiceError
from .settings import Settings

log = logging.getLogger("ptr_trial.exports")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}
FORMAT_OF_SUFFIX = {"json": "dataset-json", "csv": "csv"}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _service_error(error: ServiceError) -> JSONResponse:
    status = 403 if error.code.value == "permission_denied" else 404
    return _error(status, error.code.value.upper(), error.message)


def _actor(request: Request, settings: Settings) -> Actor | JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "UNAUTHENTICATED", "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    try:
        return actor_from_token(token.strip(), settings)
    except InvalidToken:
        return _error(401, "UNAUTHENTICATED", "the token is invalid or expired", {"WWW-Authenticate": "Bearer"})


def _attachment(body: AsyncIterator[bytes], filename: str, media_type: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def export_routes(settings: Settings) -> list[Route]:
    async def define(request: Request) -> Response:
        actor = _actor(request, settings)
        if isinstance(actor, JSONResponse):
            return actor
        try:
            exports.require_exporter(actor)
        except ServiceError as error:
            return _service_error(error)
        async with request.app.state.sessionmaker() as session:
            ctx = await exports.export_context(session, actor)
        return Response(
            exports.define_json(ctx),
            media_type=MEDIA_TYPES["json"],
            headers={"Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="define.json"'},
        )

    async def dataset_file(request: Request) -> Response:
        actor = _actor(request, settings)
        if isinstance(actor, JSONResponse):
            return actor
        stem, _, suffix = str(request.path_params["file"]).rpartition(".")
        try:
            exports.require_exporter(actor)
            if suffix not in FORMAT_OF_SUFFIX:
                return _error(404, "NOT_FOUND", "exports are served as .json (Dataset-JSON v1.1) or .csv")
            spec = exports.dataset(stem)
        except ServiceError as error:
            return _service_error(error)
        fmt = FORMAT_OF_SUFFIX[suffix]
        sessionmaker = request.app.state.sessionmaker

        async def body() -> AsyncIterator[bytes]:
            # The session lives as long as the stream: one snapshot for the count and the rows.
            async with sessionmaker() as session:
                ctx = await exports.export_context(session, actor)
                try:
                    async for chunk in exports.dataset_chunks(session, ctx, spec.name, fmt):
                        yield chunk
                except Exception:
                    log.exception("export of %s failed mid-stream (request %s)", spec.name, request.state.request_id)
                    raise

        return _attachment(body(), exports.file_name(spec.name, fmt), MEDIA_TYPES[suffix])

    return [
        Route("/exports/define.json", define, methods=["GET"]),
        Route("/exports/{file}", dataset_file, methods=["GET"]),
    ]
