"""Time-zone names from Windows and Exchange turned into IANA zones (RFC 5545 §3.2.19, §3.6.5).

Outlook and Exchange name their zones the Windows way: by the registry key
(``W. Europe Standard Time``), by the display name with or without its offset
(``(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna``, the older
``(GMT-05.00) Eastern Time (US & Canada)`` of CDO) and sometimes quoted. Other clients
write "globally unique" TZIDs such as ``/mozilla.org/20050126_1/Europe/Berlin``. What we
store should name IANA zones, which every CalDAV client knows, so this module owns:

* :func:`iana_zone`: the IANA name for a TZID, or None. Registry keys go through
  icalendar's Windows→Olson table (CLDR ``windowsZones.xml``, territory ``001``); display
  names through our own table below; CLDR's frozen identifiers (``Asia/Calcutta``) are
  given their current names (``Asia/Kolkata``) when the installed tzdata has them;
* :func:`normalize_timezones`: a copy of a calendar whose mappable TZIDs are rewritten,
  wall-clock times kept, with VTIMEZONEs generated from zoneinfo for the new names.

A TZID that cannot be mapped (``Customized Time Zone``, Lotus Notes'
``GMT +0100 (Standard) / GMT +0200 (Daylight)``) keeps its own VTIMEZONE, which still
gives the right instants.

Pure: reads zoneinfo data, nothing else; no clock. Inputs are never mutated.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from datetime import date, datetime, time, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from icalendar import Calendar, Component, Timezone, vDDDLists, vDDDTypes
from icalendar.parser import Parameters
from icalendar.timezone.tzid import is_utc
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from radicale_tracks.core.itip import as_list
from radicale_tracks.core.zone_rules import yearly_vtimezone

#: Components whose properties never carry a TZID parameter of the calendar's zones.
_TIMEZONE_COMPONENTS = ("VTIMEZONE", "STANDARD", "DAYLIGHT")

#: Generated VTIMEZONEs cover the calendar's dates, clamped to these years.
_FIRST_YEAR, _LAST_YEAR = 1900, 2100

#: Files in the zoneinfo directory that are not zones (``localtime`` is the host's).
_NOT_ZONES = frozenset({"localtime", "posixrules"})

#: CLDR keeps zone identifiers stable, so its table still says ``Asia/Calcutta``;
#: tzdata renamed them (the old names stay as links). We store the current name.
_CURRENT_NAMES = {
    "Africa/Asmera": "Africa/Asmara",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Godthab": "America/Nuuk",
    "America/Indianapolis": "America/Indiana/Indianapolis",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "Europe/Kiev": "Europe/Kyiv",
    "Pacific/Enderbury": "Pacific/Kanton",
    "Pacific/Ponape": "Pacific/Pohnpei",
    "Pacific/Truk": "Pacific/Chuuk",
}

#: Registry keys of Windows versions before CLDR's table (Windows CE/XP era) and
#: Exchange's own names, where they differ from a current key by more than dots.
_RETIRED_STANDARD_NAMES = {
    "Fiji Islands Standard Time": "Pacific/Fiji",
    "Kamchatka Standard Time": "Asia/Kamchatka",
    "Mexico Standard Time": "America/Mexico_City",
    "Mexico Standard Time 2": "America/Mazatlan",
    "Mid-Atlantic Standard Time": "Etc/GMT+2",
    "Newfoundland and Labrador Standard Time": "America/St_Johns",
    "Transitional Islamic State of Afghanistan Standard Time": "Asia/Kabul",
    "tzone://Microsoft/Utc": "Etc/UTC",
}

#: Windows display names → IANA zone. The current names are those of CLDR's
#: windowsZones.xml comments, mapped to the zone CLDR gives their Windows zone; older
#: spellings (Windows XP to 8, CDO) follow, mapped to the zone of the same Windows zone,
#: or, for a retired one-city zone, to that city. The offset is written for the reader:
#: matching ignores it (it changed when countries did), case, punctuation and "&"/"and".
_DISPLAY_NAMES = {
    "(UTC-12:00) International Date Line West": "Etc/GMT+12",
    "(UTC-11:00) Coordinated Universal Time-11": "Etc/GMT+11",
    "(UTC-10:00) Aleutian Islands": "America/Adak",
    "(UTC-10:00) Hawaii": "Pacific/Honolulu",
    "(UTC-09:30) Marquesas Islands": "Pacific/Marquesas",
    "(UTC-09:00) Alaska": "America/Anchorage",
    "(UTC-09:00) Coordinated Universal Time-09": "Etc/GMT+9",
    "(UTC-08:00) Baja California": "America/Tijuana",
    "(UTC-08:00) Coordinated Universal Time-08": "Etc/GMT+8",
    "(UTC-08:00) Pacific Time (US & Canada)": "America/Los_Angeles",
    "(UTC-07:00) Arizona": "America/Phoenix",
    "(UTC-07:00) Chihuahua, La Paz, Mazatlan": "America/Mazatlan",
    "(UTC-07:00) La Paz, Mazatlan": "America/Mazatlan",
    "(UTC-07:00) Mountain Time (US & Canada)": "America/Denver",
    "(UTC-07:00) Yukon": "America/Whitehorse",
    "(UTC-06:00) Central America": "America/Guatemala",
    "(UTC-06:00) Central Time (US & Canada)": "America/Chicago",
    "(UTC-06:00) Easter Island": "Pacific/Easter",
    "(UTC-06:00) Guadalajara, Mexico City, Monterrey": "America/Mexico_City",
    "(UTC-06:00) Saskatchewan": "America/Regina",
    "(UTC-05:00) Bogota, Lima, Quito, Rio Branco": "America/Bogota",
    "(UTC-05:00) Chetumal": "America/Cancun",
    "(UTC-05:00) Eastern Time (US & Canada)": "America/New_York",
    "(UTC-05:00) Haiti": "America/Port-au-Prince",
    "(UTC-05:00) Havana": "America/Havana",
    "(UTC-05:00) Indiana (East)": "America/Indianapolis",
    "(UTC-05:00) Turks and Caicos": "America/Grand_Turk",
    "(UTC-04:00) Asuncion": "America/Asuncion",
    "(UTC-04:00) Atlantic Time (Canada)": "America/Halifax",
    "(UTC-04:00) Caracas": "America/Caracas",
    "(UTC-04:00) Cuiaba": "America/Cuiaba",
    "(UTC-04:00) Georgetown, La Paz, Manaus, San Juan": "America/La_Paz",
    "(UTC-04:00) Santiago": "America/Santiago",
    "(UTC-03:30) Newfoundland": "America/St_Johns",
    "(UTC-03:00) Araguaina": "America/Araguaina",
    "(UTC-03:00) Brasilia": "America/Sao_Paulo",
    "(UTC-03:00) Cayenne, Fortaleza": "America/Cayenne",
    "(UTC-03:00) City of Buenos Aires": "America/Buenos_Aires",
    "(UTC-03:00) Greenland": "America/Godthab",
    "(UTC-03:00) Montevideo": "America/Montevideo",
    "(UTC-03:00) Punta Arenas": "America/Punta_Arenas",
    "(UTC-03:00) Saint Pierre and Miquelon": "America/Miquelon",
    "(UTC-03:00) Salvador": "America/Bahia",
    "(UTC-02:00) Coordinated Universal Time-02": "Etc/GMT+2",
    "(UTC-01:00) Azores": "Atlantic/Azores",
    "(UTC-01:00) Cabo Verde Is.": "Atlantic/Cape_Verde",
    "(UTC) Coordinated Universal Time": "Etc/UTC",
    "(UTC+00:00) Dublin, Edinburgh, Lisbon, London": "Europe/London",
    "(UTC+00:00) Monrovia, Reykjavik": "Atlantic/Reykjavik",
    "(UTC+00:00) Sao Tome": "Africa/Sao_Tome",
    "(UTC+01:00) Casablanca": "Africa/Casablanca",
    "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna": "Europe/Berlin",
    "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague": "Europe/Budapest",
    "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris": "Europe/Paris",
    "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb": "Europe/Warsaw",
    "(UTC+01:00) West Central Africa": "Africa/Lagos",
    "(UTC+02:00) Amman": "Asia/Amman",
    "(UTC+02:00) Athens, Bucharest": "Europe/Bucharest",
    "(UTC+02:00) Beirut": "Asia/Beirut",
    "(UTC+02:00) Cairo": "Africa/Cairo",
    "(UTC+02:00) Chisinau": "Europe/Chisinau",
    "(UTC+02:00) Damascus": "Asia/Damascus",
    "(UTC+02:00) Gaza, Hebron": "Asia/Hebron",
    "(UTC+02:00) Harare, Pretoria": "Africa/Johannesburg",
    "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius": "Europe/Kiev",
    "(UTC+02:00) Jerusalem": "Asia/Jerusalem",
    "(UTC+02:00) Juba": "Africa/Juba",
    "(UTC+02:00) Kaliningrad": "Europe/Kaliningrad",
    "(UTC+02:00) Khartoum": "Africa/Khartoum",
    "(UTC+02:00) Tripoli": "Africa/Tripoli",
    "(UTC+02:00) Windhoek": "Africa/Windhoek",
    "(UTC+03:00) Baghdad": "Asia/Baghdad",
    "(UTC+03:00) Istanbul": "Europe/Istanbul",
    "(UTC+03:00) Kuwait, Riyadh": "Asia/Riyadh",
    "(UTC+03:00) Minsk": "Europe/Minsk",
    "(UTC+03:00) Moscow, St. Petersburg": "Europe/Moscow",
    "(UTC+03:00) Nairobi": "Africa/Nairobi",
    "(UTC+03:30) Tehran": "Asia/Tehran",
    "(UTC+04:00) Abu Dhabi, Muscat": "Asia/Dubai",
    "(UTC+04:00) Astrakhan, Ulyanovsk": "Europe/Astrakhan",
    "(UTC+04:00) Baku": "Asia/Baku",
    "(UTC+04:00) Izhevsk, Samara": "Europe/Samara",
    "(UTC+04:00) Port Louis": "Indian/Mauritius",
    "(UTC+04:00) Saratov": "Europe/Saratov",
    "(UTC+04:00) Tbilisi": "Asia/Tbilisi",
    "(UTC+04:00) Volgograd": "Europe/Volgograd",
    "(UTC+04:00) Yerevan": "Asia/Yerevan",
    "(UTC+04:30) Kabul": "Asia/Kabul",
    "(UTC+05:00) Ashgabat, Tashkent": "Asia/Tashkent",
    "(UTC+05:00) Ekaterinburg": "Asia/Yekaterinburg",
    "(UTC+05:00) Islamabad, Karachi": "Asia/Karachi",
    "(UTC+05:00) Qyzylorda": "Asia/Qyzylorda",
    "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi": "Asia/Calcutta",
    "(UTC+05:30) Sri Jayawardenepura": "Asia/Colombo",
    "(UTC+05:45) Kathmandu": "Asia/Katmandu",
    "(UTC+06:00) Astana": "Asia/Bishkek",
    "(UTC+06:00) Dhaka": "Asia/Dhaka",
    "(UTC+06:00) Omsk": "Asia/Omsk",
    "(UTC+06:30) Yangon (Rangoon)": "Asia/Rangoon",
    "(UTC+07:00) Bangkok, Hanoi, Jakarta": "Asia/Bangkok",
    "(UTC+07:00) Barnaul, Gorno-Altaysk": "Asia/Barnaul",
    "(UTC+07:00) Hovd": "Asia/Hovd",
    "(UTC+07:00) Krasnoyarsk": "Asia/Krasnoyarsk",
    "(UTC+07:00) Novosibirsk": "Asia/Novosibirsk",
    "(UTC+07:00) Tomsk": "Asia/Tomsk",
    "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi": "Asia/Shanghai",
    "(UTC+08:00) Irkutsk": "Asia/Irkutsk",
    "(UTC+08:00) Kuala Lumpur, Singapore": "Asia/Singapore",
    "(UTC+08:00) Perth": "Australia/Perth",
    "(UTC+08:00) Taipei": "Asia/Taipei",
    "(UTC+08:00) Ulaanbaatar": "Asia/Ulaanbaatar",
    "(UTC+08:45) Eucla": "Australia/Eucla",
    "(UTC+09:00) Chita": "Asia/Chita",
    "(UTC+09:00) Osaka, Sapporo, Tokyo": "Asia/Tokyo",
    "(UTC+09:00) Pyongyang": "Asia/Pyongyang",
    "(UTC+09:00) Seoul": "Asia/Seoul",
    "(UTC+09:00) Yakutsk": "Asia/Yakutsk",
    "(UTC+09:30) Adelaide": "Australia/Adelaide",
    "(UTC+09:30) Darwin": "Australia/Darwin",
    "(UTC+10:00) Brisbane": "Australia/Brisbane",
    "(UTC+10:00) Canberra, Melbourne, Sydney": "Australia/Sydney",
    "(UTC+10:00) Guam, Port Moresby": "Pacific/Port_Moresby",
    "(UTC+10:00) Hobart": "Australia/Hobart",
    "(UTC+10:00) Vladivostok": "Asia/Vladivostok",
    "(UTC+10:30) Lord Howe Island": "Australia/Lord_Howe",
    "(UTC+11:00) Bougainville Island": "Pacific/Bougainville",
    "(UTC+11:00) Chokurdakh": "Asia/Srednekolymsk",
    "(UTC+11:00) Magadan": "Asia/Magadan",
    "(UTC+11:00) Norfolk Island": "Pacific/Norfolk",
    "(UTC+11:00) Sakhalin": "Asia/Sakhalin",
    "(UTC+11:00) Solomon Is., New Caledonia": "Pacific/Guadalcanal",
    "(UTC+12:00) Anadyr, Petropavlovsk-Kamchatsky": "Asia/Kamchatka",
    "(UTC+12:00) Auckland, Wellington": "Pacific/Auckland",
    "(UTC+12:00) Coordinated Universal Time+12": "Etc/GMT-12",
    "(UTC+12:00) Fiji": "Pacific/Fiji",
    "(UTC+12:45) Chatham Islands": "Pacific/Chatham",
    "(UTC+13:00) Coordinated Universal Time+13": "Etc/GMT-13",
    "(UTC+13:00) Nuku'alofa": "Pacific/Tongatapu",
    "(UTC+13:00) Samoa": "Pacific/Apia",
    "(UTC+14:00) Kiritimati Island": "Pacific/Kiritimati",
    # Older spellings of the same zones, and zones Windows has retired.
    "(GMT-11:00) Midway Island, Samoa": "Pacific/Midway",
    "(GMT-08:00) Pacific Time (US & Canada); Tijuana": "America/Los_Angeles",
    "(UTC-08:00) Tijuana, Baja California": "America/Tijuana",
    "(GMT-05:00) Bogota, Lima, Quito": "America/Bogota",
    "(GMT-04:00) Caracas, La Paz": "America/Caracas",
    "(UTC-04:00) Georgetown, La Paz, San Juan": "America/La_Paz",
    "(UTC-04:00) Manaus": "America/Cuiaba",
    "(GMT-03:30) Newfoundland and Labrador": "America/St_Johns",
    "(UTC-03:00) Buenos Aires": "America/Buenos_Aires",
    "(GMT-03:00) Buenos Aires, Georgetown": "America/Cayenne",
    "(UTC-03:00) Cayenne": "America/Cayenne",
    "(GMT-02:00) Mid-Atlantic": "Etc/GMT+2",
    "(UTC-02:00) Mid-Atlantic - Old": "Etc/GMT+2",
    "(GMT-01:00) Cape Verde Is.": "Atlantic/Cape_Verde",
    "(GMT-01:00) Cape Verde Islands": "Atlantic/Cape_Verde",
    "(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London": "Europe/London",
    "(GMT) Casablanca, Monrovia": "Atlantic/Reykjavik",
    "(GMT) Casablanca, Monrovia, Reykjavik": "Atlantic/Reykjavik",
    "(GMT+02:00) Athens, Istanbul, Minsk": "Europe/Bucharest",
    "(UTC+02:00) Athens, Bucharest, Istanbul": "Europe/Bucharest",
    "(GMT+02:00) Bucharest": "Europe/Bucharest",
    "(UTC+02:00) E. Europe": "Europe/Chisinau",
    "(GMT+02:00) Helsinki, Kiev, Riga, Sofia, Tallinn, Vilnius": "Europe/Kiev",
    "(UTC+03:00) Kaliningrad, Minsk": "Europe/Kaliningrad",
    "(GMT+03:00) Moscow, St. Petersburg, Volgograd": "Europe/Moscow",
    "(GMT+04:00) Baku, Tbilisi, Yerevan": "Asia/Yerevan",
    "(GMT+05:00) Islamabad, Karachi, Tashkent": "Asia/Tashkent",
    "(UTC+05:00) Tashkent": "Asia/Tashkent",
    "(GMT+06:00) Almaty, Novosibirsk": "Asia/Novosibirsk",
    "(GMT+06:00) Astana, Dhaka": "Asia/Bishkek",
    "(GMT+06:30) Rangoon": "Asia/Rangoon",
    "(GMT+08:00) Beijing, Chongqing, Hong Kong SAR, Urumqi": "Asia/Shanghai",
    "(GMT+08:00) Irkutsk, Ulaan Bataar": "Asia/Irkutsk",
    "(GMT+08:00) Irkutsk, Ulan Bator": "Asia/Irkutsk",
    "(UTC+10:00) Vladivostok, Magadan": "Asia/Vladivostok",
    "(GMT+11:00) Magadan, Solomon Is., New Caledonia": "Pacific/Guadalcanal",
    "(GMT+11:00) Magadan, Solomon Islands, New Caledonia": "Pacific/Guadalcanal",
    "(GMT+12:00) Fiji, Kamchatka, Marshall Is.": "Pacific/Fiji",
    "(GMT+12:00) Fiji Islands, Kamchatka, Marshall Islands": "Pacific/Fiji",
    "(UTC+12:00) Fiji, Marshall Is.": "Pacific/Fiji",
    "(UTC+12:00) Petropavlovsk-Kamchatsky - Old": "Asia/Kamchatka",
}

#: The offset before a display name: ``(UTC+01:00)``, ``(GMT-05.00)``, ``(UTC)``.
_OFFSET_PREFIX = re.compile(
    r"^\(\s*(?:GMT|UTC)\s*(?:[+\-\u2212]\s*\d{1,2}(?:\s*[:.]\s*\d{2})?)?\s*\)\s*", re.IGNORECASE)
#: Windows 2014–2016 appended the Russian zone number: ``Ekaterinburg (RTZ 4)``.
_RUSSIAN_ZONE = re.compile(r"\(\s*RTZ\s*\d+\s*\)\s*$", re.IGNORECASE)


def _key(name: str) -> str:
    """The form names are compared in: ``W. Europe`` = ``W Europe``, ``&`` = ``and``."""
    text = name.lower().replace("&", " and ").replace(".", "").replace("'", "")
    return " ".join(re.findall(r"[\w+\-]+", text))


def _display_key(name: str) -> str:
    return _key(_RUSSIAN_ZONE.sub("", _OFFSET_PREFIX.sub("", name.strip())))


_STANDARD_BY_KEY = {_key(name): zone for name, zone in
                    {**WINDOWS_TO_OLSON, **_RETIRED_STANDARD_NAMES}.items()}
_DISPLAY_BY_KEY = {_display_key(name): zone for name, zone in _DISPLAY_NAMES.items()}


def iana_zone(tzid: str) -> str | None:
    """The IANA name a TZID means, or None when we cannot tell.

    In order: an IANA zone zoneinfo can load (itself); the zone inside a "globally
    unique" TZID (``/mozilla.org/20050126_1/Europe/Berlin``); a Windows registry key
    (``Daylight`` for ``Standard`` too); a Windows display name, with or without its
    offset; an IANA name in the wrong case. Quotes and spaces around it are ignored.
    """
    return _lookup(tzid.strip().strip('"').strip())


@lru_cache(maxsize=1024)
def _lookup(text: str) -> str | None:
    # Cached: every event of a calendar repeats its TZID, and a miss reads the disk.
    if not text:
        return None
    if _loadable(text):
        return text
    segments = text.strip("/").split("/")
    if text.startswith("/") or "." in segments[0]:
        for start in range(len(segments)):
            suffix = "/".join(segments[start:])
            if _loadable(suffix):
                return suffix
    key = _key(text)
    if key.endswith(" daylight time"):
        key = key[:-len("daylight time")] + "standard time"
    found = _STANDARD_BY_KEY.get(key) or _DISPLAY_BY_KEY.get(_display_key(text))
    if found is None:
        found = _zones_by_lower_name().get(text.lower())
    if found is None or not _loadable(found):
        return None
    current = _CURRENT_NAMES.get(found)
    return current if current is not None and _loadable(current) else found


def _loadable(name: str) -> bool:
    """Whether zoneinfo has a zone of that name (``localtime`` is the host's, not one)."""
    if name in _NOT_ZONES:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    """``europe/berlin`` → ``Europe/Berlin``; read once (it walks the zoneinfo tree)."""
    return {name.lower(): name for name in available_timezones()}


# --- calendars ---------------------------------------------------------------------------


def normalize_timezones(calendar: Calendar) -> Calendar:
    """A copy of ``calendar`` whose TZIDs name IANA zones where we know which.

    Every TZID parameter, in every component, that :func:`iana_zone` maps to another
    name is rewritten; the value keeps its wall-clock time (09:00 ``W. Europe Standard
    Time`` becomes 09:00 ``Europe/Berlin``) and is rebuilt on the zoneinfo zone, so
    ``decoded()`` gives the right instant without parsing again. The renamed zones'
    VTIMEZONEs are replaced by one generated VTIMEZONE per IANA zone, in place of the
    first; a VTIMEZONE the calendar already has for that IANA name is kept. TZIDs we
    cannot map, and VTIMEZONEs no property uses, are left as they are.
    """
    result = calendar.copy(recursive=True)
    renames: dict[str, str] = {}
    for tzid in _used_tzids(result):
        target = iana_zone(tzid)
        if target is not None and target != tzid:
            renames[tzid] = target
    if renames:
        _rename_timezones(result, renames)
    return result


def _rename_timezones(result: Calendar, renames: dict[str, str]) -> None:
    """Rewrite ``result`` in place: TZIDs renamed, values rebuilt, VTIMEZONEs replaced."""
    spans: dict[str, list[date]] = {}
    for component in _dated_components(result):
        for name, value in list(component.items()):
            props = as_list(value)
            if not any(_tzid_of(prop) in renames for prop in props):
                continue
            rebuilt = [_renamed(prop, renames, spans) for prop in props]
            component[name] = rebuilt if isinstance(value, list) else rebuilt[0]
    result.subcomponents = _replace_timezones(
        result.subcomponents, renames, _used_tzids(result), spans)


def _dated_components(calendar: Calendar) -> list[Component]:
    return [c for c in calendar.walk() if str(c.name).upper() not in _TIMEZONE_COMPONENTS]


def _tzid_of(prop: Any) -> str | None:
    params = getattr(prop, "params", None)
    tzid = params.get("TZID") if params else None
    return str(tzid) if tzid else None


def _used_tzids(calendar: Calendar) -> list[str]:
    """TZID parameters in order of first use (so generated VTIMEZONEs come in that order)."""
    found: dict[str, None] = {}
    for component in _dated_components(calendar):
        for _, value in component.items():
            for prop in as_list(value):
                tzid = _tzid_of(prop)
                if tzid:
                    found.setdefault(tzid)
    return list(found)


def _renamed(prop: Any, renames: dict[str, str], spans: dict[str, list[date]]) -> Any:
    """A new property like ``prop`` on the IANA zone; date values rebuilt on zoneinfo.

    icalendar decoded the value on the TZID's old meaning (the sender's VTIMEZONE or its
    own Windows table), so changing the parameter alone would leave a stale tzinfo.
    """
    tzid = _tzid_of(prop)
    target = renames.get(tzid) if tzid else None
    if target is None:
        return prop
    zone = ZoneInfo(target)
    keeps_tzid = not is_utc(zone)  # icalendar writes UTC values with "Z", never a TZID
    params = Parameters({k: v for k, v in prop.params.items() if k.upper() != "TZID"})
    if isinstance(prop, (vDDDTypes, vDDDLists)):
        as_date = str(params.get("VALUE", "")).upper() == "DATE"
        values = [_on_zone(v.dt, zone, as_date) for v in
                  (prop.dts if isinstance(prop, vDDDLists) else [prop])]
        spans.setdefault(target, []).extend(_dates(values))
        if as_date:
            keeps_tzid = False
        new: Any = (vDDDLists(values, params) if isinstance(prop, vDDDLists)
                    else vDDDTypes(values[0], params))
    else:
        new = copy.copy(prop)  # an X- property icalendar could not type: text stays
        new.params = params
    new.params.pop("TZID", None)
    if keeps_tzid:
        new.params["TZID"] = target
    return new


def _on_zone(value: Any, zone: tzinfo, as_date: bool) -> Any:
    """The same wall-clock value on ``zone``; a period's start and end both."""
    if isinstance(value, datetime):
        # icalendar turns VALUE=DATE;TZID=… into midnight in that zone: keep the date.
        return value.date() if as_date else value.replace(tzinfo=zone)
    if isinstance(value, time):
        return value.replace(tzinfo=zone)
    if isinstance(value, tuple):
        return tuple(_on_zone(part, zone, as_date) for part in value)
    return value


def _dates(values: list[Any]) -> list[date]:
    found: list[date] = []
    for value in values:
        for part in value if isinstance(value, tuple) else (value,):
            if isinstance(part, date):
                found.append(part.date() if isinstance(part, datetime) else part)
    return found


def _replace_timezones(subcomponents: list[Component], renames: dict[str, str],
                       used: list[str], spans: dict[str, list[date]]) -> list[Component]:
    """Drop the renamed zones' VTIMEZONEs; put one for each new IANA zone in their place.

    An IANA zone whose VTIMEZONE is missing goes after the calendar's VTIMEZONEs, before
    its first other component.
    """
    def is_timezone(component: Component) -> bool:
        return str(component.name).upper() == "VTIMEZONE"

    present = {str(c.get("TZID", "")) for c in subcomponents if is_timezone(c)}
    targets = set(renames.values())
    pending = [name for name in used if name in targets and name not in present]
    result: list[Component] = []
    for component in subcomponents:
        own = str(component.get("TZID", "")) if is_timezone(component) else None
        if own is not None and own in renames:
            target = renames[own]
            if target in pending:
                pending.remove(target)
                result.append(vtimezone(target, spans.get(target, [])))
            continue
        if own is None and pending:
            result.extend(vtimezone(name, spans.get(name, [])) for name in pending)
            pending = []
        result.append(component)
    result.extend(vtimezone(name, spans.get(name, [])) for name in pending)
    return result


def vtimezone(name: str, dates: Sequence[date] = ()) -> Component:
    """A VTIMEZONE for ``name`` from zoneinfo, covering 1970–2037 and ``dates`` (a fresh
    copy each call), written as yearly rules (``core/zone_rules.py`` says why).

    Clients that know IANA names never read it; the others get rules for the dates at
    hand, within 1900–2100 so that one odd date cannot make the object huge.
    """
    years = [min(max(d.year, _FIRST_YEAR), _LAST_YEAR) for d in dates]
    first = min([Timezone.DEFAULT_FIRST_DATE, *(date(y, 1, 1) for y in years)])
    last = max([Timezone.DEFAULT_LAST_DATE, *(date(y + 2, 1, 1) for y in years)])
    return _generated_timezone(name, first, last).copy(recursive=True)


@lru_cache(maxsize=64)
def _generated_timezone(name: str, first: date, last: date) -> Timezone:
    # Cached, and only ever handed out as copies: generation walks every transition.
    return yearly_vtimezone(name, ZoneInfo(name), first, last)


# --- objects to be stored: every TZID defined ------------------------------------------


class UnknownTimezones(ValueError):
    """TZIDs an object uses without a VTIMEZONE that name no zone we know.

    Storing the object would place its times nowhere in particular (Radicale would read
    them as UTC), so it is refused; ``tzids`` names them for the answer. A ValueError,
    so that Radicale's own PUT answers 400 when the storage plugin refuses alone.
    """

    def __init__(self, tzids: Sequence[str]) -> None:
        self.tzids = tuple(tzids)
        names = ", ".join('"%s"' % tzid for tzid in self.tzids)
        super().__init__(
            "The time zone%s %s %s no VTIMEZONE in the calendar data and %s not a time "
            "zone name we know (IANA, Windows or Exchange). Send the VTIMEZONE with the "
            "object, or use a known time zone." % (
                "s" if len(self.tzids) > 1 else "", names,
                "have" if len(self.tzids) > 1 else "has",
                "are" if len(self.tzids) > 1 else "is"))


def undefined_tzids(text: str) -> list[str]:
    """TZID parameters of ``text`` that no VTIMEZONE of it defines, in order of first use.

    Read from the text, without parsing the object: every stored object passes here, and
    most either use no TZID or carry their VTIMEZONEs (answered in one pass over the
    lines). Parameters are read as RFC 5545 §3.1 writes them (quoted values may hold
    ``;:,``), folded lines unfolded first.
    """
    if "TZID" not in text.upper():
        return []
    used: dict[str, None] = {}
    defined: set[str] = set()
    depth = 0  # inside a VTIMEZONE: its TZID property defines, its lines use nothing
    for line in _FOLD.sub("", text).splitlines():
        upper = line.upper()
        if upper.startswith(("BEGIN:VTIMEZONE", "END:VTIMEZONE")):
            depth += 1 if upper.startswith("BEGIN") else -1
            continue
        if "TZID" not in upper:
            continue
        name, params, value = _content_line(line)
        if depth > 0:
            if name == "TZID":
                defined.add(value.strip())
            continue
        tzid = params.get("TZID")
        if tzid:
            used.setdefault(tzid)
    return [tzid for tzid in used if tzid not in defined]


#: One ``;NAME=value,value`` parameter of a content line (RFC 5545 §3.1).
_PARAMETER = re.compile(r';([^=;:]*)=?("[^"]*"|[^;:,]*)(?:,(?:"[^"]*"|[^;:,]*))*')
#: The folding of RFC 5545 §3.1: a line break followed by one space or tab.
_FOLD = re.compile(r"\r?\n[ \t]")


def _content_line(line: str) -> tuple[str, dict[str, str], str]:
    """(NAME, {PARAM: first value, unquoted}, value) of one unfolded content line."""
    position = next((i for i, char in enumerate(line) if char in ";:"), len(line))
    name = line[:position].strip().upper()
    params: dict[str, str] = {}
    while position < len(line) and line[position] == ";":
        match = _PARAMETER.match(line, position)
        if match is None or match.end() == position:
            break
        params.setdefault(match.group(1).strip().upper(), match.group(2).strip('"'))
        position = match.end()
    return name, params, line[position + 1:]


def define_timezones(calendar: Calendar) -> Calendar:
    """A copy of ``calendar`` in which every TZID has its VTIMEZONE.

    A TZID with a VTIMEZONE is left as it is, whatever its name (the sender's rules say
    what it means). One without is resolved by :func:`iana_zone`: the values keep their
    wall-clock time on that IANA zone, the TZID is renamed to it (Windows and Exchange
    names), and a VTIMEZONE generated from zoneinfo is added. Raises
    :class:`UnknownTimezones` naming the TZIDs that cannot be resolved.
    """
    result = calendar.copy(recursive=True)
    renames = {tzid: iana_zone(tzid) for tzid in _missing_tzids(result)}
    unknown = [tzid for tzid, target in renames.items() if target is None]
    if unknown:
        raise UnknownTimezones(unknown)
    if renames:
        _rename_timezones(result, {k: v for k, v in renames.items() if v is not None})
    return result


def _missing_tzids(calendar: Calendar) -> list[str]:
    present = {str(c.get("TZID", "")) for c in calendar.subcomponents
               if str(c.name).upper() == "VTIMEZONE"}
    return [tzid for tzid in _used_tzids(calendar) if tzid not in present]


def define_timezones_in_text(text: str) -> str | None:
    """``text`` with every TZID defined (:func:`define_timezones`), or None when nothing
    is to change: every TZID has its VTIMEZONE, or the text is no calendar icalendar can
    read (whoever stores it judges it then). Raises :class:`UnknownTimezones`."""
    if not undefined_tzids(text):
        return None
    try:
        calendar = Calendar.from_ical(text.encode("utf-8"))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    if not isinstance(calendar, Calendar) or not _missing_tzids(calendar):
        return None
    return bytes(define_timezones(calendar).to_ical()).decode("utf-8")
