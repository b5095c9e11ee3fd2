"""The patients' diary app is served by the service itself at /diary, with headers that keep it to
its own origin (it loads nothing from a CDN) and let a phone pick up a new release."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

DIARY = Path(__file__).resolve().parents[2] / "clients" / "diary"


async def test_the_app_shell_is_served_without_a_token(client: httpx.AsyncClient) -> None:
    # when a phone opens /diary
    response = await client.get("/diary/", headers={"Accept": "text/html"})

    # then it gets the page, restricted to this origin, revalidated on every start
    assert response.status_code == 200
    assert '<main id="main"' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"
    redirect = await client.get("/diary", follow_redirects=False)
    assert redirect.status_code in (301, 307, 308) and redirect.headers["location"].endswith("/diary/")


@pytest.mark.parametrize(
    "path", ["sw.js", "manifest.webmanifest", "js/app.js", "messages/zh-CN.json", "icons/icon-512.png"]
)
async def test_every_file_the_service_worker_caches_is_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(f"/diary/{path}")).status_code == 200


def test_the_service_worker_caches_every_file_of_the_app() -> None:
    """A file missing from the offline cache would break the app offline only, where nobody looks."""
    shell = (DIARY / "sw.js").read_text()
    files = {p.relative_to(DIARY).as_posix() for p in DIARY.rglob("*") if p.is_file()} - {"sw.js"}
    missing = [f for f in sorted(files) if f'"{f}"' not in shell]
    assert not missing, f"add to SHELL in sw.js: {missing}"


def test_both_languages_have_every_message() -> None:
    english = json.loads((DIARY / "messages" / "en.json").read_text())
    chinese = json.loads((DIARY / "messages" / "zh-CN.json").read_text())
    assert english.keys() == chinese.keys()
    assert all(value.strip() for value in [*english.values(), *chinese.values()])


def test_every_message_key_used_in_code_exists() -> None:
    """Texts live in the message files: a key used in code but missing shows the raw key."""
    import re

    english = json.loads((DIARY / "messages" / "en.json").read_text())
    code = "\n".join(p.read_text() for p in (DIARY / "js").glob("*.js"))
    used = set(re.findall(r'\bt\("([a-zA-Z.]+)"', code))
    missing = sorted(key for key in used if key not in english)
    assert not missing, missing


def test_the_manifest_makes_the_app_installable() -> None:
    manifest = json.loads((DIARY / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["start_url"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert (DIARY / icon["src"]).is_file()
