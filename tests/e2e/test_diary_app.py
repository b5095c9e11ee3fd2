"""The patients' diary app in a real browser: Debian's chromium driven by Playwright at a phone's
size (360 x 640), against a real `ptr-trial serve` process. Each test onboards a phone with an
activation code the way a patient would, then uses the app; what the server stored is checked
through the API as site staff see it.

Screenshots of every screen go to var/test-artifacts/diary/ (kept by CI as artefacts)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from .servers import CHROMIUM, Launch, Server, clean_env, dev_token, serving
from .ws_client import GraphQLWS

playwright_api = pytest.importorskip("playwright.async_api")
axe_api = pytest.importorskip("axe_playwright_python.async_playwright")
expect = playwright_api.expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "diary"
PHONE = {"width": 360, "height": 640}
SITE_PHONE = "+44 20 7946 0018"

ADMIN = dev_token("admin", sub="e2e-admin")
COORDINATOR = dev_token("coordinator", "S01", sub="e2e-coordinator-s01")
INVESTIGATOR = dev_token("investigator", "S01", sub="e2e-investigator-s01")

CREATE_SITE = """mutation($input: CreateSiteInput!) { createSite(input: $input) { __typename } }"""
ENROLL = """mutation($input: EnrollSubjectInput!) { enrollSubject(input: $input) { __typename } }"""
ISSUE = """mutation($input: IssueDeviceActivationInput!) {
  issueDeviceActivation(input: $input) {
    __typename ... on DeviceActivationIssued { activationCode activationUrl } ... on UserError { code message } } }"""
DEVICES = """query($code: String!) { subject(code: $code) { devices { id revokedAt } } }"""
REVOKE = """mutation($input: RevokeDeviceInput!) { revokeDevice(input: $input) { __typename } }"""
REPORTS = """query($code: String!, $from: Date!, $to: Date!) { subject(code: $code) { bleedingDays(from: $from, to: $to) { localDate dayWhoGrade
  reports { clientReportId kind deviceEnteredAt deviceUtcOffsetMinutes receivedAt symptoms { site durationMinutes } } } } }"""
INBOX = """{ alerts(first: 100) { edges { node { subjectCode provisionalWhoGrade message } } } }"""
SITE_ALERTS = """subscription { siteAlerts(siteCodes: ["S01"]) { subjectCode provisionalWhoGrade message } }"""

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM} (apt-get install chromium)"
)


# ---- the server and the browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("diary-app")
    env = clean_env(
        PTR_DATA_DIR=str(data_dir),
        PTR_ENVIRONMENT="development",
        PTR_LOG_LEVEL="WARNING",
        # every phone of this module activates from 127.0.0.1: the per-IP limit is tested elsewhere
        PTR_ACTIVATION_RATE_LIMIT_PER_IP="1000/minute",
        PTR_GRAPHQL_RATE_LIMIT_PER_IP="",
    )
    with serving(env, Launch(data_dir / "server.log")) as (running,):
        running.gql(ADMIN, CREATE_SITE, {"input": {"code": "S01", "name": "Site S01", "phone": SITE_PHONE}})
        yield running


_subjects = iter(range(1, 1000))


def enrol(server: Server) -> str:
    code = f"S01-{next(_subjects):03d}"
    enrolment = {
        "code": code,
        "siteCode": "S01",
        "sex": "FEMALE",
        "yearOfBirth": 1980,
        "ageAtConsent": 44,
        "diagnosis": "AML",
        "remissionStatus": "CR1",
        "consentDate": "2024-06-03",
    }
    assert server.gql(COORDINATOR, ENROLL, {"input": enrolment})["enrollSubject"]["__typename"] == "SubjectSuccess"
    return code


def activation(server: Server, subject_code: str) -> dict[str, Any]:
    issued = server.gql(COORDINATOR, ISSUE, {"input": {"subjectCode": subject_code}})["issueDeviceActivation"]
    assert issued["__typename"] == "DeviceActivationIssued", issued
    return issued


@pytest.fixture
async def phone(browser: Any) -> AsyncIterator[Any]:
    """A fresh phone: its own storage, a 360 x 640 touch screen, English."""
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB")
    try:
        yield context
    finally:
        await context.close()


async def onboard(phone: Any, server: Server) -> tuple[Any, str]:
    """Opens the activation link on the phone and connects it; returns the page and subject code."""
    subject = enrol(server)
    issued = activation(server, subject)
    page = await phone.new_page()
    await page.goto(issued["activationUrl"].replace("http://127.0.0.1:8000", server.url))
    await page.get_by_role("button", name="Connect this phone").click()
    await page.get_by_role("heading", name="Today").wait_for()
    await page.evaluate("navigator.serviceWorker.ready")  # installed: the app now opens offline
    return page, subject


async def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def assert_accessible(page: Any, screen: str) -> None:
    """axe-core (WCAG 2.1 A/AA rules): no serious or critical violation."""
    results = await axe_api.Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]})
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{screen}: " + "; ".join(f"{v['id']}: {v['help']}" for v in bad)


async def report_nosebleed(page: Any, minutes: int, *, stopped: bool = True) -> None:
    await page.get_by_role("button", name="Report bleeding").click()
    await page.get_by_label("Nose bleed").check()
    await page.locator("#details-NOSE").get_by_label("How long did this bleeding last? (minutes)").fill(str(minutes))
    await page.locator("#details-NOSE").get_by_label("Yes" if stopped else "No", exact=True).check()
    await page.get_by_role("button", name="Send report").click()


def stored_reports(server: Server, subject: str) -> list[dict[str, Any]]:
    today = date.today()
    window = {"from": (today - timedelta(days=2)).isoformat(), "to": (today + timedelta(days=2)).isoformat()}
    days = server.gql(COORDINATOR, REPORTS, {"code": subject, **window})["subject"]["bleedingDays"]
    return sorted((r for day in days for r in day["reports"]), key=lambda r: r["receivedAt"])


# ---- onboarding, a report, a duplicate send ------------------------------------------------------


async def test_onboarding_then_a_report_then_a_lost_acknowledgement_is_stored_once(phone: Any, server: Server) -> None:
    # given a phone opened on the activation link
    subject = enrol(server)
    issued = activation(server, subject)
    page = await phone.new_page()
    await page.goto(issued["activationUrl"].replace("http://127.0.0.1:8000", server.url))
    assert await page.get_by_label("Activation code").input_value() == issued["activationCode"]
    await screenshot(page, "01-activate")
    await assert_accessible(page, "activate")

    # when the patient connects the phone
    await page.get_by_role("button", name="Connect this phone").click()

    # then the home screen offers the one-tap check-in and the report
    await page.get_by_role("heading", name="Today").wait_for()
    assert "#activate" not in page.url  # the used code is not left in the address bar
    await screenshot(page, "02-home")
    await assert_accessible(page, "home")

    # when the report form is filled and the server's acknowledgement is lost on the way back
    await page.get_by_role("button", name="Report bleeding").click()
    await page.get_by_label("Nose bleed").check()
    await page.locator("#details-NOSE").get_by_label("How long did this bleeding last? (minutes)").fill("10")
    await screenshot(page, "03-report-form")
    await assert_accessible(page, "report form")
    lost = {"count": 0}

    async def lose_first_answer(route: Any) -> None:
        if lost["count"] == 0 and b"submitBleedingReport" in (route.request.post_data_buffer or b""):
            lost["count"] += 1
            await route.fetch()  # the server stores the report ...
            await route.abort("connectionreset")  # ... and the phone never hears back
            return
        await route.continue_()

    await page.route("**/graphql", lose_first_answer)
    await page.get_by_role("button", name="Send report").click()

    # then the phone does not claim it was sent, keeps it, and resends it; the server keeps one
    await page.get_by_role("heading", name="Saved on this phone").wait_for()
    await page.get_by_role("button", name="Done").click()
    await expect(page.locator("#status")).to_contain_text("Everything is sent", timeout=15_000)
    stored = stored_reports(server, subject)
    assert len(stored) == 1 and lost["count"] == 1
    await page.get_by_role("button", name="My reports").click()
    await page.locator("li.report").first.wait_for()
    assert await page.locator("li.report").count() == 1
    await page.get_by_text("Received").first.wait_for()
    await screenshot(page, "04-history")
    await assert_accessible(page, "history")


async def test_one_tap_no_bleeding_check_in_is_a_report(phone: Any, server: Server) -> None:
    page, subject = await onboard(phone, server)
    await page.get_by_role("button", name="No bleeding today").click()
    await page.get_by_role("heading", name="Sent to your study team").wait_for()
    await screenshot(page, "05-check-in-sent")
    stored = stored_reports(server, subject)
    assert [r["kind"] for r in stored] == ["NO_BLEEDING"]


# ---- airplane mode ---------------------------------------------------------------------------------


async def test_entries_made_offline_survive_closing_the_app_and_are_sent_once_in_order(
    phone: Any, server: Server
) -> None:
    # given an onboarded phone that goes into airplane mode
    page, subject = await onboard(phone, server)
    await phone.set_offline(True)

    # when the patient makes three entries offline and closes the app
    for minutes in (5, 6, 7):
        await report_nosebleed(page, minutes)
        await page.get_by_role("heading", name="Saved on this phone").wait_for()
        await page.get_by_role("button", name="Done").click()
        await asyncio.sleep(1.1)  # distinct entry times (seconds)
    await screenshot(page, "06-offline-waiting")
    entered = await page.evaluate(
        """() => new Promise((resolve) => {
             const open = indexedDB.open('ptr-diary');
             open.onsuccess = () => {
               const all = open.result.transaction('queue').objectStore('queue').index('createdAt').getAll();
               all.onsuccess = () => resolve(all.result.map((e) => [e.clientReportId, e.input.deviceEnteredAt]));
             };
           })"""
    )
    assert len(entered) == 3
    await page.close()
    assert stored_reports(server, subject) == []

    # and reopens it, still offline: it opens from the phone and shows what waits
    page = await phone.new_page()
    await page.goto(f"{server.url}/diary/")
    await page.get_by_role("heading", name="Today").wait_for()
    await page.get_by_text("3 waiting to send").wait_for()

    # when the network comes back
    await phone.set_offline(False)

    # then each entry is stored exactly once, in the order made, with its original entry time
    await expect(page.locator("#status")).to_contain_text("Everything is sent", timeout=20_000)
    stored = stored_reports(server, subject)
    assert [r["clientReportId"] for r in stored] == [e[0] for e in entered]
    assert [r["symptoms"][0]["durationMinutes"] for r in stored] == [5, 6, 7]
    for report, (_id, device_time) in zip(stored, entered, strict=True):
        assert report["deviceEnteredAt"][:19] == _utc(device_time)[:19]


def _utc(local_iso: str) -> str:
    from datetime import datetime, timezone

    return datetime.fromisoformat(local_iso).astimezone(timezone.utc).isoformat()


# ---- daily grade and the site's alert ------------------------------------------------------------


async def test_two_20_minute_nosebleeds_in_a_day_make_grade_2_and_alert_the_coordinator(
    phone: Any, server: Server
) -> None:
    # given a coordinator of the site listening for alerts, and an onboarded phone
    page, subject = await onboard(phone, server)
    async with GraphQLWS(server.ws_url) as ws:
        await ws.init({"Authorization": f"Bearer {COORDINATOR}"})
        await ws.subscribe("alerts", SITE_ALERTS)
        await ws.ping()
        await asyncio.sleep(0.1)

        # when the patient reports a 20-minute nosebleed, then another the same day
        await report_nosebleed(page, 20)
        await page.get_by_text("Your day so far: grade 1").wait_for()
        await page.get_by_role("button", name="Done").click()
        await report_nosebleed(page, 20)

        # then the second answer shows the day at grade 2 (40 minutes in all) ...
        await page.get_by_text("Your day so far: grade 2").wait_for()
        await page.get_by_text("This report: grade 1").wait_for()
        await screenshot(page, "07-result-day-grade-2")
        await assert_accessible(page, "result")

        # ... and the coordinator hears of it live and finds it in the inbox
        received = await ws.receive(within=5)
        alert = received.payload["data"]["siteAlerts"]
        assert alert["subjectCode"] == subject and alert["provisionalWhoGrade"] == 2
    inbox = [
        e["node"] for e in server.gql(COORDINATOR, INBOX)["alerts"]["edges"] if e["node"]["subjectCode"] == subject
    ]
    assert len(inbox) == 1 and inbox[0]["provisionalWhoGrade"] == 2


# ---- red flag ----------------------------------------------------------------------------------------


async def test_a_red_flag_shows_the_call_now_screen_with_the_sites_number(phone: Any, server: Server) -> None:
    page, _subject = await onboard(phone, server)
    await report_nosebleed(page, 10, stopped=False)  # not stopping: a red flag
    await page.get_by_role("heading", name="Call your study site now").wait_for()
    call = page.get_by_role("link", name=f"Call {SITE_PHONE}")
    assert await call.get_attribute("href") == f"tel:{SITE_PHONE}"
    await screenshot(page, "08-call-now")
    await assert_accessible(page, "call now")


# ---- a refusal for good is kept and shown --------------------------------------------------------


async def test_an_entry_the_server_refuses_is_kept_and_shown_not_dropped(phone: Any, server: Server) -> None:
    page, subject = await onboard(phone, server)

    async def future_time(route: Any) -> None:
        body = json.loads(route.request.post_data or "{}")
        if "submitBleedingReport" in body.get("query", ""):
            body["variables"]["input"]["noticedAt"] = "2999-01-01T00:00:00+00:00"  # a clock gone wrong
        await route.continue_(post_data=json.dumps(body))

    await page.route("**/graphql", future_time)
    await report_nosebleed(page, 5)
    await page.get_by_role("heading", name="My reports").wait_for()
    await page.get_by_text("Not accepted", exact=True).wait_for()
    await page.get_by_text("the time is in the future").wait_for()
    await expect(page.locator("#status")).to_contain_text("1 not accepted")
    await screenshot(page, "09-refused-entry")
    assert stored_reports(server, subject) == []


# ---- revoked device --------------------------------------------------------------------------------


async def test_a_revoked_phone_is_told_to_ask_for_a_new_code(phone: Any, server: Server) -> None:
    # given an onboarded phone whose device the coordinator revokes
    page, subject = await onboard(phone, server)
    devices = server.gql(COORDINATOR, DEVICES, {"code": subject})["subject"]["devices"]
    assert len(devices) == 1
    revoked = server.gql(COORDINATOR, REVOKE, {"input": {"id": devices[0]["id"], "reason": "phone lost"}})
    assert revoked["revokeDevice"]["__typename"] == "DeviceRevoked", revoked

    # when the patient next reports
    await page.get_by_role("button", name="No bleeding today").click()

    # then the app says the phone was disconnected and asks for a new code
    await page.get_by_role("heading", name="Set up your diary").wait_for()
    await page.get_by_text("This phone has been disconnected").wait_for()
    await screenshot(page, "10-revoked")


async def test_a_wrong_code_gets_a_plain_message(phone: Any, server: Server) -> None:
    page = await phone.new_page()
    await page.goto(f"{server.url}/diary/#activate=AAAAA-22222")
    await page.get_by_role("button", name="Connect this phone").click()
    await page.get_by_text("That code is not right").wait_for()
    await assert_accessible(page, "activation error")


# ---- language ------------------------------------------------------------------------------------


async def test_the_language_follows_the_phone_and_can_be_switched(browser: Any, server: Server) -> None:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{server.url}/diary/")
        await page.get_by_role("heading", name="设置您的日记").wait_for()
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        await screenshot(page, "11-zh-activate")
        await page.get_by_role("button", name="切换为英文").click()
        await page.get_by_role("heading", name="Set up your diary").wait_for()
    finally:
        await context.close()


async def test_a_red_flag_entered_offline_says_call_now_at_once(phone: Any, server: Server) -> None:
    # given an onboarded phone without a network
    page, subject = await onboard(phone, server)
    await phone.set_offline(True)

    # when the patient reports vomiting blood
    await page.get_by_role("button", name="Report bleeding").click()
    await page.get_by_label("Vomiting blood").check()
    await page.get_by_role("button", name="Send report").click()

    # then the phone itself says to call the site now, and that the report waits on the phone
    await page.get_by_role("heading", name="Call your study site now").wait_for()
    await page.get_by_text("Your report is saved on this phone").wait_for()
    await screenshot(page, "12-call-now-offline")

    # and once online the report reaches the site
    await page.get_by_role("button", name="I have called / back").click()
    await phone.set_offline(False)
    await expect(page.locator("#status")).to_contain_text("Everything is sent", timeout=20_000)
    assert [r["symptoms"][0]["site"] for r in stored_reports(server, subject)] == ["VOMIT"]


async def test_a_double_tap_on_send_stores_one_report(phone: Any, server: Server) -> None:
    page, subject = await onboard(phone, server)
    await page.get_by_role("button", name="Report bleeding").click()
    await page.get_by_label("Nose bleed").check()
    await page.locator("#details-NOSE").get_by_label("How long did this bleeding last? (minutes)").fill("20")
    send = page.get_by_role("button", name="Send report")
    await send.dblclick()
    await page.get_by_role("heading", name="Sent to your study team").wait_for()
    assert len(stored_reports(server, subject)) == 1


async def test_a_request_the_server_cannot_parse_is_kept_and_does_not_block_later_entries(
    phone: Any, server: Server
) -> None:
    # given a phone whose first entry the server refuses before running it (a variable it cannot
    # coerce: the kind of error a stale app or a broken clock produces)
    page, subject = await onboard(phone, server)
    broken = {"done": False}

    async def break_first(route: Any) -> None:
        body = json.loads(route.request.post_data or "{}")
        if "submitBleedingReport" in body.get("query", "") and not broken["done"]:
            broken["done"] = True
            body["variables"]["input"]["noticedAt"] = "not a time"
        await route.continue_(post_data=json.dumps(body))

    await page.route("**/graphql", break_first)
    await report_nosebleed(page, 5)
    await page.get_by_role("heading", name="My reports").wait_for()
    await page.get_by_text("Not accepted", exact=True).wait_for()

    # when the patient then checks in
    await page.get_by_role("button", name="Back").click()
    await page.get_by_role("button", name="No bleeding today").click()

    # then the check-in is sent at once, and the refused entry is still shown
    await page.get_by_role("heading", name="Sent to your study team").wait_for()
    assert [r["kind"] for r in stored_reports(server, subject)] == ["NO_BLEEDING"]
    await expect(page.locator("#status")).to_contain_text("1 not accepted")
