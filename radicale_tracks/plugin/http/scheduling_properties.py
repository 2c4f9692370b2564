"""RFC 6638 WebDAV properties added to Radicale's PROPFIND and REPORT answers.

Radicale renders the multistatus; the application hands it here before it is serialised.
Only properties the client asked for are touched (and the resource type of the inbox and
outbox, always): principals get their calendar user addresses, inbox and outbox URLs,
calendar-user-type and default calendar (§2.4, §9.2); the inbox and outbox their resource
types and scheduling privileges (§2.1, §2.2, §6); scheduling objects their schedule-tag
(§3.2.10); calendars schedule-calendar-transp (§9.1).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from http import client
from typing import TYPE_CHECKING
from urllib.parse import unquote

from radicale import xmlutils
from radicale.storage import BaseCollection

from radicale_tracks.plugin.schedule_boxes import INBOX, OUTBOX, inbox_path, outbox_path

if TYPE_CHECKING:
    from radicale_tracks.plugin.storage import Storage


def clark(human: str) -> str:
    return xmlutils.make_clark(human)


ADDRESS_SET = clark("C:calendar-user-address-set")
INBOX_URL = clark("C:schedule-inbox-URL")
OUTBOX_URL = clark("C:schedule-outbox-URL")
USER_TYPE = clark("C:calendar-user-type")
DEFAULT_CALENDAR = clark("C:schedule-default-calendar-URL")
SCHEDULE_TAG = clark("C:schedule-tag")
CALENDAR_TRANSP = clark("C:schedule-calendar-transp")
MAX_ATTENDEES = clark("C:max-attendees-per-instance")
RESOURCETYPE = clark("D:resourcetype")
PRIVILEGES = clark("D:current-user-privilege-set")
DISPLAYNAME = clark("D:displayname")
PROP = clark("D:prop")
PROPSTAT = clark("D:propstat")
STATUS = clark("D:status")
HREF = clark("D:href")
RESPONSE = clark("D:response")

PRINCIPAL_PROPS = (ADDRESS_SET, INBOX_URL, OUTBOX_URL, USER_TYPE, DEFAULT_CALENDAR)
#: every property this module may answer, for a cheap "is there anything to do" test
HANDLED = frozenset((*PRINCIPAL_PROPS, SCHEDULE_TAG, CALENDAR_TRANSP, MAX_ATTENDEES,
                     RESOURCETYPE, PRIVILEGES, DISPLAYNAME))

INBOX_PRIVILEGES = ("C:schedule-deliver", "C:schedule-deliver-invite",
                    "C:schedule-deliver-reply", "C:schedule-query-freebusy")
OUTBOX_PRIVILEGES = ("C:schedule-send", "C:schedule-send-invite", "C:schedule-send-reply",
                     "C:schedule-send-freebusy")

OK = xmlutils.make_response(client.OK)
NOT_FOUND = xmlutils.make_response(client.NOT_FOUND)


@dataclass(frozen=True)
class DavRequest:
    """What a PROPFIND or REPORT asked for; ``props`` None means allprop/propname."""

    base_prefix: str
    user: str
    props: frozenset[str] | None


def requested_props(root: ET.Element | None) -> frozenset[str] | None:
    """The property names of a PROPFIND body or of a REPORT's ``DAV:prop``."""
    if root is None:
        return None
    prop = root.find(PROP)
    if prop is None:
        return None
    return frozenset(child.tag for child in prop)


def wants_us(request: DavRequest) -> bool:
    return request.props is None or bool(request.props & HANDLED)


class SchedulingProperties:
    """Computes the scheduling properties of the resources of one storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.settings = storage.settings
        self.book = storage.book
        self.user_types = dict(storage.settings.user_types)

    def augment(self, multistatus: ET.Element, request: DavRequest) -> None:
        tags_by_collection: dict[str, dict[str, str]] = {}
        for response in multistatus.findall(RESPONSE):
            href = response.find(HREF)
            if href is None or not href.text:
                continue
            path = unquote(href.text)
            if request.base_prefix and path.startswith(request.base_prefix):
                path = path[len(request.base_prefix):]
            parts = [p for p in path.split("/") if p]
            answers = self._answers(parts, request, tags_by_collection)
            if answers:
                _merge(response, answers, frozenset((DISPLAYNAME,)),
                       only_present=request.props is None)

    # -- per resource ---------------------------------------------------------------

    def _answers(self, parts: list[str], request: DavRequest,
                 tags_by_collection: dict[str, dict[str, str]]
                 ) -> dict[str, ET.Element | None]:
        """Property name → element (found) or None (not found, 404)."""
        wanted = request.props
        answers: dict[str, ET.Element | None] = {}

        def asked(tag: str) -> bool:
            # allprop: every property, but only where Radicale answered it (see _merge)
            return wanted is None or tag in wanted

        if len(parts) == 1:
            user = parts[0]
            if user == request.user:
                for tag in PRINCIPAL_PROPS:
                    if asked(tag):
                        answers[tag] = self._principal_prop(tag, user, request.base_prefix)
                if asked(DISPLAYNAME):
                    answers[DISPLAYNAME] = _text(DISPLAYNAME, user)
        elif len(parts) == 2 and parts[1] in (INBOX, OUTBOX):
            inbox = parts[1] == INBOX
            resourcetype = ET.Element(RESOURCETYPE)
            resourcetype.append(ET.Element(clark("D:collection")))
            resourcetype.append(ET.Element(clark("C:schedule-inbox" if inbox
                                                 else "C:schedule-outbox")))
            answers[RESOURCETYPE] = resourcetype
            if asked(PRIVILEGES) and parts[0] == request.user:
                answers[PRIVILEGES] = _privileges(
                    ("D:read", "D:unbind") + INBOX_PRIVILEGES if inbox
                    else ("D:read",) + OUTBOX_PRIVILEGES)
            if inbox and asked(DEFAULT_CALENDAR):
                answers[DEFAULT_CALENDAR] = self._principal_prop(
                    DEFAULT_CALENDAR, parts[0], request.base_prefix)
        elif len(parts) == 2 and (asked(CALENDAR_TRANSP) or asked(MAX_ATTENDEES)):
            calendar = next(iter(self.storage.discover("/%s/%s/" % tuple(parts))), None)
            if asked(CALENDAR_TRANSP):
                stored = (calendar.get_meta("C:schedule-calendar-transp")
                          if isinstance(calendar, BaseCollection) else None)
                transp = ET.Element(CALENDAR_TRANSP)
                transp.append(ET.Element(clark("C:transparent" if str(stored or "").lower()
                                               == "transparent" else "C:opaque")))
                answers[CALENDAR_TRANSP] = transp
            if asked(MAX_ATTENDEES) and isinstance(calendar, BaseCollection):
                # RFC 4791 §5.2.9, on calendar collections (allprop: only where asked)
                answers[MAX_ATTENDEES] = _text(
                    MAX_ATTENDEES, str(self.settings.max_attendees_per_instance)) if (
                    calendar.tag == "VCALENDAR") else None
        elif len(parts) == 3 and asked(SCHEDULE_TAG) and parts[1] not in (INBOX, OUTBOX):
            collection = "%s/%s" % (parts[0], parts[1])
            if collection not in tags_by_collection:
                tags_by_collection[collection] = self.storage.schedule_tags(collection)
            found = tags_by_collection[collection].get(parts[2])
            answers[SCHEDULE_TAG] = _text(SCHEDULE_TAG, found) if found else None
        return answers

    def _principal_prop(self, tag: str, user: str, base_prefix: str) -> ET.Element | None:
        """One RFC 6638 §2.4 / §9.2 property of ``user``'s principal (None: 404)."""
        if tag == ADDRESS_SET:
            element = ET.Element(ADDRESS_SET)
            addresses = self.addresses(user)
            for index, address in enumerate(addresses):
                href = _text(HREF, "mailto:" + address)
                if index == 0:
                    href.set("preferred", "1")
                element.append(href)
            element.append(_text(HREF, xmlutils.make_href(base_prefix, "/%s/" % user)))
            return element
        if tag == INBOX_URL:
            return _href(INBOX_URL, xmlutils.make_href(base_prefix, inbox_path(user)))
        if tag == OUTBOX_URL:
            return _href(OUTBOX_URL, xmlutils.make_href(base_prefix, outbox_path(user)))
        if tag == USER_TYPE:
            return _text(USER_TYPE, self.user_type(user))
        if tag == DEFAULT_CALENDAR:
            path = self.storage.default_calendar_path(user)
            return (_href(DEFAULT_CALENDAR, xmlutils.make_href(base_prefix, "/%s/" % path))
                    if path else None)
        return None

    def user_type(self, user: str) -> str:
        """RFC 6638 §2.4.2: ROOM/RESOURCE for rooms, the admin's ``user_types``, else
        INDIVIDUAL."""
        from radicale_tracks.rooms.directory import RoomDirectory, configured_rooms

        with self.storage.database.connect() as connection:
            room = RoomDirectory.load(
                connection, configured_rooms(self.settings)).by_principal(user)
        if room is not None:
            return room.kind
        return self.user_types.get(user, "INDIVIDUAL")

    def addresses(self, user: str) -> list[str]:
        """The user's addresses, the one made from the domain first (preferred)."""
        if user == self.settings.assistant_principal:
            return [self.book.assistant]
        own = "%s@%s" % (user.lower(), self.book.domain)
        return [own, *sorted(a for a in self.book.addresses_of(user) if a != own)]


def _text(tag: str, value: str) -> ET.Element:
    element = ET.Element(tag)
    element.text = value
    return element


def _href(tag: str, value: str) -> ET.Element:
    element = ET.Element(tag)
    element.append(_text(HREF, value))
    return element


def _privileges(names: Iterable[str]) -> ET.Element:
    element = ET.Element(PRIVILEGES)
    for name in names:
        privilege = ET.Element(clark("D:privilege"))
        privilege.append(ET.Element(clark(name)))
        element.append(privilege)
    return element


def _props(response: ET.Element) -> dict[str, ET.Element]:
    """Status line → the ``DAV:prop`` of that propstat."""
    found: dict[str, ET.Element] = {}
    for propstat in response.findall(PROPSTAT):
        status, prop = propstat.find(STATUS), propstat.find(PROP)
        if status is not None and status.text and prop is not None:
            found[status.text] = prop
    return found


def _merge(response: ET.Element, answers: dict[str, ET.Element | None],
           fallbacks: frozenset[str], only_present: bool) -> None:
    """Put each answer in the 200 (found) or 404 propstat, replacing Radicale's.

    ``fallbacks`` only fill in what Radicale did not find; the resource type — and every
    property of an allprop answer (``only_present``) — is only replaced where Radicale
    answered it.
    """
    props = _props(response)
    for tag, element in answers.items():
        holders = [prop for prop in props.values() if prop.find(tag) is not None]
        if (tag == RESOURCETYPE or only_present) and not holders:
            continue
        if tag in fallbacks and OK in props and props[OK].find(tag) is not None:
            continue
        for prop in holders:
            old = prop.find(tag)
            if old is not None:
                prop.remove(old)
        status = OK if element is not None else NOT_FOUND
        if status not in props:
            props[status] = _new_propstat(response, status)
        props[status].append(element if element is not None else ET.Element(tag))
    for propstat in response.findall(PROPSTAT):
        emptied = propstat.find(PROP)
        if emptied is not None and len(emptied) == 0:
            response.remove(propstat)


def _new_propstat(response: ET.Element, status: str) -> ET.Element:
    propstat = ET.Element(PROPSTAT)
    prop = ET.SubElement(propstat, PROP)
    propstat.append(_text(STATUS, status))
    response.append(propstat)
    return prop
