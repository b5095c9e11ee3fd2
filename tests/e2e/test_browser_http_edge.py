"""The HTTP edge in a real browser (Debian's chromium driven by Playwright; never a downloaded
browser): a web app on an allowed origin (PTR_CORS_ORIGINS) subscribes to a site's alerts over
graphql-transport-ws and receives one, a page on another origin is refused; GraphiQL works with
every request that does not go to the service itself blocked (an offline hospital network)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from .servers import CHROMIUM, Launch, Server, clean_env, free_port, serving
from .test_site_alerts_subscription import INVESTIGATOR_S01, SITE_ALERTS, seed, submit, vomited_blood

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM} (apt-get install chromium)"
)

# A web app of another origin: opens the alerts subscription and records what arrives.
WEB_APP = """<!doctype html><html><body><script>
window.received = [];
window.closedWith = null;
const params = new URLSearchParams(location.search);
const socket = new WebSocket(params.get("ws"), "graphql-transport-ws");
socket.onopen = () => socket.send(JSON.stringify(
  {type: "connection_init", payload: {Authorization: "Bearer " + params.get("token")}}));
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  window.received.push(message);
  if (message.type === "connection_ack") {
    socket.send(JSON.stringify({id: "alerts", type: "subscribe",
      payload: {query: params.get("query"), variables: {sites: ["S01"]}}}));
  }
};
socket.onclose = (event) => { window.closedWith = event.code; };
</script></body></html>"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def static_site(directory: Path, port: int) -> Iterator[str]:
    """A plain static web server on 127.0.0.1:`port` (the web app's own origin)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two origins serving the same web app: the first allowed by the API, the second not."""
    directory = tmp_path_factory.mktemp("web-app")
    (directory / "index.html").write_text(WEB_APP)
    with static_site(directory, free_port()) as allowed, static_site(directory, free_port()) as other:
        yield allowed, other


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sites: tuple[str, str]) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("http-edge")
    env = clean_env(
        PTR_DATA_DIR=str(data_dir),
        PTR_ENVIRONMENT="development",
        PTR_LOG_LEVEL="WARNING",
        PTR_CORS_ORIGINS=json.dumps([sites[0]]),
        PTR_GRAPHQL_RATE_LIMIT_PER_IP="",
    )
    with serving(env, Launch(data_dir / "server.log")) as (running,):
        seed(running)
        yield running


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()


def _web_app_url(site: str, server: Server) -> str:
    query = urlencode({"ws": server.ws_url, "token": INVESTIGATOR_S01, "query": SITE_ALERTS})
    return f"{site}/index.html?{query}"


async def test_a_web_app_on_an_allowed_origin_receives_a_live_alert(
    page: Any, server: Server, sites: tuple[str, str]
) -> None:
    # given: the web app has opened its subscription
    await page.goto(_web_app_url(sites[0], server))
    await page.wait_for_function("window.received.some((m) => m.type === 'connection_ack')", timeout=10_000)
    await asyncio.sleep(0.5)  # the server registers the subscription with the alert bus
    # when: a patient reports vomiting blood
    result, _, _ = await submit(server, "S01-001", vomited_blood())
    # then
    assert result["alertRaised"] is True
    await page.wait_for_function("window.received.some((m) => m.type === 'next')", timeout=10_000)
    alerts = [m for m in await page.evaluate("window.received") if m["type"] == "next"]
    assert alerts[0]["payload"]["data"]["siteAlerts"]["subjectCode"] == "S01-001"
    assert await page.evaluate("window.closedWith") is None


async def test_a_web_app_on_another_origin_is_refused(page: Any, server: Server, sites: tuple[str, str]) -> None:
    # given
    refused: list[int] = []
    page.on("console", lambda message: refused.append(1) if "403" in message.text else None)
    # when
    await page.goto(_web_app_url(sites[1], server))
    await page.wait_for_function("window.closedWith !== null", timeout=10_000)
    # then: the handshake failed (HTTP 403, which a browser reports as close code 1006)
    assert await page.evaluate("window.closedWith") == 1006
    assert await page.evaluate("window.received") == []
    assert refused, "chromium logs the handshake's 403"


async def test_graphiql_runs_a_query_without_internet(page: Any, server: Server) -> None:
    # given: every request that does not go to the service fails, as on an offline network
    service = urlsplit(server.url).netloc
    elsewhere: list[str] = []

    async def offline(route: Any) -> None:
        if urlsplit(route.request.url).netloc == service:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", offline)
    csp_violations: list[str] = []
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    # when: GraphiQL opens, the token goes into its headers editor and the query runs
    await page.goto(server.graphql_url)
    await page.wait_for_selector(".graphiql-execute-button", timeout=20_000)
    await page.evaluate(
        """(token) => {
            for (const element of document.querySelectorAll('.CodeMirror')) {
                const editor = element.CodeMirror;
                if (editor.getValue().startsWith('{"Authorization"')) {
                    editor.setValue(JSON.stringify({Authorization: 'Bearer ' + token}));
                }
            }
        }""",
        INVESTIGATOR_S01,
    )
    await page.click(".graphiql-execute-button")
    # then
    answer = await _result_of(page)
    assert json.loads(answer) == {"data": {"viewer": {"role": "INVESTIGATOR"}}}
    assert elsewhere == [] and csp_violations == []


async def test_graphiql_on_a_phone_puts_the_answer_below_the_query(page: Any, server: Server) -> None:
    # given: a phone-sized window
    await page.set_viewport_size({"width": 360, "height": 640})
    # when: GraphiQL opens
    await page.goto(server.graphql_url)
    await page.wait_for_selector(".graphiql-execute-button", timeout=20_000)
    editors = await page.locator(".graphiql-editors").bounding_box()
    answer = await page.locator(".graphiql-response").bounding_box()
    # then: the answer pane sits under the query, as wide as it (not a strip beside it)
    assert editors is not None and answer is not None
    assert answer["y"] >= editors["y"] + editors["height"] - 1, (editors, answer)
    assert answer["width"] >= 0.9 * editors["width"], (editors, answer)


RESULT = "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"


async def _result_of(page: Any, within: float = 10) -> str:
    """GraphiQL's result editor once it shows an answer. Polled from here: Playwright's
    wait_for_function evaluates strings in the page, which the page's CSP (no 'unsafe-eval') forbids."""
    for _ in range(int(within / 0.1)):
        if (shown := await page.evaluate(RESULT)).strip():
            return str(shown)
        await asyncio.sleep(0.1)
    raise AssertionError(f"GraphiQL showed no answer within {within} s")
