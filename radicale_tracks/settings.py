"""The plugin's options, typed and validated once at start-up.

Radicale refuses unknown sections but accepts extra options inside a plugin section
(``[storage]`` once its ``type`` names a plugin). We declare ours as a
``PLUGIN_CONFIG_SCHEMA`` and let Radicale's own ``Configuration.copy`` type-check them, so a
bad value stops the server with a message naming section, option and value — the same
message shape admins already know from Radicale. Cross-field checks come after.

Every option has a default that works on one machine with nothing else configured; see
docs/admin.md for the list (kept in step by tests/test_settings.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from radicale import config as radicale_config

from radicale_tracks.errors import ConfigurationError

if TYPE_CHECKING:
    from radicale_tracks.core.zone_limits import ZoneLimits

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
MAIL_TRANSPORTS = ("maildir", "smtp")
SMTP_SECURITY = ("none", "starttls", "tls")
SSL_VERIFY_MODES = ("REQUIRED", "OPTIONAL", "NONE")
_USER = re.compile(r"^[^/\s:]+$")
CALENDAR_USER_TYPES = ("INDIVIDUAL", "GROUP", "RESOURCE", "ROOM", "UNKNOWN")
FREEBUSY_VISIBILITY = ("authenticated", "self")


def _positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be zero or a positive integer")
    return number


def _database_url(value: Any) -> str:
    text = str(value).strip()
    if text:
        from sqlalchemy.engine import make_url

        make_url(text)  # raises ArgumentError naming what is wrong
    return text


def _domain(value: Any) -> str:
    text = str(value).strip().lower()
    if text and not _DOMAIN.match(text):
        raise ValueError("not a domain name")
    return text


def _address(value: Any) -> str:
    text = str(value).strip().lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:"):]
    if text and not _ADDRESS.match(text):
        raise ValueError("not an e-mail address")
    return text


def _mail_transport(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in MAIL_TRANSPORTS:
        raise ValueError("must be one of %s" % ", ".join(MAIL_TRANSPORTS))
    return text


def _base_url(value: Any) -> str:
    text = str(value).strip().rstrip("/")
    if text and not re.match(r"^https?://[^/\s]+(/\S*)?$", text):
        raise ValueError("must be an absolute http(s) URL")
    return text


def _choice(choices: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip()
        text = text.upper() if upper else text.lower()
        if text not in choices:
            raise ValueError("must be one of %s" % ", ".join(choices))
        return text
    return parse


def _port(value: Any) -> int:
    text = str(value).strip()
    if not text:
        return 0
    number = int(text)
    if not 0 < number < 65536:
        raise ValueError("must be a TCP port (1-65535) or empty")
    return number


def _user_name(value: Any) -> str:
    text = str(value).strip()
    if not _USER.match(text):
        raise ValueError("not a Radicale user name")
    return text


def _user_lines(value: Any) -> Iterator[tuple[int, str, str, str]]:
    """(line number, user, ":" or "" when missing, the rest) of each ``user: …`` line
    of a per-user option, blank lines and ``#`` comments left out."""
    for number, line in enumerate(str(value).splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            user, sep, rest = line.partition(":")
            yield number, user, sep, rest


def _address_map(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``user: address, address`` per line → ((user, (address, …)), …)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    seen: dict[str, str] = {}
    for number, user, sep, rest in _user_lines(value):
        if not sep or not user.strip():
            raise ValueError("line %d: expected 'user: address, address'" % number)
        user = _user_name(user)
        addresses = tuple(_address(a) for a in rest.replace(" ", ",").split(",")
                          if a.strip())
        for address in addresses:
            if not address:
                continue
            if seen.get(address, user) != user:
                raise ValueError("line %d: %s is already an address of %s"
                                 % (number, address, seen[address]))
            seen[address] = user
        found.append((user, addresses))
    return tuple(found)


def _user_types(value: Any) -> tuple[tuple[str, str], ...]:
    """``user: TYPE`` per line (RFC 6638 §2.4.2 calendar-user-type) → ((user, TYPE), …)."""
    found: list[tuple[str, str]] = []
    for number, user, sep, kind in _user_lines(value):
        kind = kind.strip().upper()
        if not sep or kind not in CALENDAR_USER_TYPES:
            raise ValueError("line %d: expected 'user: %s'" % (
                number, "|".join(CALENDAR_USER_TYPES)))
        found.append((_user_name(user), kind))
    return tuple(found)


#: the longest display name taken (a CN, a mail's greeting)
MAX_DISPLAY_NAME = 100


def _display_names(value: Any) -> tuple[tuple[str, str], ...]:
    """``user: Name Surname`` per line → ((user, name), …): how people are named to
    others (a booking's mails, CN on the events the web writes, the principal's
    displayname)."""
    found: list[tuple[str, str]] = []
    for number, user, sep, name in _user_lines(value):
        name = " ".join(name.split())
        if not sep or not name:
            raise ValueError("line %d: expected 'user: Name Surname'" % number)
        if len(name) > MAX_DISPLAY_NAME or any(ord(c) < 32 or c in '"\\' for c in name):
            raise ValueError("line %d: a name of at most %d characters without quotes, "
                             "backslashes or control characters" % (number, MAX_DISPLAY_NAME))
        found.append((_user_name(user), name))
    return tuple(found)


def _folder(value: Any) -> str:
    text = str(value).strip()
    if text and not os.path.isdir(os.path.expanduser(text)):
        raise ValueError("not an existing folder")
    return os.path.abspath(os.path.expanduser(text)) if text else ""


def _join_template(value: Any) -> str:
    text = str(value).strip()
    if text:
        try:
            text.format(track="t", uid="u")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError("placeholders are {track} and {uid}: %s" % e) from e
        if not re.match(r"^https?://\S+$", text.format(track="t", uid="u")):
            raise ValueError("must be an absolute http(s) URL template")
    return text


def _allowed_senders(value: Any) -> tuple[str, ...]:
    """Domains, addresses, ``*.domain`` or ``*``, separated by commas or spaces."""
    from radicale_tracks.core.mail_trust import allowed_entry

    return tuple(allowed_entry(entry) for entry in re.split(r"[\s,]+", str(value))
                 if entry.strip())


def _user_names(value: Any) -> tuple[str, ...]:
    found = tuple(entry.strip() for entry in re.split(r"[\s,]+", str(value)) if entry.strip())
    for entry in found:
        if entry != "*" and not _USER.match(entry):
            raise ValueError("%r is not a user name" % entry)
    return found


_LEAD = re.compile(r"^(\d{1,4})\s*([mhd])$")


def _lead_times(value: Any) -> tuple[int, ...]:
    """``24h 1h`` → (86400, 3600): how long before a booked meeting reminders go."""
    found: list[int] = []
    for entry in re.split(r"[\s,]+", str(value).strip()):
        if not entry:
            continue
        match = _LEAD.match(entry.lower())
        if match is None:
            raise ValueError("%r is not a lead time such as 24h, 90m or 2d" % entry)
        seconds = int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]
        if not 5 * 60 <= seconds <= 30 * 86400:
            raise ValueError("%r: a reminder goes 5 minutes to 30 days before" % entry)
        found.append(seconds)
    if len(found) > 5:
        raise ValueError("at most 5 reminder lead times")
    return tuple(sorted(set(found), reverse=True))


def _reminder_audience(value: Any) -> tuple[str, ...]:
    found = tuple(e.strip().lower() for e in re.split(r"[\s,]+", str(value)) if e.strip())
    for entry in found:
        if entry not in ("customer", "team"):
            raise ValueError("%r: reminders go to customer and/or team" % entry)
    return found


def _authserv_ids(value: Any) -> tuple[str, ...]:
    found = tuple(entry.strip().lower() for entry in re.split(r"[\s,]+", str(value))
                  if entry.strip())
    for entry in found:
        if not _DOMAIN.match(entry):
            raise ValueError("%r is not an authserv-id (a host name, as in the MTA's "
                             "Authentication-Results)" % entry)
    return found


def _option(value: str, type_: Callable[[Any], Any], help_: str) -> dict[str, Any]:
    return {"value": value, "type": type_, "help": help_}


#: Options the plugin adds to Radicale's ``[storage]`` section.
STORAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "database_url": _option(
        "", _database_url,
        "SQLAlchemy URL of the index and scheduling database; empty means a SQLite file "
        "tracks.sqlite3 inside filesystem_folder"),
    "database_pool_size": _option(
        "0", _non_negative_int,
        "database connections a server process keeps open; 0 means 2 × [server] "
        "max_connections + 4 (a write request holds two: its lock hold's reader, which "
        "carries the calendar locks, and its write transaction); more in use at once "
        "are opened and closed again"),
    "item_store": _option(
        "files", _choice(("files", "database")),
        "where calendar data lives: files (Radicale's .ics files under "
        "filesystem_folder plus the index) or database (items, properties, sync "
        "history and everything else in database_url: any number of nodes can share a "
        "PostgreSQL database)"),
    "index_horizon_days": _option(
        "730", _positive_int,
        "how far after now recurring events are expanded into the index"),
    "index_past_days": _option(
        "366", _non_negative_int,
        "how far before now recurring events are expanded into the index"),
    "index_max_occurrences": _option(
        "5000", _positive_int,
        "hard cap of occurrences visited per item while indexing; beyond it queries "
        "expand the item on demand"),
    "index_rescan_interval": _option(
        "5", _non_negative_int,
        "seconds between full scans of a collection for files edited in place behind "
        "Radicale's back (added or removed files and the files a REPORT returns are "
        "checked every time; people's busy time checks the folders only); 0 scans on "
        "every query"),
    "history_clean_interval": _option(
        "3600", _non_negative_int,
        "seconds between clean-ups of expired sync history per collection "
        "(Radicale cleans on every write; 0 restores that)"),
    "domain": _option(
        "localhost", _domain, "mail domain of this server's users and of the assistant"),
    "assistant_address": _option(
        "", _address, "the assistant's address; empty means assistant@<domain>"),
    "base_url": _option(
        "", _base_url,
        "public URL of this server used in mails; empty means http(s)://<first [server] "
        "host> (required with item_store = database on PostgreSQL: every node must "
        "write the same address)"),
    "mail_transport": _option(
        "maildir", _mail_transport, "where outgoing mail goes: maildir or smtp"),
    "maildir": _option(
        "", str, "Maildir for outgoing mail; empty means maildir inside filesystem_folder"),
    "addresses": _option(
        "", _address_map,
        "extra addresses of users, one 'user: address, address' per line (every user "
        "also has <user>@<domain>)"),
    "assistant_principal": _option(
        "assistant", _user_name,
        "the Radicale principal that owns the track calendars (/<name>/<track>/)"),
    "join_url_template": _option(
        "", _join_template,
        "conference link written into meetings, e.g. https://meet.example.org/{track}; "
        "placeholders {track} (the track's id) and {uid}; empty writes none"),
    "mail_templates": _option(
        "", _folder,
        "folder with Jinja2 templates that override the built-in mails (same file names)"),
    "from_email": _option(
        "", _address, "sender address of mails; empty means the assistant address"),
    "smtp_server": _option("localhost", str, "SMTP server for mail_transport = smtp"),
    "smtp_port": _option(
        "", _port, "SMTP port; empty means 465 for tls, 587 for starttls, else 25"),
    "smtp_security": _option(
        "none", _choice(SMTP_SECURITY), "none, starttls or tls (as Radicale's [hook])"),
    "smtp_ssl_verify_mode": _option(
        "REQUIRED", _choice(SSL_VERIFY_MODES, upper=True),
        "certificate check for starttls/tls: REQUIRED, OPTIONAL or NONE"),
    "smtp_username": _option("", str, "SMTP user name; empty sends without AUTH"),
    "smtp_password": _option("", str, "SMTP password"),
    "outbox_sender": _option(
        "True", bool,
        "send queued mail from a background thread of the server; False leaves it to "
        "'radicale-tracks worker'"),
    "outbox_poll_interval": _option(
        "10", _positive_int, "seconds between outbox checks of the sender (new mail "
        "written by the same process wakes it at once)"),
    "outbox_retry_base": _option(
        "60", _positive_int,
        "seconds before the first retry after a temporary failure; doubled each time, "
        "at most one hour"),
    "outbox_give_up_after": _option(
        "259200", _positive_int,
        "seconds after which a mail that still fails temporarily is given up"),
    "scheduling": _option(
        "True", bool,
        "RFC 6638 implicit scheduling: invitations, replies and cancellations between "
        "users, and iMIP mail to everyone else"),
    "scheduling_max_attendees": _option(
        "200", _positive_int,
        "most attendees one scheduling object is delivered to (the rest get "
        "SCHEDULE-STATUS 5.3); also the most attendees of one free-busy request"),
    "max_attendees_per_instance": _option(
        "1000", _positive_int,
        "most ATTENDEE properties of one instance of a calendar object (RFC 4791 "
        "max-attendees-per-instance): a PUT with more is refused (403), and so is mail "
        "with more (together with inbound_max_attendees)"),
    "freebusy_visibility": _option(
        "authenticated", _choice(FREEBUSY_VISIBILITY),
        "whose free-busy a user may ask for through the outbox: 'authenticated' (every "
        "user of this server) or 'self'"),
    "freebusy_max_days": _option(
        "366", _positive_int, "longest time range of one free-busy request, in days"),
    "timezone_max_transitions": _option(
        "10000", _positive_int,
        "most changes of offset one VTIMEZONE may describe up to the year 2100 (its "
        "yearly rules times their years, lone components, RDATEs): what a reader walks "
        "to place a date; a zone beyond it is replaced from zoneinfo when its TZID is "
        "known, else refused"),
    "timezone_max_changes_per_year": _option(
        "24", _positive_int,
        "most changes of offset a VTIMEZONE's rules may make in one year (rules must be "
        "FREQ=YEARLY); beyond it the zone is replaced or refused as above"),
    "availability_max_iterations": _option(
        "20000", _positive_int,
        "most rule periods and instances one AVAILABLE of a calendar-availability may "
        "take per expansion (from its DTSTART or the window, to the window's end); "
        "beyond it the person's availability is not used and a reason is logged"),
    "availability_max_bytes": _option(
        "65536", _positive_int,
        "largest calendar-availability (UTF-8 bytes) a user may set by PROPPATCH or "
        "'availability set': refused before it is parsed (403 valid-calendar-data); a "
        "larger one stored earlier is not used (default hours, a reason logged). It is "
        "read back on every slot search and free-busy answer that includes the user"),
    "freebusy_max_expansion": _option(
        "50000", _positive_int,
        "most occurrences of one event walked (from its start) to find its busy time "
        "where the index did not expand it; an event needing more — or with more than "
        "[reporting] max_freebusy_occurrence in the window — counts as busy over the part "
        "of the window it spans, and slot searches and free-busy answers say so (a "
        "free-busy-query REPORT answers 400, as Radicale does)"),
    "inbox_max_items": _option(
        "500", _positive_int,
        "scheduling messages kept per inbox; delivering more removes the oldest"),
    "display_names": _option(
        "", _display_names,
        "how users are named to others, one 'user: Name Surname' per line (a booking's "
        "mails, the events the web pages write, the principal's displayname); "
        "everyone else by their user name"),
    "user_types": _option(
        "", _user_types,
        "calendar-user-type of principals that are not people, one 'user: ROOM' "
        "(or RESOURCE, GROUP) per line; everyone else is INDIVIDUAL"),
    "rooms": _option(
        "", str,
        "rooms and resources, one per line: 'address: name=…; capacity=…; pools=a,b; "
        "policy=always|if-free|manual; max_conflicts=…; max_conflict_percent=…; "
        "max_duration=minutes; window_days=…; priority=…; kind=ROOM|RESOURCE; "
        "delegates=user,user' (docs/admin.md); more with 'radicale-tracks rooms add'"),
    "default_working_hours": _option(
        "Mon-Fri 09:00-17:00", str,
        "working hours of users who set none (calendar-availability), in their zone"),
    "default_time_zone": _option(
        "UTC", str,
        "time zone of users whose own is unknown: IANA (Europe/Berlin) or Windows name"),
    "inbound_allowed_senders": _option(
        "", _allowed_senders,
        "who may send invitations and answers by mail: domains (example.com), "
        "subdomains (*.example.com), addresses (ann@example.com) or * for anyone, "
        "separated by commas; empty means the server's own domain"),
    "inbound_trusted_authserv_ids": _option(
        "", _authserv_ids,
        "authserv-ids of your MTA's Authentication-Results headers: inbound mail is "
        "believed when one shows dkim=pass or dmarc=pass for its From domain; empty: "
        "nothing is authenticated, so nothing is believed (see the next option)"),
    "inbound_trust_unauthenticated_senders": _option(
        "False", bool,
        "without inbound_trusted_authserv_ids, believe the envelope sender and From of "
        "inbound mail as the MTA hands them over (anyone can forge them: only for an MTA "
        "that refuses forged mail itself, or a demo); False keeps such mail in the "
        "quarantine"),
    "inbound_max_message_bytes": _option(
        "10485760", _positive_int, "largest inbound mail taken, in bytes"),
    "inbound_max_components": _option(
        "100", _positive_int, "most calendar components in one inbound message"),
    "inbound_max_attendees": _option(
        "500", _positive_int, "most attendees of one component of an inbound message"),
    "inbound_max_instances": _option(
        "1000", _positive_int,
        "most recurrence instances one inbound message may name (overrides, RDATE, "
        "EXDATE, RRULE COUNT)"),
    "web_booking_agents": _option(
        "", _user_names,
        "users who may book meetings for customers into other team members' calendars "
        "from the web pages (/.web), separated by commas, or * for every user; others "
        "book into their own calendar or where the rights let them write"),
    "booking_reminders": _option(
        "24h 1h", _lead_times,
        "how long before a meeting booked for a customer reminders are mailed (e.g. "
        "24h 1h; m, h or d; empty: none)"),
    "booking_reminder_recipients": _option(
        "customer team", _reminder_audience,
        "who gets booking reminders: customer, team (the holder and team members), or "
        "both"),
    "inbound_max_attachment_bytes": _option(
        "1048576", _positive_int,
        "largest attachment of a mail shared into a track (larger ones are named, not "
        "kept)"),
    "inbound_max_shared_bytes": _option(
        "5242880", _positive_int, "most attachment bytes kept from one shared mail"),
    "inbound_max_calendar_bytes": _option(
        "1048576", _positive_int,
        "largest calendar part (UTF-8 bytes) of an inbound mail; storing it holds the "
        "storage write lock, so it is kept well below [server] max_resource_size, which "
        "applies too"),
}

#: Options the plugin adds to ``[rights]`` (read only with ``type = radicale_tracks.rights``).
RIGHTS_OPTIONS: dict[str, dict[str, Any]] = {
    "base": _option(
        "owner_only", str,
        "the Radicale rights type applied to everything but track calendars "
        "(authenticated, owner_write, owner_only, from_file, or a plugin module)"),
}

PLUGIN_CONFIG_SCHEMA: dict[str, dict[str, dict[str, Any]]] = {
    "storage": STORAGE_OPTIONS, "rights": RIGHTS_OPTIONS}

DEFAULT_DATABASE_FILE = "tracks.sqlite3"
DEFAULT_MAILDIR = "maildir"


@dataclass(frozen=True)
class Settings:
    """The effective plugin settings, with every default resolved."""

    filesystem_folder: str
    database_url: str
    database_pool_size: int
    item_store: str
    index_horizon_days: int
    index_past_days: int
    index_max_occurrences: int
    index_rescan_interval: int
    history_clean_interval: int
    domain: str
    assistant_address: str
    base_url: str
    mail_transport: str
    maildir: str
    addresses: tuple[tuple[str, tuple[str, ...]], ...]
    assistant_principal: str
    join_url_template: str
    mail_templates: str
    from_email: str
    smtp_server: str
    smtp_port: int
    smtp_security: str
    smtp_ssl_verify_mode: str
    smtp_username: str
    smtp_password: str
    outbox_sender: bool
    outbox_poll_interval: int
    outbox_retry_base: int
    outbox_give_up_after: int
    scheduling: bool
    scheduling_max_attendees: int
    max_attendees_per_instance: int
    freebusy_visibility: str
    freebusy_max_days: int
    timezone_max_transitions: int
    timezone_max_changes_per_year: int
    availability_max_iterations: int
    availability_max_bytes: int
    freebusy_max_expansion: int
    inbox_max_items: int
    user_types: tuple[tuple[str, str], ...]
    #: the ``rooms`` option's text; ``rooms.directory.configured_rooms`` parses it
    rooms: str
    default_working_hours: str
    default_time_zone: str
    inbound_allowed_senders: tuple[str, ...]
    inbound_trusted_authserv_ids: tuple[str, ...]
    inbound_trust_unauthenticated_senders: bool
    inbound_max_message_bytes: int
    inbound_max_components: int
    inbound_max_attendees: int
    inbound_max_instances: int
    inbound_max_attachment_bytes: int
    inbound_max_shared_bytes: int
    inbound_max_calendar_bytes: int
    web_booking_agents: tuple[str, ...]
    rights_base: str
    booking_reminders: tuple[int, ...] = (86400, 3600)
    booking_reminder_recipients: tuple[str, ...] = ("customer", "team")
    display_names: tuple[tuple[str, str], ...] = ()

    def display_name(self, user: str) -> str:
        """How ``user`` is named to others: ``display_names``, else the user name."""
        return dict(self.display_names).get(user, user)

    @classmethod
    def from_configuration(cls, configuration: radicale_config.Configuration) -> Settings:
        """Type-check our options with Radicale's machinery and resolve the defaults."""
        try:
            typed = configuration.copy(PLUGIN_CONFIG_SCHEMA)
        except (RuntimeError, ValueError) as e:
            raise ConfigurationError(str(e)) from e

        def get(option: str) -> Any:
            return typed.get("storage", option)

        folder = os.path.abspath(typed.get("storage", "filesystem_folder"))
        database_url = get("database_url") or "sqlite:///" + os.path.join(
            folder, DEFAULT_DATABASE_FILE)
        domain = get("domain")
        if not domain:
            raise ConfigurationError("Invalid value for option 'domain' in section "
                                     "'storage': '' (must not be empty)")
        assistant = get("assistant_address") or "assistant@" + domain
        if "+" in assistant.split("@")[0]:
            raise ConfigurationError(
                "Invalid value for option 'assistant_address' in section 'storage': %r "
                "(must not contain '+': track addresses are assistant+<token>@domain)"
                % assistant)
        if get("inbound_trust_unauthenticated_senders") and get(
                "inbound_trusted_authserv_ids"):
            raise ConfigurationError(
                "Invalid value for option 'inbound_trust_unauthenticated_senders' in "
                "section 'storage': True (inbound_trusted_authserv_ids is set, so mail is "
                "authenticated by your MTA; believing unauthenticated senders as well "
                "would undo that — remove one of the two)")
        maildir = get("maildir") or os.path.join(folder, DEFAULT_MAILDIR)
        if not get("base_url") and get("item_store") == "database" and _is_postgresql(
                database_url):
            raise ConfigurationError(
                "Invalid value for option 'base_url' in section 'storage': '' (item_store "
                "= database on PostgreSQL: every node must put the same public address "
                "in mails, not the address of its own [server] hosts)")
        base_url = get("base_url") or _default_base_url(typed)
        return cls(
            filesystem_folder=folder,
            database_url=database_url,
            database_pool_size=get("database_pool_size") or 2 * typed.get(
                "server", "max_connections") + 4,
            item_store=get("item_store"),
            index_horizon_days=get("index_horizon_days"),
            index_past_days=get("index_past_days"),
            index_max_occurrences=get("index_max_occurrences"),
            index_rescan_interval=get("index_rescan_interval"),
            history_clean_interval=get("history_clean_interval"),
            domain=domain,
            assistant_address=assistant,
            base_url=base_url,
            mail_transport=get("mail_transport"),
            maildir=os.path.abspath(maildir),
            addresses=get("addresses"),
            assistant_principal=get("assistant_principal"),
            join_url_template=get("join_url_template"),
            mail_templates=get("mail_templates"),
            from_email=get("from_email") or assistant,
            smtp_server=get("smtp_server"),
            smtp_port=get("smtp_port") or {"tls": 465, "starttls": 587}.get(
                get("smtp_security"), 25),
            smtp_security=get("smtp_security"),
            smtp_ssl_verify_mode=get("smtp_ssl_verify_mode"),
            smtp_username=get("smtp_username"),
            smtp_password=get("smtp_password"),
            outbox_sender=get("outbox_sender"),
            outbox_poll_interval=get("outbox_poll_interval"),
            outbox_retry_base=get("outbox_retry_base"),
            outbox_give_up_after=get("outbox_give_up_after"),
            scheduling=get("scheduling"),
            scheduling_max_attendees=get("scheduling_max_attendees"),
            max_attendees_per_instance=get("max_attendees_per_instance"),
            freebusy_visibility=get("freebusy_visibility"),
            freebusy_max_days=get("freebusy_max_days"),
            timezone_max_transitions=get("timezone_max_transitions"),
            timezone_max_changes_per_year=get("timezone_max_changes_per_year"),
            availability_max_iterations=get("availability_max_iterations"),
            availability_max_bytes=get("availability_max_bytes"),
            freebusy_max_expansion=get("freebusy_max_expansion"),
            inbox_max_items=get("inbox_max_items"),
            user_types=get("user_types"),
            rooms=get("rooms"),
            default_working_hours=_working_hours(get("default_working_hours"),
                                                 get("default_time_zone")),
            default_time_zone=_time_zone(get("default_time_zone")),
            inbound_allowed_senders=get("inbound_allowed_senders") or (domain,),
            inbound_trusted_authserv_ids=get("inbound_trusted_authserv_ids"),
            inbound_trust_unauthenticated_senders=get(
                "inbound_trust_unauthenticated_senders"),
            inbound_max_message_bytes=get("inbound_max_message_bytes"),
            inbound_max_components=get("inbound_max_components"),
            inbound_max_attendees=get("inbound_max_attendees"),
            inbound_max_instances=get("inbound_max_instances"),
            inbound_max_attachment_bytes=get("inbound_max_attachment_bytes"),
            inbound_max_shared_bytes=get("inbound_max_shared_bytes"),
            inbound_max_calendar_bytes=get("inbound_max_calendar_bytes"),
            web_booking_agents=get("web_booking_agents"),
            booking_reminders=get("booking_reminders"),
            booking_reminder_recipients=get("booking_reminder_recipients"),
            display_names=get("display_names"),
            rights_base=typed.get("rights", "base").strip() or "owner_only",
        )

    def public_dict(self) -> dict[str, Any]:
        """Settings as shown to admins: the database password is never printed."""
        from sqlalchemy.engine import make_url

        shown = asdict(self)
        shown["database_url"] = make_url(self.database_url).render_as_string(
            hide_password=True)
        if self.smtp_password:
            shown["smtp_password"] = "***"
        shown["addresses"] = {user: list(found) for user, found in self.addresses}
        shown["user_types"] = dict(self.user_types)
        shown["display_names"] = dict(self.display_names)
        return shown

    def zone_limits(self) -> ZoneLimits:
        """The VTIMEZONE limits every path that stores iCalendar applies."""
        from radicale_tracks.core.zone_limits import ZoneLimits

        return ZoneLimits(max_transitions=self.timezone_max_transitions,
                          max_changes_per_year=self.timezone_max_changes_per_year)


def _time_zone(text: str) -> str:
    from radicale_tracks.core.timezones import iana_zone

    zone = iana_zone(text.strip()) if text.strip() else "UTC"
    if zone is None:
        raise ConfigurationError("Invalid value for option 'default_time_zone' in section "
                                 "'storage': %r is no known time zone" % text)
    return zone


def _working_hours(text: str, zone: str) -> str:
    from radicale_tracks.core.availability import AvailabilityError
    from radicale_tracks.core.working_hours import parse_working_hours

    try:
        parse_working_hours(text, _time_zone(zone))
    except AvailabilityError as e:
        raise ConfigurationError("Invalid value for option 'default_working_hours' in "
                                 "section 'storage': %s" % e) from None
    return text.strip()


def _is_postgresql(database_url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(database_url).get_backend_name() == "postgresql"


def _default_base_url(configuration: radicale_config.Configuration) -> str:
    hosts = configuration.get("server", "hosts")
    host, port = hosts[0] if hosts else ("localhost", 5232)
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    if ":" in host:
        host = "[%s]" % host
    scheme = "https" if configuration.get("server", "ssl") else "http"
    return "%s://%s:%d" % (scheme, host, port)


def load_settings(config_path: str | None) -> tuple[radicale_config.Configuration, Settings]:
    """Load a Radicale config file (or Radicale's defaults) and our settings from it."""
    paths = [(config_path, False)] if config_path else []
    try:
        configuration = radicale_config.load(paths)
    except (RuntimeError, ValueError) as e:
        raise ConfigurationError(str(e)) from e
    return configuration, Settings.from_configuration(configuration)
