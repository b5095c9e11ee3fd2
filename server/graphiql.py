"""GraphiQL (development only) served entirely by the service: its page and the assets vendored in
server/static/graphiql/ (tools/graphiql/ copies them from npm packages), so it works on a hospital
network without internet, where strawberry's page, which loads them from a public CDN, stays on
"Loading...". The page's CSP lets it load nothing but this service's own files."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from .settings import Settings

DIRECTORY = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql"

# GraphiQL's stylesheet embeds its icons and fonts as data: URLs; everything else is 'self'
# (connect-src 'self' covers the ws:/wss: subscriptions to the same host in current browsers).
CSP = (
    "default-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(
        (DIRECTORY / "index.html").read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )


def graphiql_routes(settings: Settings) -> list[Mount]:
    """The page's scripts and stylesheets, only where the page itself is served."""
    if not settings.graphiql_enabled:
        return []
    return [Mount(ASSETS_PATH, StaticFiles(directory=DIRECTORY), name="graphiql")]
