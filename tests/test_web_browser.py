"""The pages in a real browser: Debian's Chromium, driven by Playwright through its
executable path (``scripts/install-browser`` installs it; no browser is downloaded).

Alice, an agent, books for a customer step by step — a bad address first, conflicts
shown, the slot chosen with the keyboard — and the meeting lands in the calendars, the
mails arrive at a real SMTP server, and the Meetings and track pages show it. Then the
toggles off, and a race: someone takes the slot while she confirms. Every step leaves
a screenshot in ``test-artifacts/web/``; ``TRACKS_DOC_SCREENSHOTS=1`` also refreshes
the ones in ``docs/screenshots/``.
"""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from caldav_clients import attendee_params, stored_event
from helpers import USERS, RadicaleServer, put
from mailserver import MailSink
from web_booking import CUSTOMER
from worlds import mail_world, web_server

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("TRACKS_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "web"
DOC_SHOTS = ROOT / "docs" / "screenshots"
BERLIN = ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
TODAY = datetime.datetime.now(BERLIN).date()
MONDAY = TODAY + datetime.timedelta(days=7 - TODAY.weekday())

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=(
    "no Chromium at %s: run scripts/install-browser (make test does)" % CHROMIUM))


def monday(week: int) -> datetime.date:
    return MONDAY + datetime.timedelta(days=7 * week)


def long_day(day: datetime.date) -> str:
    """A day as the week grid's radios name it: "Monday 21 December"."""
    return "%s %d %s" % (day.strftime("%A"), day.day, day.strftime("%B"))


def utc_start(day: datetime.date, hour: int, minute: int = 0) -> str:
    local = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    """The pages (``worlds.web_server``) on SQLite; ``mail`` of ``conftest.py``."""
    with mail_world(tmp_path_factory.mktemp("browser"), "sqlite",
                    lambda workdir, url, sink: web_server(workdir, url, sink.port)) as world:
        yield world


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, world: tuple[RadicaleServer, MailSink]) -> Iterator[Any]:
    context = browser.new_context(
        http_credentials={"username": "alice", "password": USERS["alice"], "send": "always"},
        viewport={"width": 1100, "height": 900}, locale="en-GB", timezone_id="Europe/Berlin")
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    try:
        yield opened
    finally:
        context.close()


def shot(page: Any, name: str, full: bool = True) -> None:
    path = ARTIFACTS / ("%s.png" % name)
    page.screenshot(path=str(path), full_page=full)
    if os.environ.get("TRACKS_DOC_SCREENSHOTS"):
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOC_SHOTS / path.name)


def through_details(page: Any, server: RadicaleServer, subject: str,
                    members: tuple[str, ...] = ("alice", "bob"), pool: bool = True) -> None:
    page.goto(server.url + "/.web/book")
    page.get_by_label("Name").fill(CUSTOMER["name"])
    page.get_by_label("E-mail").fill(CUSTOMER["email"])
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("Duration").select_option("30")
    for member in members:
        page.get_by_role("checkbox", name=member, exact=True).check()
    if pool:
        page.get_by_role("checkbox", name="3rd-floor").check()
    page.get_by_role("button", name="Find a time").click()
    page.get_by_role("heading", name="Available times").wait_for()
    page.wait_for_load_state()  # layout and inner_text read before the stylesheet are wrong


def pick(page: Any, start: str) -> None:
    """Choose a slot with the keyboard, as someone without a mouse would."""
    radio = page.locator('input[name="slot"][value^="%s|"]' % start)
    radio.focus()
    page.keyboard.press("Space")
    assert radio.is_checked()
    page.get_by_role("button", name="Continue").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Confirm").wait_for()
    page.wait_for_load_state()


def test_an_agent_books_for_a_customer_step_by_step(
        page: Any, world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server = world[0]
    day = monday(1)
    # bob is at the dentist 10:00-11:00 that Monday (Berlin)
    dentist = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
               "UID:bob-dentist\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
               "SUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % tuple(
                   utc_start(day, h).replace("-", "").replace(":", "") for h in (10, 11)))
    assert put(server.session("bob"), server.url + "/bob/work/dentist.ics",
               dentist).status_code == 201

    # step 1: a bad address is refused next to the field
    page.goto(server.url + "/.web/book")
    shot(page, "01-customer")
    page.get_by_label("Name").fill(CUSTOMER["name"])
    page.get_by_label("E-mail").fill("olivia@localhost")
    page.get_by_role("button", name="Continue").click()
    error = page.locator("#customer_email-error")
    assert "not a mail domain" in error.inner_text()
    assert page.get_by_label("E-mail").get_attribute("aria-invalid") == "true"
    shot(page, "01-customer-bad-address")
    page.get_by_label("E-mail").fill(CUSTOMER["email"])
    page.get_by_role("button", name="Continue").click()

    # step 2: the meeting
    page.get_by_role("heading", name="Meeting details").wait_for()
    page.get_by_label("Subject").fill("Contract review")
    page.get_by_label("Duration").select_option("60")
    page.get_by_role("checkbox", name="alice", exact=True).check()
    page.get_by_role("checkbox", name="bob", exact=True).check()
    page.get_by_role("checkbox", name="3rd-floor").check()
    page.get_by_label("Meeting type").select_option("in-person")
    page.get_by_label("Location").fill("HQ, 3rd floor")
    page.get_by_label("Conferencing (link or dial-in)").fill("https://meet.example.org/cr")
    page.get_by_label("Description").fill("Bring the signed draft.")
    shot(page, "02-details")
    page.get_by_role("button", name="Find a time").click()

    # step 3: the week grid in the agent's zone; conflicts on demand, with times only
    page.get_by_role("heading", name="Available times").wait_for()
    assert page.get_by_label("Your time zone").input_value() == "Europe/Berlin"
    page.get_by_label("Week of").fill(day.isoformat())
    page.get_by_role("button", name="Update").click()
    page.get_by_role("radio", name="%s, 09:00–10:00, free" % long_day(day)).wait_for()
    conflicted = utc_start(day, 10)
    assert page.locator('input[name="slot"][value^="%s|"]' % conflicted).count() == 0
    shot(page, "03-slots")
    page.wait_for_load_state()   # the page's script attaches its handlers on load
    page.get_by_label("Show conflicts").check()          # applies itself (JavaScript)
    cell = page.get_by_role("radio", name="%s, 10:00–11:00, conflict: bob busy 10:00–11:00"
                            % long_day(day))
    cell.wait_for()
    assert "bob busy" in page.locator("label.cell", has=cell).inner_text()
    assert "bob" in page.locator(".who-busy").inner_text()
    assert "Mon %s 10:00–11:00" % day.strftime("%d %b") in page.locator(".who-busy").inner_text()
    assert "Dentist" not in page.content()
    shot(page, "03-slots-conflicts")
    chosen = utc_start(day, 14)
    pick(page, chosen)

    # step 4: confirm, both notifications on by default
    assert page.get_by_label("Add to calendar event").is_checked()
    assert page.get_by_label("Send confirmation email").is_checked()
    page.get_by_text("Advanced settings").click()
    assert page.get_by_label("Calendar that holds the event").input_value() == "alice"
    summary = page.locator(".summary").inner_text()
    assert "14:00 – 15:00" in summary and "Europe/Berlin" in summary
    assert "Olivia Customer" in summary and "alice@example.org" in summary
    assert "bob@example.org" in summary
    assert "Atlas" in summary and "from the pool 3rd-floor" in summary   # the pool's room
    # the customer's mail, as they will read it, before anything is sent
    preview = page.locator("pre.mail-preview").inner_text()
    assert "your meeting with alice is booked" in preview
    assert "14:00–15:00 (Europe/Berlin)" in preview and "Where: Atlas" in preview
    assert "Change or cancel here:" in preview and "track" not in preview.lower()
    shot(page, "04-confirm")
    page.get_by_role("button", name="Schedule").click()

    # done: the event is in the calendars, the mails arrive
    page.get_by_role("status").wait_for()
    assert "Booked" in page.get_by_role("status").inner_text()
    shot(page, "05-booked")
    event_page = page.locator("dl.facts").inner_text()
    assert "atlas@example.org: accepted" in event_page
    mails = mail.wait_for(1) and mail.settle()
    to_customer = [m for m in mails if m.recipient == CUSTOMER["email"]]
    assert len(to_customer) == 1 and to_customer[0].calendar() is not None
    assert "Contract review" in to_customer[0].text()
    invited = to_customer[0].calendar()
    assert invited is not None
    uid = str(invited.walk("VEVENT")[0]["UID"])
    for user in ("alice", "bob"):
        stored = stored_event(server, user, uid).walk("VEVENT")[0]
        assert str(stored["SUMMARY"]) == "Contract review"
        assert stored["DTSTART"].dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == chosen

    # the track page, from the confirmation
    page.get_by_role("link", name="Open the track").click()
    page.get_by_role("heading", name="Upcoming meetings").wait_for()
    assert "Contract review" in page.locator("section", has=page.get_by_role(
        "heading", name="Upcoming meetings")).inner_text()
    members = page.locator("table.members").inner_text()
    assert "bob@example.org" in members and "Olivia Customer" in members
    assert "/.tracks/feed/" in page.get_by_label("Feed URL").input_value()
    assert page.get_by_label("Track address").input_value().startswith("assistant+")
    shot(page, "07-track")

    # Meetings: newest first, filterable
    page.get_by_role("link", name="Meetings").click()
    stream = page.locator("ol.stream")
    assert "alice booked Contract review for Olivia Customer" in stream.inner_text()
    page.wait_for_load_state()   # a change before the script attached would go unseen
    page.get_by_label("Show").select_option("cancelled")   # applies itself
    page.get_by_text("Nothing yet").wait_for()
    page.wait_for_load_state()
    page.get_by_label("Show").select_option("created")
    page.locator("ol.stream").wait_for()
    assert "Contract review" in page.locator("ol.stream").inner_text()
    shot(page, "06-meetings-created")   # 06-meetings: test_web_booking_changes.py
    page.get_by_role("link", name="My tracks").click()
    assert "Contract review" in page.locator("ul.cards").inner_text()
    shot(page, "08-my-tracks")
    # Radicale's own pages are one link away
    page.get_by_role("link", name="Calendars").click()
    assert page.url.endswith("/.web/index.html")


def test_with_both_toggles_off_the_customer_gets_nothing(
        page: Any, world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server = world[0]
    through_details(page, server, "Internal prep", pool=False)
    page.get_by_label("Week of").fill(monday(2).isoformat())
    page.get_by_role("button", name="Update").click()
    start = utc_start(monday(2), 9)
    page.locator('input[name="slot"][value^="%s|"]' % start).wait_for()
    pick(page, start)
    page.get_by_label("Add to calendar event").uncheck()
    page.get_by_label("Send confirmation email").uncheck()
    page.get_by_role("button", name="Schedule").click()
    page.get_by_role("status").wait_for()
    assert "not on the event; no mail sent" in page.locator("dl.facts").inner_text()
    mails = mail.settle()
    assert [m for m in mails if m.recipient == CUSTOMER["email"]] == []
    bob = [m for m in mails if m.recipient == "bob@example.org"]
    assert bob, "the team member still hears from the assistant"
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    answer = session.get(server.url + "/.web/api/meetings", params={"kind": "booked"},
                         timeout=10).json()["meetings"]
    uid = answer[0]["uid"]
    assert "olivia@customer.test" not in attendee_params(stored_event(server, "alice", uid))


def test_a_slot_taken_while_confirming_is_refused_with_fresh_slots(
        page: Any, world: tuple[RadicaleServer, MailSink]) -> None:
    server = world[0]
    through_details(page, server, "Race", members=("alice", "bob"), pool=False)
    page.get_by_label("Week of").fill(monday(3).isoformat())
    page.get_by_role("button", name="Update").click()
    start = utc_start(monday(3), 11)
    page.locator('input[name="slot"][value^="%s|"]' % start).wait_for()
    pick(page, start)
    # meanwhile bob books that hour for himself
    taken = requests.post(server.url + "/.web/api/bookings", auth=("bob", USERS["bob"]),
                          timeout=30, json={
                              "customer": {"name": "Other", "email": "other@customer.test"},
                              "start": start, "zone": "Europe/Berlin",
                              "details": {"subject": "Faster", "duration": 30,
                                          "members": ["bob"]}})
    assert taken.status_code == 201, taken.text
    page.get_by_role("button", name="Schedule").click()
    alert = page.locator("#slot-error")
    alert.wait_for()
    assert "no longer free" in alert.inner_text() and "bob@example.org" in alert.inner_text()
    assert page.get_by_role("heading", name="Available times").is_visible()
    offered = page.locator('input[name="slot"]')
    assert offered.count() > 0
    assert page.locator('input[name="slot"][value^="%s|"]' % start).count() == 0
    shot(page, "09-slot-taken")


def test_the_pages_fit_a_phone(browser: Any, world: tuple[RadicaleServer, MailSink]
                               ) -> None:
    server = world[0]
    context = browser.new_context(
        http_credentials={"username": "alice", "password": USERS["alice"], "send": "always"},
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True)
    phone = context.new_page()
    try:
        for path, name in (("book", "10-phone-book"), ("meetings", "11-phone-meetings")):
            phone.goto(server.url + "/.web/" + path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "%s scrolls sideways (%dpx)" % (path, width)
            shot(phone, name, full=False)
        through_details(phone, server, "Phone check", pool=False)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        # one day of the week grid at a time (tests/test_web_week_grid.py switches days)
        playwright_api.expect(
            phone.locator("table.week thead th:not(.time-col):visible")).to_have_count(1)
        phone.locator("fieldset.slots").evaluate("element => element.scrollIntoView()")
        shot(phone, "12-phone-slots", full=False)
    finally:
        context.close()
