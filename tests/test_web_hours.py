"""The Working hours page in a real browser (Debian's Chromium through Playwright, as
``test_web_browser.py`` drives it, with its ``world`` and ``browser``).

Alice sets a split week with the mouse and the keyboard and the command line shows it;
hours bob's admin set with the command show on his page, and he goes back to the
default; carol's range that ends before it starts is refused next to it; the page works
without a script and fits a phone. ``TRACKS_DOC_SCREENSHOTS=1`` refreshes
``docs/screenshots/13-working-hours.png``, ``14-phone-working-hours.png`` and
``15-working-hours-refused.png``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import USERS, RadicaleServer
from mailserver import MailSink
from test_web_browser import CHROMIUM, browser, shot, world

__all__ = ["browser", "world"]   # the fixtures, shared with test_web_browser.py

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=(
    "no Chromium at %s: run scripts/install-browser (make test does)" % CHROMIUM))


@contextlib.contextmanager
def logged_in(browser: Any, user: str, width: int = 1100, height: int = 900,
              script: bool = True) -> Iterator[Any]:
    context = browser.new_context(
        http_credentials={"username": user, "password": USERS[user], "send": "always"},
        viewport={"width": width, "height": height}, locale="en-GB",
        java_script_enabled=script)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def open_hours(page: Any, server: RadicaleServer) -> None:
    page.goto(server.url + "/.web/hours")
    page.get_by_role("heading", name="Working hours").wait_for()
    page.wait_for_load_state()   # the rows' script runs on load


def times(page: Any, day: str) -> list[tuple[str, str]]:
    """The visible ranges of a day, as its inputs hold them (once the page's script has
    hidden the blank rows: a page just submitted may still be parsing)."""
    page.wait_for_load_state("load")
    found = []
    for row in page.locator('fieldset[data-day="%s"] [data-row]' % day).all():
        if row.is_visible():
            inputs = row.locator("input")
            found.append((inputs.nth(0).input_value(), inputs.nth(1).input_value()))
    return found


def type_time(page: Any, hour: int, minute: int) -> None:
    """Type a time into the focused time input as a person would: digits, and AM or PM
    where Chromium's locale shows a 12-hour clock (the input stays empty without)."""
    element = page.locator("#" + focused(page))
    page.keyboard.type("%02d%02d" % (hour, minute))
    if not element.input_value():
        element.focus()
        page.keyboard.type("%02d%02d%s" % (hour % 12 or 12, minute, "AP"[hour >= 12]))
    assert element.input_value() == "%02d:%02d" % (hour, minute)


def tab_on(page: Any) -> None:
    """Tab to the next element: through the input's own fields (hour, minute, AM/PM)
    first, as a keyboard user does."""
    start = focused(page)
    for _ in range(4):
        page.keyboard.press("Tab")
        if focused(page) != start:
            return
    raise AssertionError("Tab never left #%s" % start)


def focused(page: Any) -> str:
    """The id of the element that has the keyboard focus."""
    return str(page.evaluate("document.activeElement.id"))


def shown_by_cli(server: RadicaleServer, user: str) -> str:
    done = server.cli("availability", "show", user)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_alice_sets_a_split_week_by_mouse_and_keyboard(
        browser: Any, world: tuple[RadicaleServer, MailSink]) -> None:
    server = world[0]
    with logged_in(browser, "alice") as page:
        open_hours(page, server)
        assert "You have set no working hours of your own" in page.locator(
            "#hours-state").inner_text()
        assert page.get_by_role("link", name="Working hours").get_attribute(
            "aria-current") == "page"
        assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"
        assert times(page, "mon") == [("09:00", "17:00")]
        assert times(page, "sat") == [] and page.locator(
            'fieldset[data-day="sat"] .off').inner_text() == "Day off"

        # the mouse: Monday split at lunch, Friday short, Wednesday off
        page.get_by_label("Monday, range 1, to").fill("12:00")
        page.get_by_role("button", name="Add a range to Monday").click()
        assert focused(page) == "mon-1-start"
        page.get_by_label("Monday, range 2, from").fill("13:00")
        page.get_by_label("Monday, range 2, to").fill("17:00")
        page.get_by_label("Friday, range 1, to").fill("13:00")
        page.get_by_role("button", name="Remove Wednesday range 1").click()
        assert times(page, "wed") == []

        # the keyboard: Tuesday 08:30-16:30, then Tab to the button and Enter
        page.get_by_label("Tuesday, range 1, from").focus()
        type_time(page, 8, 30)
        tab_on(page)
        assert focused(page) == "tue-0-end"
        type_time(page, 16, 30)
        page.get_by_role("button", name="Save working hours").focus()
        page.keyboard.press("Enter")

        page.get_by_role("status").wait_for()
        assert "saved" in page.get_by_role("status").inner_text()
        assert ("Mon 09:00-12:00, 13:00-17:00; Tue 08:30-16:30; Thu 09:00-17:00; "
                "Fri 09:00-13:00") in page.locator("#hours-state").inner_text()
        assert times(page, "mon") == [("09:00", "12:00"), ("13:00", "17:00")]
        assert times(page, "wed") == []
        shot(page, "13-working-hours")

    shown = shown_by_cli(server, "alice")
    assert shown.startswith("# set by the user")
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO\n" in shown and "TZID=Europe/Berlin" in shown
    assert "SUMMARY:Working hours Tue 08:30-16:30" in shown


def test_hours_set_by_the_command_show_on_the_page_and_go_back_to_the_default(
        browser: Any, world: tuple[RadicaleServer, MailSink]) -> None:
    server = world[0]
    done = server.cli("availability", "set", "bob", "--hours", "Mon-Thu 08:00-12:00",
                      "--hours", "Mon-Thu 12:30-16:00", "--zone", "America/New_York")
    assert done.returncode == 0, done.stderr
    with logged_in(browser, "bob") as page:
        open_hours(page, server)
        assert "Your own working hours: Mon-Thu 08:00-12:00, 12:30-16:00" in page.locator(
            "#hours-state").inner_text()
        assert page.get_by_label("Time zone").input_value() == "America/New_York"
        assert times(page, "thu") == [("08:00", "12:00"), ("12:30", "16:00")]
        assert times(page, "fri") == []
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Use the default hours").click()
        page.get_by_role("status").wait_for()
        assert "default hours count again" in page.get_by_role("status").inner_text()
        assert "You have set no working hours" in page.locator("#hours-state").inner_text()
        assert page.get_by_role("button", name="Use the default hours").count() == 0
    assert "the server's default working hours" in shown_by_cli(server, "bob")


def test_a_bad_range_is_refused_next_to_its_field(
        browser: Any, world: tuple[RadicaleServer, MailSink]) -> None:
    server = world[0]
    with logged_in(browser, "carol") as page:
        open_hours(page, server)
        page.get_by_label("Monday, range 1, from").fill("17:00")
        page.get_by_label("Monday, range 1, to").fill("09:00")
        page.get_by_role("button", name="Save working hours").click()
        error = page.locator("#mon-error")
        error.wait_for()
        assert error.get_attribute("role") == "alert"
        assert "end 09:00 is not after the start 17:00" in error.inner_text()
        wrong = page.get_by_label("Monday, range 1, to")
        assert wrong.get_attribute("aria-invalid") == "true"
        assert wrong.get_attribute("aria-describedby") == "mon-error"
        monday = page.locator('fieldset[data-day="mon"]')
        assert monday.get_attribute("aria-describedby") == "mon-error"
        assert times(page, "mon") == [("17:00", "09:00")]   # what she typed, kept
        shot(page, "15-working-hours-refused")

        # an overlap, then a zone that does not exist
        page.get_by_label("Monday, range 1, from").fill("09:00")
        page.get_by_label("Monday, range 1, to").fill("12:00")
        page.get_by_role("button", name="Add a range to Monday").click()
        page.get_by_label("Monday, range 2, from").fill("11:00")
        page.get_by_label("Monday, range 2, to").fill("13:00")
        page.get_by_role("button", name="Save working hours").click()
        page.locator("#mon-error").wait_for()
        assert "11:00-13:00 overlaps 09:00-12:00" in page.locator("#mon-error").inner_text()
        page.wait_for_load_state()
        page.get_by_label("Monday, range 2, from").fill("12:30")
        page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
        page.get_by_role("button", name="Save working hours").click()
        page.locator("#zone-error").wait_for()
        assert "not a time zone" in page.locator("#zone-error").inner_text()
        assert page.get_by_label("Time zone").get_attribute("aria-invalid") == "true"
        assert page.locator("#mon-error").count() == 0
    assert "the server's default working hours" in shown_by_cli(server, "carol")


def test_without_a_script_three_rows_a_day_wait(
        browser: Any, world: tuple[RadicaleServer, MailSink]) -> None:
    server = world[0]
    with logged_in(browser, "carol", script=False) as page:
        page.goto(server.url + "/.web/hours")
        assert page.locator('fieldset[data-day="thu"] [data-row]').count() == 3
        for number, (start, end) in enumerate((("08:00", "10:00"), ("10:30", "12:00"),
                                               ("13:00", "15:00"))):
            page.get_by_label("Thursday, range %d, from" % (number + 1)).fill(start)
            page.get_by_label("Thursday, range %d, to" % (number + 1)).fill(end)
        for day in ("Monday", "Tuesday", "Wednesday", "Friday"):   # days off
            page.get_by_label("%s, range 1, from" % day).fill("")
            page.get_by_label("%s, range 1, to" % day).fill("")
        page.get_by_label("Time zone").fill("Asia/Tokyo")
        page.get_by_role("button", name="Save working hours").click()
        page.get_by_role("status").wait_for()
        assert "Thu 08:00-10:00, 10:30-12:00, 13:00-15:00" in page.locator(
            "#hours-state").inner_text()
        # a fourth row, blank, for the next range
        assert page.locator('fieldset[data-day="thu"] [data-row]').count() == 4
    shown = shown_by_cli(server, "carol")
    assert "TZID=Asia/Tokyo" in shown and "BYDAY=TH" in shown


def test_the_hours_page_fits_a_phone(browser: Any, world: tuple[RadicaleServer, MailSink]
                                     ) -> None:
    server = world[0]
    with logged_in(browser, "alice", width=390, height=844) as page:
        open_hours(page, server)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways (%dpx)" % width
        page.get_by_role("button", name="Add a range to Tuesday").click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways with a new row (%dpx)" % width
        page.evaluate("document.activeElement.blur(); window.scrollTo(0, "
                      "document.getElementById('zone').getBoundingClientRect().top"
                      " + window.scrollY - 40)")
        shot(page, "14-phone-working-hours", full=False)
