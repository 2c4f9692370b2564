"""The wizard's "Available times" as a week grid, in a real browser (Debian's Chromium
through Playwright, as ``test_web_browser.py``, whose helpers these tests use).

A slot picked by mouse and by keyboard alone (Tab into the grid, arrows by time and by
day), the weeks before and after — with and without JavaScript —, conflicts naming who
is busy and when but never what, a phone showing one day at a time without sideways
scrolling, the agent's zone taken from the browser and remembered by the server for the
next visit, and the searchable zone pickers refusing a zone nobody knows next to the
field. Each test uses a user of its own where the remembered zone matters.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from helpers import USERS, RadicaleServer, put
from test_web_browser import (
    ARTIFACTS,
    CHROMIUM,
    browser,  # noqa: F401  # the module-scoped browser fixture
    long_day,
    monday,
    playwright_api,
    through_details,
    utc_start,
)
from worlds import mail_world, web_server

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=(
    "no Chromium at %s: run scripts/install-browser (make test does)" % CHROMIUM))

DESKTOP = {"viewport": {"width": 1100, "height": 900}, "locale": "en-GB"}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True, "locale": "en-GB"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """The pages on SQLite, a world of their own (zones remembered here stay here)."""
    with mail_world(tmp_path_factory.mktemp("grid"), "sqlite",
                    lambda workdir, url, sink: web_server(workdir, url, sink.port)) as world:
        yield world[0]


@pytest.fixture
def opened(browser: Any) -> Iterator[Any]:  # noqa: F811  # the imported fixture
    """``opened(user, zone, **options)``: a page logged in as ``user`` in a browser
    whose clock runs in ``zone``; every context is closed afterwards."""
    contexts: list[Any] = []

    def open_page(user: str = "alice", zone: str = "Europe/Berlin", **options: Any) -> Any:
        settings = dict(DESKTOP, **options)
        context = browser.new_context(
            http_credentials={"username": user, "password": USERS[user], "send": "always"},
            timezone_id=zone, **settings)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def radio(page: Any, day: datetime.date, span: str, state: str = "free") -> Any:
    """A slot's radio by its accessible name: "Monday 21 December, 09:00–09:30, free"."""
    return page.get_by_role("radio", name="%s, %s, %s" % (long_day(day), span, state))


def to_week(page: Any, day: datetime.date) -> None:
    page.get_by_label("Week of").fill(day.isoformat())
    page.get_by_role("button", name="Update").click()
    page.locator("table.week").wait_for()
    page.wait_for_load_state()  # layout and inner_text read before the stylesheet are wrong


def focused_name(page: Any) -> str:
    return str(page.evaluate("document.activeElement.getAttribute('aria-label') || "
                             "document.activeElement.textContent"))


def artifact(page: Any, name: str) -> None:
    """A screenshot for people reviewing a run (``test-artifacts/web/``); the docs'
    screenshots come from ``test_web_browser.py``."""
    page.screenshot(path=str(ARTIFACTS / ("grid-%s.png" % name)), full_page=True)


def remembered(server: RadicaleServer, user: str) -> Any:
    return requests.get(server.url + "/.web/api/preferences", auth=(user, USERS[user]),
                        timeout=10).json()["zone"]


def test_a_slot_is_picked_with_the_mouse(opened: Any, server: RadicaleServer) -> None:
    page = opened()
    through_details(page, server, "Mouse pick")
    day = monday(1) + datetime.timedelta(days=1)          # a Tuesday
    to_week(page, monday(1))
    header = page.locator("table.week thead").inner_text()
    assert "Mon %d" % monday(1).day in header and "Sun" in header
    assert "Times in Europe/Berlin" in page.locator("table.week caption").inner_text()
    page.locator("label.cell", has=radio(page, day, "11:30–12:00", "free, Atlas")).click()
    assert radio(page, day, "11:30–12:00").is_checked()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Confirm").wait_for()
    summary = page.locator(".summary").inner_text()
    assert day.strftime("%a %d %b %Y, 11:30") in summary and "12:00" in summary


def test_a_slot_is_picked_with_the_keyboard_alone(opened: Any, server: RadicaleServer
                                                  ) -> None:
    page = opened()
    through_details(page, server, "Keyboard pick", pool=False)
    first = monday(1)
    to_week(page, first)
    page.wait_for_load_state()
    page.get_by_role("button", name="Next week").focus()
    page.keyboard.press("Tab")                               # into the grid: its first slot
    assert focused_name(page) == "%s, 09:00–09:30, free" % long_day(first)
    page.keyboard.press("ArrowDown")                         # the same day, later
    assert focused_name(page) == "%s, 09:30–10:00, free" % long_day(first)
    page.keyboard.press("ArrowRight")                        # the same time, the next day
    tuesday = first + datetime.timedelta(days=1)
    assert focused_name(page) == "%s, 09:30–10:00, free" % long_day(tuesday)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    wednesday = first + datetime.timedelta(days=2)
    assert focused_name(page) == "%s, 09:00–09:30, free" % long_day(wednesday)
    assert radio(page, wednesday, "09:00–09:30").is_checked()   # arrows choose, as radios do
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Space")
    assert radio(page, tuesday, "09:00–09:30").is_checked()
    for _ in range(10):                                      # on to Continue
        page.keyboard.press("Tab")
        if focused_name(page).strip() == "Continue":
            break
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Confirm").wait_for()
    assert tuesday.strftime("%a %d %b %Y, 09:00") in page.locator(".summary").inner_text()


@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_previous_and_next_week(opened: Any, server: RadicaleServer, script: bool) -> None:
    page = opened(java_script_enabled=script)
    through_details(page, server, "Weeks", pool=False)
    today = datetime.datetime.now(ZoneInfo("Europe/Berlin")).date()
    this_monday = today - datetime.timedelta(days=today.weekday())
    assert page.get_by_label("Week of").input_value() == this_monday.isoformat()
    assert page.get_by_role("button", name="Previous week").is_disabled()  # nothing earlier
    page.get_by_role("button", name="Next week").click()
    radio(page, monday(0), "09:00–09:30").wait_for()
    assert page.get_by_label("Week of").input_value() == monday(0).isoformat()
    page.get_by_role("button", name="Next week").click()
    radio(page, monday(1), "09:00–09:30").wait_for()
    assert radio(page, monday(0), "09:00–09:30").count() == 0
    page.get_by_role("button", name="Previous week").click()
    radio(page, monday(0), "09:00–09:30").wait_for()
    assert page.get_by_role("alert").count() == 0          # another week asks nothing
    assert monday(0).strftime("%B") in page.locator(".week-title").inner_text()


def test_conflicts_name_who_is_busy_and_when_never_what(opened: Any, server: RadicaleServer
                                                        ) -> None:
    day = monday(2) + datetime.timedelta(days=3)            # a Thursday
    stamp = [utc_start(day, h).replace("-", "").replace(":", "") for h in (13, 14)]
    secret = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
              "UID:bob-secret\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
              "SUMMARY:Salary talk with HR\r\nLOCATION:Room of secrets\r\nEND:VEVENT\r\n"
              "END:VCALENDAR\r\n" % tuple(stamp))
    assert put(server.session("bob"), server.url + "/bob/work/secret.ics",
               secret).status_code == 201
    page = opened()
    through_details(page, server, "Conflicts")
    to_week(page, monday(2))
    assert radio(page, day, "13:00–13:30", "free, Atlas").count() == 0   # hidden by default
    page.wait_for_load_state()
    page.get_by_label("Show conflicts").check()
    cell = radio(page, day, "13:00–13:30", "conflict: bob busy 13:00–14:00, Atlas")
    cell.wait_for()
    page.wait_for_load_state()
    assert page.locator("label.cell", has=cell).inner_text().split() == ["13:00", "bob",
                                                                       "busy"]
    assert "conflicts included" in page.locator("table.week caption").inner_text()
    busy = page.locator(".who-busy").inner_text()
    assert "bob" in busy and day.strftime("%a %d %b 13:00–14:00") in busy
    assert "Salary" not in page.content() and "secrets" not in page.content()
    artifact(page, "conflicts")
    cell.check()                                             # chosen knowingly
    page.get_by_role("button", name="Continue").click()
    assert "You book over a conflict of bob@example.org" in page.locator(
        ".summary").inner_text()


@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_a_phone_shows_one_day_at_a_time(opened: Any, server: RadicaleServer,
                                         script: bool) -> None:
    page = opened(java_script_enabled=script, **PHONE)
    through_details(page, server, "Phone day", pool=False)
    to_week(page, monday(1))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the week scrolls sideways (%dpx)" % width
    # what is visible is asked with retries: without script the day button loads a new
    # page, and until its stylesheet applies every day of the week is laid out
    visible_days = page.locator("table.week thead th:not(.time-col):visible")
    expect = playwright_api.expect
    expect(visible_days).to_have_count(1)
    expect(visible_days).to_have_text("Monday %d %s" % (monday(1).day,
                                                        monday(1).strftime("%B %Y")),
                                      use_inner_text=True)
    wednesday = monday(1) + datetime.timedelta(days=2)
    page.get_by_role("button", name=re.compile("^%s" % wednesday.strftime("%A"))).click()
    expect(visible_days).to_have_count(1)
    expect(visible_days).to_contain_text(wednesday.strftime("%A"), use_inner_text=True)
    radio(page, wednesday, "10:00–10:30").wait_for(state="visible")
    page.wait_for_load_state()
    assert page.get_by_role("alert").count() == 0          # showing a day asks nothing
    assert not radio(page, monday(1), "10:00–10:30").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    artifact(page, "phone-%s" % ("script" if script else "no-script"))
    radio(page, wednesday, "10:00–10:30").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Confirm").wait_for()
    assert wednesday.strftime("%a %d %b %Y, 10:00") in page.locator(".summary").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_browsers_zone_is_the_default_and_is_remembered(
        opened: Any, server: RadicaleServer) -> None:
    assert remembered(server, "carol") is None
    page = opened("carol", "America/New_York")
    through_details(page, server, "Zone default", members=("carol",), pool=False)
    assert page.get_by_label("Your time zone").input_value() == "America/New_York"
    assert "Times in America/New_York" in page.locator("table.week caption").inner_text()
    assert remembered(server, "carol") == "America/New_York"
    # carol's working hours are 09:00-17:00 Berlin: 03:00 in New York in December
    to_week(page, monday(1))
    assert radio(page, monday(1), "03:00–03:30").count() == 1

    # the next visit, from a browser in Tokyo: the remembered zone, not the browser's
    later = opened("carol", "Asia/Tokyo")
    through_details(later, server, "Zone remembered", members=("carol",), pool=False)
    assert later.get_by_label("Your time zone").input_value() == "America/New_York"
    assert remembered(server, "carol") == "America/New_York"


def test_the_zone_pickers_search_and_refuse_an_unknown_zone(
        opened: Any, server: RadicaleServer) -> None:
    page = opened("bob", "Europe/Berlin")
    through_details(page, server, "Zone picker", members=("bob",))
    picker = page.get_by_label("Your time zone")
    assert picker.get_attribute("list") == "zones"           # a searchable list of zones
    assert page.locator('datalist#zones option[value="Asia/Tokyo"]').count() == 1
    picker.fill("Mars/Olympus")
    picker.press("Enter")
    error = page.locator("#zone-error")
    error.wait_for()
    assert "not a time zone" in error.inner_text()
    assert picker.get_attribute("aria-invalid") == "true"
    assert picker.get_attribute("aria-describedby") == "zone-error"
    assert remembered(server, "bob") != "Mars/Olympus"
    artifact(page, "bad-zone")
    picker.fill("Tokyo Standard Time")                      # Windows' name of it
    picker.press("Enter")
    page.locator("table.week").wait_for()
    assert "Times in Asia/Tokyo" in page.locator("table.week caption").inner_text()
    assert picker.input_value() == "Asia/Tokyo"
    assert remembered(server, "bob") == "Asia/Tokyo"
    picker.fill("Europe/Berlin")                             # back, for the times below
    picker.press("Enter")
    page.locator("table.week caption", has_text="Europe/Berlin").wait_for()

    # step 4: the customer's zone, the same kind of picker; both times shown
    to_week(page, monday(1))
    radio(page, monday(1), "14:00–14:30", "free, Atlas").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Confirm").wait_for()
    page.get_by_text("Advanced settings").click()
    customer = page.get_by_label("Time zone in the customer's mail")
    assert customer.get_attribute("list") == "zones"
    customer.fill("Atlantis/Lost")
    page.get_by_role("button", name="Show their time").click()
    assert "not a time zone" in page.locator("#customer_zone-error").inner_text()
    customer = page.get_by_label("Time zone in the customer's mail")
    customer.fill("America/New_York")
    page.get_by_role("button", name="Show their time").click()
    summary = page.locator(".summary")
    summary.get_by_text("America/New_York").wait_for()
    text = summary.inner_text()
    assert monday(1).strftime("%a %d %b %Y, 14:00 – 14:30") in text   # the agent's time
    assert monday(1).strftime("%a %d %b %Y, 08:00 – 08:30") in text   # the customer's
    assert "Olivia Customer" in text and "bob <bob@example.org>" in text
    assert "Atlas" in text and "from the pool 3rd-floor" in text
    artifact(page, "confirm-two-zones")
