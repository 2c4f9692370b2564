"""docs/web-api.yaml against the code it documents (pure: no server).

The OpenAPI document is written by hand, so it drifts the moment a route, a filter kind
or a booking field is added in the code and not in the document. These tests read the
routes, ``MEETING_KINDS``, the booking reader's known fields and its limits from the
code itself and compare, so such a change fails here instead of misleading a client.
"""

from __future__ import annotations

import ast
import datetime
import inspect
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from radicale_tracks.core import customer_booking
from radicale_tracks.web import api
from source_trees import parse_texts

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "web-api.yaml"
API_SOURCE = ROOT / "radicale_tracks" / "web" / "api.py"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

#: The two routes ``handle`` matches with the ``_TRACK`` regex rather than the ``routes``
#: dict: a track id, alone (GET) or followed by ``/feed/revoke`` (POST).
TRACK_ROUTES = {("GET", "/.web/api/tracks/{id}"),
                ("POST", "/.web/api/tracks/{id}/feed/revoke")}


#: The routes ``web/booking_api.py`` matches with its regexes.
BOOKING_ROUTES = {("GET", "/.web/api/meetings/upcoming"), ("GET", "/.web/api/meetings/past"),
                  ("GET", "/.web/api/bookings/{id}"), ("GET", "/.web/api/bookings/{id}/slots"),
                  ("POST", "/.web/api/bookings/{id}/reschedule"),
                  ("POST", "/.web/api/bookings/{id}/cancel"),
                  ("POST", "/.web/api/bookings/{id}/link/revoke")}


#: Former paths answered by the application with a 308 to their new place under
#: ``/.web/api/`` (``plugin/http/post.py`` ``_moved_api``), documented as deprecated.
MOVED_ROUTES = {("POST", "/.tracks/api/slots"): "/.web/api/slots"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """Loaded once: every test reads the same document."""
    with DOCUMENT.open(encoding="utf-8") as f:
        loaded = yaml.safe_load(f)
    assert isinstance(loaded, dict)
    return loaded


def code_routes() -> set[tuple[str, str]]:
    """The ``(method, path)`` keys of the dict ``handle`` assigns to ``routes``.

    That dict is local to ``handle``, so it cannot be imported; parsing the module keeps
    the test bound to the code rather than to a copy of the list.
    """
    (tree,) = parse_texts([API_SOURCE.read_text(encoding="utf-8")])
    handle = next(node for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name == "handle")
    found: set[tuple[str, str]] = set()
    for node in ast.walk(handle):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "routes" for t in node.targets)):
            continue
        for key in node.value.keys:
            assert isinstance(key, ast.Tuple), "a routes key is not a tuple literal"
            method, path = (ast.literal_eval(element) for element in key.elts)
            found.add((method, path))
    assert found, "no `routes = {...}` dict found in api.handle"
    return found


def document_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in METHODS}


def known_booking_fields() -> set[str]:
    """The ``known`` set literal in ``read_booking``: the fields a booking body may have."""
    source = textwrap.dedent(inspect.getsource(customer_booking.read_booking))
    for node in ast.walk(parse_texts([source])[0]):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Set)
                and any(isinstance(t, ast.Name) and t.id == "known" for t in node.targets)):
            return {ast.literal_eval(element) for element in node.value.elts}
    raise AssertionError("no `known = {...}` set found in read_booking")


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` value anywhere below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local JSON pointer (``#/components/...``), or a KeyError naming what is missing."""
    assert ref.startswith("#/components/"), "%s is not a local component" % ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise KeyError(ref)
        node = node[part]
    return node


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found = document["components"]["schemas"][name]
    assert isinstance(found, dict)
    return found


def test_openapi_version(document: dict[str, Any]) -> None:
    """3.1 is what the document's ``type: [string, "null"]`` spellings need."""
    assert str(document["openapi"]).startswith("3.1")


def test_routes_match_the_code(document: dict[str, Any]) -> None:
    """A route served but undocumented, or documented but gone, fails here."""
    expected = code_routes() | TRACK_ROUTES | BOOKING_ROUTES | set(MOVED_ROUTES)
    assert document_routes(document) == expected


def test_moved_routes_are_deprecated_redirects(document: dict[str, Any]) -> None:
    """A former path says it is deprecated, answers 308 and names where it went, and
    that place is a route the code serves."""
    for (method, path), target in MOVED_ROUTES.items():
        operation = document["paths"][path][method.lower()]
        assert operation["deprecated"] is True
        assert "Location" in operation["responses"]["308"]["headers"]
        assert target in operation["summary"] and (method, target) in code_routes()


def test_slot_question_fields_match_the_reader(document: dict[str, Any]) -> None:
    """Both forms of the slot question list exactly the fields their readers take."""
    from radicale_tracks.core import slot_request

    question = schema(document, "SlotQuestion")
    known = set(question["properties"])
    assert question["additionalProperties"] is False and "duration" in known
    with pytest.raises(slot_request.SlotRequestError) as refused:
        slot_request.slot_request({"duration": 30, "unheard_of": 1},
                                  datetime.datetime.now(datetime.UTC), "UTC")
    assert str(refused.value).endswith("known: " + ", ".join(sorted(known)))
    assert set(schema(document, "SlotsRequest")["properties"]) == set(
        api.SLOTS_WIZARD_FIELDS)
    content = document["paths"]["/.web/api/slots"]["post"]["requestBody"]["content"]
    examples = content["application/json"]["examples"]
    slot_request.slot_request(examples["agent"]["value"],
                              datetime.datetime.now(datetime.UTC), "UTC")
    wizard = examples["wizard"]["value"]
    assert set(wizard) <= set(api.SLOTS_WIZARD_FIELDS)
    customer_booking.read_details(wizard["details"])


def test_track_routes_match_the_regex() -> None:
    """The two named track routes are the ones ``_TRACK`` really accepts."""
    assert api._TRACK.match("/.web/api/tracks/abc_DEF-1")
    assert api._TRACK.match("/.web/api/tracks/abc/feed/revoke")
    assert not api._TRACK.match("/.web/api/tracks/abc/other")


def test_booking_routes_match_the_regexes() -> None:
    """The documented booking routes are the ones ``booking_api`` really accepts."""
    from radicale_tracks.web import booking_api

    for _method, path in BOOKING_ROUTES:
        concrete = path.replace("{id}", "12")
        assert booking_api._BOOKING.match(concrete) or booking_api._LIST.match(concrete), path
    assert not booking_api._BOOKING.match("/.web/api/bookings/12/other")
    assert not booking_api._BOOKING.match("/.web/api/bookings/abc")


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    """A dangling ``$ref`` breaks every generator and viewer that reads the document."""
    found = list(refs(document))
    assert found
    for ref in found:
        target = resolve(document, ref)
        assert isinstance(target, dict), ref
    schema_refs = [r for r in refs(document["components"]["schemas"])]
    assert all(r.startswith("#/components/schemas/") for r in schema_refs)


def test_required_schemas_present(document: dict[str, Any]) -> None:
    """The schemas clients are told to use exist under their documented names."""
    names = set(document["components"]["schemas"])
    assert {"Customer", "MeetingDetails", "Notifications", "BookingRequest", "Booking",
            "SlotAnswer", "Slot", "Attendee", "RoomAssignment", "Conflict", "Error",
            "Conflict409", "Meeting", "Track", "TrackPage"} <= names


def test_meeting_kinds_match_the_code(document: dict[str, Any]) -> None:
    """The ``kind`` filter's values are exactly those ``meetings`` accepts."""
    parameters = document["paths"]["/.web/api/meetings"]["get"]["parameters"]
    kind = next(p for p in parameters if p["name"] == "kind")
    items = kind["schema"]["items"]
    if "$ref" in items:
        items = resolve(document, items["$ref"])
    assert items["enum"] == list(api.MEETING_KINDS)


def test_booking_request_fields_match_the_reader(document: dict[str, Any]) -> None:
    """``read_booking`` refuses unknown fields, so the document must list exactly its own."""
    booking = schema(document, "BookingRequest")
    assert set(booking["properties"]) == known_booking_fields()
    assert booking.get("additionalProperties") is False


def test_limits_match_the_readers(document: dict[str, Any]) -> None:
    """Limits in the document are the ones the readers enforce, not a remembered copy."""
    customer = schema(document, "Customer")["properties"]
    assert customer["name"]["maxLength"] == customer_booking.MAX_TEXT["name"]
    details = schema(document, "MeetingDetails")["properties"]
    for name in ("subject", "location", "conference", "description"):
        assert details[name]["maxLength"] == customer_booking.MAX_TEXT[name], name
    assert details["duration"]["minimum"] == customer_booking.MIN_DURATION_MINUTES
    assert details["duration"]["maximum"] == customer_booking.MAX_DURATION_MINUTES
    assert details["members"]["maxItems"] == customer_booking.MAX_MEMBERS
    assert details["rooms"]["maxItems"] == customer_booking.MAX_ROOMS
    assert details["pools"]["maxItems"] == customer_booking.MAX_ROOMS
    assert [v for v in details["meeting_type"]["enum"] if v is not None] == list(
        customer_booking.MEETING_TYPES)


def test_booking_example_uses_known_fields(document: dict[str, Any]) -> None:
    """The example a reader copies must be a body the server would read."""
    content = document["paths"]["/.web/api/bookings"]["post"]["requestBody"]["content"]
    examples = content["application/json"]["examples"]
    assert examples
    for example in examples.values():
        assert set(example["value"]) <= known_booking_fields()
        customer_booking.read_booking(example["value"], "UTC")
