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
from typing import TYPE_CHECKING, ClassVar
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


class Resource:
    """One href of a multistatus, as the scheduling properties see it: which kind of
    resource it is for this request (``KIND_*``), and its calendar, looked up once and
    only when a property needs it."""

    def __init__(self, parts: list[str], request: DavRequest, storage: Storage) -> None:
        self.parts = parts
        self.request = request
        self.kind = _kind(parts, request)
        self.storage = storage
        self._calendar: BaseCollection | None | bool = False   # False: not looked up

    @property
    def owner(self) -> str:
        return self.parts[0]

    @property
    def mine(self) -> bool:
        """The requester's own resource (only they see its privileges)."""
        return self.parts[0] == self.request.user

    def calendar(self) -> BaseCollection | None:
        """The collection at this two-segment path (None when there is none)."""
        if self._calendar is False:
            found = next(iter(self.storage.discover("/%s/%s/" % tuple(self.parts))), None)
            self._calendar = found if isinstance(found, BaseCollection) else None
        return self._calendar if isinstance(self._calendar, BaseCollection) else None


KIND_PRINCIPAL = "principal"   # the requester's own principal (§2.4, §9.2)
KIND_INBOX = "inbox"           # a schedule inbox (§2.2)
KIND_OUTBOX = "outbox"         # a schedule outbox (§2.1)
KIND_CALENDAR = "calendar"     # any other collection (§9.1; RFC 4791 §5.2.9)
KIND_OBJECT = "object"         # an object outside the boxes (§3.2.10)


def _kind(parts: list[str], request: DavRequest) -> str:
    """The kind of resource ``parts`` name; "" where no scheduling property applies
    (another user's principal, a box's messages, the root)."""
    if len(parts) == 1:
        return KIND_PRINCIPAL if parts[0] == request.user else ""
    if len(parts) == 2:
        return {INBOX: KIND_INBOX, OUTBOX: KIND_OUTBOX}.get(parts[1], KIND_CALENDAR)
    if len(parts) == 3 and parts[1] not in (INBOX, OUTBOX):
        return KIND_OBJECT
    return ""


class Property:
    """One WebDAV property this server answers on some kinds of resource (the
    :data:`PROPERTIES` table says which). Its value is an element (200) or None (404)."""

    #: the property's Clark name
    tag: ClassVar[str]
    #: answered even when not asked for (the resource type of the boxes)
    always: ClassVar[bool] = False

    def applies(self, resource: Resource, source: SchedulingProperties) -> bool:
        """Whether this resource has the property for this requester at all (when not,
        Radicale's answer stands)."""
        return True

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        raise NotImplementedError


class CalendarUserAddressSet(Property):
    """RFC 6638 §2.4.1: the principal's ``mailto:`` addresses, the preferred first, and
    the principal URL."""

    tag = ADDRESS_SET

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        element = ET.Element(ADDRESS_SET)
        for index, address in enumerate(source.addresses(resource.owner)):
            href = _text(HREF, "mailto:" + address)
            if index == 0:
                href.set("preferred", "1")
            element.append(href)
        element.append(_text(HREF, xmlutils.make_href(resource.request.base_prefix,
                                                      "/%s/" % resource.owner)))
        return element


class ScheduleInboxURL(Property):
    """RFC 6638 §2.2.1."""

    tag = INBOX_URL

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        return _href(INBOX_URL, xmlutils.make_href(resource.request.base_prefix,
                                                   inbox_path(resource.owner)))


class ScheduleOutboxURL(Property):
    """RFC 6638 §2.1.1."""

    tag = OUTBOX_URL

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        return _href(OUTBOX_URL, xmlutils.make_href(resource.request.base_prefix,
                                                    outbox_path(resource.owner)))


class CalendarUserType(Property):
    """RFC 6638 §2.4.2."""

    tag = USER_TYPE

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        return _text(USER_TYPE, source.user_type(resource.owner))


class ScheduleDefaultCalendarURL(Property):
    """RFC 6638 §9.2, on the principal and on the inbox: 404 while the user has no
    calendar."""

    tag = DEFAULT_CALENDAR

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        path = source.storage.default_calendar_path(resource.owner)
        return (_href(DEFAULT_CALENDAR, xmlutils.make_href(
            resource.request.base_prefix, "/%s/" % path)) if path else None)


class PrincipalDisplayName(Property):
    """The user's name of ``display_names`` (else the user name), where Radicale found
    no display name of the principal (a fallback: see :func:`_merge`)."""

    tag = DISPLAYNAME

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        return _text(DISPLAYNAME, source.settings.display_name(resource.owner))


class BoxResourceType(Property):
    """RFC 6638 §2.1, §2.2: a box is a collection and a ``schedule-inbox`` or
    ``schedule-outbox`` — always, where Radicale answered the resource type."""

    tag = RESOURCETYPE
    always = True

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        element = ET.Element(RESOURCETYPE)
        element.append(ET.Element(clark("D:collection")))
        element.append(ET.Element(clark("C:schedule-inbox" if resource.kind == KIND_INBOX
                                        else "C:schedule-outbox")))
        return element


class BoxPrivileges(Property):
    """RFC 6638 §6: the scheduling privileges of a box, shown to its owner."""

    tag = PRIVILEGES

    def applies(self, resource: Resource, source: SchedulingProperties) -> bool:
        return resource.mine

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        return _privileges(("D:read", "D:unbind") + INBOX_PRIVILEGES
                           if resource.kind == KIND_INBOX
                           else ("D:read",) + OUTBOX_PRIVILEGES)


class ScheduleCalendarTransp(Property):
    """RFC 6638 §9.1: ``transparent`` where stored so, else ``opaque``."""

    tag = CALENDAR_TRANSP

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        calendar = resource.calendar()
        stored = (calendar.get_meta("C:schedule-calendar-transp")
                  if calendar is not None else None)
        element = ET.Element(CALENDAR_TRANSP)
        element.append(ET.Element(clark("C:transparent" if str(stored or "").lower()
                                        == "transparent" else "C:opaque")))
        return element


class MaxAttendeesPerInstance(Property):
    """RFC 4791 §5.2.9, on calendar collections (404 on other collections)."""

    tag = MAX_ATTENDEES

    def applies(self, resource: Resource, source: SchedulingProperties) -> bool:
        return resource.calendar() is not None

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        calendar = resource.calendar()
        if calendar is None or calendar.tag != "VCALENDAR":
            return None
        return _text(MAX_ATTENDEES, str(source.settings.max_attendees_per_instance))


class ScheduleTag(Property):
    """RFC 6638 §3.2.10: the tag of a scheduling object (404 for other objects)."""

    tag = SCHEDULE_TAG

    def value(self, resource: Resource, source: SchedulingProperties) -> ET.Element | None:
        found = source.schedule_tags("%s/%s" % (resource.parts[0], resource.parts[1])
                                     ).get(resource.parts[2])
        return _text(SCHEDULE_TAG, found) if found else None


#: the scheduling properties of each kind of resource, in the order they are answered
PROPERTIES: dict[str, tuple[Property, ...]] = {
    KIND_PRINCIPAL: (CalendarUserAddressSet(), ScheduleInboxURL(), ScheduleOutboxURL(),
                     CalendarUserType(), ScheduleDefaultCalendarURL(),
                     PrincipalDisplayName()),
    KIND_INBOX: (BoxResourceType(), BoxPrivileges(), ScheduleDefaultCalendarURL()),
    KIND_OUTBOX: (BoxResourceType(), BoxPrivileges()),
    KIND_CALENDAR: (ScheduleCalendarTransp(), MaxAttendeesPerInstance()),
    KIND_OBJECT: (ScheduleTag(),),
}

#: every property this module may answer, for a cheap "is there anything to do" test
HANDLED = frozenset(prop.tag for props in PROPERTIES.values() for prop in props)


class SchedulingProperties:
    """Answers the scheduling properties of the resources of one storage, for one
    multistatus (the Schedule-Tags of a collection are read once for all its objects)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.settings = storage.settings
        self.book = storage.book
        self.user_types = dict(storage.settings.user_types)
        self._tags_by_collection: dict[str, dict[str, str]] = {}

    def augment(self, multistatus: ET.Element, request: DavRequest) -> None:
        for response in multistatus.findall(RESPONSE):
            href = response.find(HREF)
            if href is None or not href.text:
                continue
            path = unquote(href.text)
            if request.base_prefix and path.startswith(request.base_prefix):
                path = path[len(request.base_prefix):]
            answers = self._answers(Resource([p for p in path.split("/") if p], request,
                                             self.storage))
            if answers:
                _merge(response, answers, frozenset((DISPLAYNAME,)),
                       only_present=request.props is None)

    def _answers(self, resource: Resource) -> dict[str, ET.Element | None]:
        """Property name → element (found) or None (not found, 404): each property of
        the table for this kind of resource that was asked for (allprop: every one, but
        only where Radicale answered it, see :func:`_merge`) and applies here."""
        wanted = resource.request.props
        answers: dict[str, ET.Element | None] = {}
        for prop in PROPERTIES.get(resource.kind, ()):
            if not (prop.always or wanted is None or prop.tag in wanted):
                continue
            if prop.applies(resource, self):
                answers[prop.tag] = prop.value(resource, self)
        return answers

    def schedule_tags(self, collection: str) -> dict[str, str]:
        """Object name → Schedule-Tag of the scheduling objects of ``collection``."""
        if collection not in self._tags_by_collection:
            self._tags_by_collection[collection] = self.storage.schedule_tags(collection)
        return self._tags_by_collection[collection]

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
