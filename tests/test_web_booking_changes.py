"""A booking changed after the booking, in a real browser (Debian's Chromium through
Playwright, as ``test_web_browser.py``, whose helpers these tests use).

The agent follows a booking from Meetings to its page, moves it with the mouse on the
week grid with a message for the customer, and cancels another; the customer opens the
link in their confirmation mail — no account, no login — moves their meeting with the
keyboard alone and then cancels it; a forged and a revoked link get a plain refusal
page; and the customer's page fits a phone. Each test books its own meeting through the
JSON API (in a week of its own, so the grids do not meet) and checks what a person sees,
what the holder's calendar stores and what the customer's mail says.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from caldav_clients import stored_event
from helpers import USERS, RadicaleServer
from mailserver import MailSink, Received
from test_web_browser import (
    CHROMIUM,
    browser,  # noqa: F401  # the module-scoped browser fixture
    long_day,
    monday,
    playwright_api,
    shot,
)
from web_booking import CUSTOMER, booking, slot
from worlds import mail_world, web_server

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=(
    "no Chromium at %s: run scripts/install-browser (make test does)" % CHROMIUM))

DESKTOP = {"viewport": {"width": 1100, "height": 900}, "locale": "en-GB",
           "timezone_id": "Europe/Berlin"}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True, "locale": "en-GB",
         "timezone_id": "Europe/Berlin"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    """The pages on SQLite with a mail sink (the API tests run both databases)."""
    with mail_world(tmp_path_factory.mktemp("changes-web"), "sqlite",
                    lambda workdir, url, sink: web_server(workdir, url, sink.port)) as world:
        yield world


@pytest.fixture
def server(world: tuple[RadicaleServer, MailSink]) -> RadicaleServer:
    return world[0]


@pytest.fixture
def sink(world: tuple[RadicaleServer, MailSink]) -> Iterator[MailSink]:
    """The world's sink, emptied of what earlier tests sent."""
    world[1].settle()
    world[1].take()
    yield world[1]


@pytest.fixture
def opened(browser: Any) -> Iterator[Any]:  # noqa: F811  # the imported fixture
    """``opened(user=None, **options)``: a page in a context of its own, logged in as
    ``user`` (no credentials at all for None: the customer); closed afterwards."""
    contexts: list[Any] = []

    def open_page(user: str | None = "alice", **options: Any) -> Any:
        settings = dict(DESKTOP, **options)
        if user is not None:
            settings["http_credentials"] = {"username": user, "password": USERS[user],
                                            "send": "always"}
        context = browser.new_context(**settings)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def book(server: RadicaleServer, start: str, subject: str) -> dict[str, Any]:
    """A booking made by alice through the JSON API: its answer and its ``id``."""
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    answer = session.post(server.url + "/.web/api/bookings", timeout=30, json=booking(
        start, details={"subject": subject}))
    assert answer.status_code == 201, answer.text
    listed = session.get(server.url + "/.web/api/meetings/upcoming", timeout=30)
    row = next(m for m in listed.json()["meetings"] if m["uid"] == answer.json()["uid"])
    return dict(answer.json(), id=row["booking"])


def to_customer(mails: list[Received], kind: str) -> list[Received]:
    return [m for m in mails if m.recipient == CUSTOMER["email"] and m.kind == kind]


def link_in(mail: Received) -> str:
    """The customer's link, as a person would copy it out of the mail's text."""
    found = re.search(r"(https?://\S+/\.web/booking/[0-9a-f.]+)", mail.text())
    assert found, mail.text()
    return found.group(1)


def holder_start(server: RadicaleServer, uid: str) -> datetime.datetime:
    event = stored_event(server, "alice", uid).walk("VEVENT")[0]
    start: datetime.datetime = event["DTSTART"].dt
    return start.astimezone(datetime.UTC)


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def meetings_row(page: Any, subject: str) -> Any:
    return page.locator("table.bookings tbody tr", has=page.get_by_role(
        "link", name=subject, exact=True))


def focused(page: Any) -> str:
    """The focused element's name as a screen reader reads it: its aria-label, else
    its text without the parts hidden from screen readers (a link's arrow)."""
    return str(page.evaluate("""() => {
        const element = document.activeElement;
        if (element.getAttribute("aria-label")) { return element.getAttribute("aria-label"); }
        const copy = element.cloneNode(true);
        copy.querySelectorAll("[aria-hidden=true]").forEach((hidden) => hidden.remove());
        return copy.textContent;
    }""")).strip()


def tab_to(page: Any, name: str, presses: int = 40) -> None:
    """Press Tab until the element named ``name`` has the focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if focused(page) == name:
            return
    raise AssertionError("Tab never reached %r (last: %r)" % (name, focused(page)))


# -- the agent -----------------------------------------------------------------------------

def test_the_agent_moves_a_booking_from_meetings_with_the_mouse(
        opened: Any, server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(1, 0, 10), "Contract walk-through")
    sink.settle()
    sink.take()
    page = opened()
    page.goto(server.url + "/.web/meetings")
    row = meetings_row(page, "Contract walk-through")
    assert "Confirmed" in row.inner_text() and "Olivia Customer" in row.inner_text()
    row.get_by_role("link", name="Contract walk-through").click()
    page.get_by_role("heading", name="Contract walk-through").wait_for()
    facts = page.locator(".booking-facts").inner_text()
    assert "Olivia Customer" in facts and "olivia@customer.test" in facts
    assert "Atlas" in facts and "alice" in facts and "bob" in facts
    assert page.locator(".state-pill").inner_text() == "Confirmed"
    # on to the meeting's week by mouse, then the new time: Wednesday 14:00
    moving = page.get_by_role("region", name="Move to another time")
    for _ in range(2):
        moving.get_by_role("link", name="Next week").click()
        page.locator(".week-title").wait_for()
    assert monday(1).strftime("%B") in page.locator(".week-title").inner_text()
    assert page.locator('input[name="slot"][value^="%s|"]' % slot(1, 0, 10)).count() == 0
    new_start = slot(1, 2, 14)                               # (its own time is no choice)
    radio = page.locator('input[name="slot"][value^="%s|"]' % new_start)
    assert radio.get_attribute("aria-label") == "%s, 14:00–14:30, free, Atlas" % long_day(
        monday(1) + datetime.timedelta(days=2))
    page.locator("label.cell", has=radio).click()
    assert radio.is_checked()
    moving.get_by_label("Message to the customer").fill("Sorry, a clash came up.")
    shot(page, "16-booking-page")
    moving.get_by_role("button", name="Move the meeting").click()
    status = page.get_by_role("status")
    status.wait_for()
    assert "Moved" in status.inner_text() and "Olivia Customer" in status.inner_text()
    assert page.locator(".state-pill").inner_text() == "Rescheduled"
    when = page.locator(".booking-facts").inner_text()
    assert "14:00" in when and "14:30" in when
    assert holder_start(server, booked["uid"]) == utc(new_start)
    mails = to_customer(sink.settle(), "booking_changed")
    assert len(mails) == 1 and "Sorry, a clash came up." in mails[0].text()
    assert "14:00–14:30" in mails[0].text()
    # Meetings: the table says rescheduled, the activity who moved it
    page.get_by_role("link", name="Back to Meetings").click()
    row = meetings_row(page, "Contract walk-through")
    assert "Rescheduled" in row.inner_text() and "by the customer" not in row.inner_text()
    assert "14:00" in row.inner_text()
    assert "moved Contract walk-through" in page.locator("ol.stream").inner_text()


def test_the_agent_cancels_a_booking_with_a_message(
        opened: Any, server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(2, 1, 11), "Quarterly review")
    sink.settle()
    sink.take()
    page = opened()
    page.goto(server.url + "/.web/bookings/%d" % booked["id"])
    cancelling = page.get_by_role("region", name="Cancel the meeting")
    cancelling.get_by_label("Message to the customer").fill("We found the answer by mail.")
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    cancelling.get_by_role("button", name="Cancel the meeting").click()
    page.get_by_role("status").wait_for()
    assert asked == ["Cancel this meeting for everyone?"]
    assert "Cancelled" in page.get_by_role("status").inner_text()
    assert page.locator(".state-pill").inner_text() == "Cancelled"
    assert page.locator('form[action$="/reschedule"], form[action$="/cancel"]').count() == 0
    assert page.locator('input[name="slot"]').count() == 0
    event = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert str(event["STATUS"]) == "CANCELLED"
    mails = to_customer(sink.settle(), "booking_cancelled")
    assert len(mails) == 1 and "We found the answer by mail." in mails[0].text()
    page.get_by_role("link", name="Back to Meetings").click()
    assert "Cancelled" in meetings_row(page, "Quarterly review").inner_text()


# -- the customer ----------------------------------------------------------------------------

def test_the_customer_moves_by_keyboard_and_then_cancels_from_their_mail(
        opened: Any, server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(0, 2, 15), "Kick-off")
    confirmation = to_customer(sink.settle(), "booking_invitation")
    assert len(confirmation) == 1
    link = link_in(confirmation[0])
    sink.take()
    page = opened(None)                                     # no account, no login
    answer = page.goto(link)
    assert answer is not None and answer.status == 200
    page.get_by_role("heading", name="Kick-off").wait_for()
    facts = page.locator(".booking-facts").inner_text()
    assert "Wednesday %d" % (monday(0) + datetime.timedelta(days=2)).day in facts
    assert "15:00–15:30" in facts and "Atlas" in facts
    assert page.get_by_role("link", name="Log out").count() == 0
    # keyboard alone: to the meeting's week, into the grid, arrows, the button
    tab_to(page, "Next week")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"week=%s" % monday(0).isoformat()))
    page.wait_for_load_state()
    shot(page, "17-customer-page")
    tab_to(page, "Next week")
    page.keyboard.press("Tab")                               # into the grid: its first slot
    tuesday = monday(0) + datetime.timedelta(days=1)
    assert focused(page) == "%s, 09:00–09:30, free, Atlas" % long_day(monday(0))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert focused(page) == "%s, 09:30–10:00, free, Atlas" % long_day(tuesday)
    page.keyboard.press("Tab")                               # the message
    page.keyboard.type("Mornings suit me better")
    tab_to(page, "Move my meeting")
    page.keyboard.press("Enter")
    status = page.get_by_role("status")
    status.wait_for()
    assert "Done: your meeting is now %s" % long_day(tuesday) in status.inner_text()
    assert "09:30–10:00" in status.inner_text()
    assert "done=moved" in page.url                          # a reload sends nothing again
    shot(page, "18-customer-moved", full=False)
    assert holder_start(server, booked["uid"]) == utc(slot(0, 1, 9, 30))
    mails = to_customer(sink.settle(), "booking_changed")
    assert len(mails) == 1 and "has changed, as you asked" in mails[0].text()
    sink.take()
    # the agent sees who moved it
    agent = opened("alice")
    agent.goto(server.url + "/.web/meetings")
    assert "Rescheduled by the customer" in meetings_row(agent, "Kick-off").inner_text()
    shot(agent, "06-meetings", full=False)              # with the earlier tests' bookings
    # then the customer cannot make it at all
    cancelling = page.get_by_role("region", name="Can't make it?")
    cancelling.get_by_label("A message for").fill("Solved it myself, thank you.")
    page.once("dialog", lambda dialog: dialog.accept())
    cancelling.get_by_role("button", name="Cancel my meeting").click()
    page.get_by_text("Your meeting is cancelled.").wait_for()
    assert page.locator(".state-pill").inner_text() == "Cancelled"
    assert page.locator('input[name="slot"]').count() == 0
    assert page.get_by_role("button", name="Cancel my meeting").count() == 0
    event = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert str(event["STATUS"]) == "CANCELLED"
    mails = to_customer(sink.settle(), "booking_cancelled")
    assert len(mails) == 1 and "is cancelled, as you asked" in mails[0].text()
    agent.reload()
    assert "Cancelled by the customer" in meetings_row(agent, "Kick-off").inner_text()
    lines = [line for line in agent.locator("ol.stream li").all_inner_texts()
             if "Kick-off" in line and "(by the customer)" in line]
    assert len(lines) == 2, lines                            # moved, then cancelled


def test_a_forged_or_revoked_link_gets_a_clear_page(
        opened: Any, server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(3, 0, 10), "Link check")
    link = link_in(to_customer(sink.settle(), "booking_invitation")[0])
    page = opened(None)
    forged = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    answer = page.goto(forged)
    assert answer is not None and answer.status == 404
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == "This link does not open"
    assert "This link is not valid" in page.get_by_role("alert").inner_text()
    assert "reply to the e-mail you got about it" in page.locator("main").inner_text()
    assert "Traceback" not in page.content()
    assert page.locator("form").count() == 0
    shot(page, "20-customer-refused")
    assert opened(None).goto(link) is not None               # still fine before the revoke
    agent = opened("alice")
    agent.goto(server.url + "/.web/bookings/%d" % booked["id"])
    agent.once("dialog", lambda dialog: dialog.accept())
    agent.get_by_role("button", name="Revoke the customer's link").click()
    assert "no longer open" in agent.get_by_role("status").inner_text()
    answer = page.goto(link)
    assert answer is not None and answer.status == 404
    assert "replaced by a newer one" in page.get_by_role("alert").inner_text()
    assert "Traceback" not in page.content() and page.locator("form").count() == 0


def test_the_customer_page_fits_a_phone(opened: Any, server: RadicaleServer,
                                        sink: MailSink) -> None:
    book(server, slot(0, 3, 11), "Phone call")
    link = link_in(to_customer(sink.settle(), "booking_invitation")[0])
    phone = opened(None, **PHONE)
    phone.goto(link + "?week=" + monday(0).isoformat())
    phone.get_by_role("heading", name="Phone call").wait_for()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the customer's page scrolls sideways (%dpx)" % width
    # one day at a time; the day switch shows another without a round trip
    assert phone.locator("table.week thead th:not(.time-col):visible").count() == 1
    assert phone.locator("table.week thead th:visible .long").inner_text() == long_day(
        monday(0)) + " %d" % monday(0).year
    phone.wait_for_load_state()
    phone.locator(".day-switch button").nth(2).click()
    shown = phone.locator("table.week thead th:not(.time-col):visible")
    playwright_api.expect(shown).to_have_count(1)
    playwright_api.expect(shown).to_contain_text("Wednesday", use_inner_text=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.locator("fieldset.slots").evaluate("element => element.scrollIntoView()")
    shot(phone, "19-phone-customer", full=False)
