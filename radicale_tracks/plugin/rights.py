"""``[rights] type = radicale_tracks.rights``: Radicale's rights plus scheduling's rules.

- Track calendars live under the assistant principal (``/assistant/<track>/``) and are
  private to their members: a local user who is a member (by user name or by one of their
  addresses) may read the track, nobody else may see it, and only the assistant principal
  may write it.
- A room's or resource's delegates (``delegates=`` of the room) may read and write its
  calendars: they manage bookings and answer requests a ``manual`` room leaves open.
- A user's scheduling inbox and outbox (``/<user>/schedule-inbox/``, ``…/schedule-outbox/``)
  are readable by that user only and written only by the scheduling engine (deleting an
  inbox message and POSTing to the outbox are the application's, checked there).

Every other path is decided by the rights type named in ``[rights] base`` (default
``owner_only``), configured with Radicale's own ``[rights]`` options.
"""

from __future__ import annotations

import logging
import time

from radicale import config as radicale_config
from radicale import pathutils, rights, utils
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.core.addresses import AddressBook
from radicale_tracks.db.engine import shared_engine
from radicale_tracks.db.session import Database
from radicale_tracks.plugin.schedule_boxes import is_schedule_box
from radicale_tracks.rooms.directory import RoomDirectory, configured_rooms
from radicale_tracks.settings import Settings
from radicale_tracks.tracks.store import is_member_user

logger = logging.getLogger("radicale.tracks.rights")

#: seconds the rights plugin keeps the room list before reading it again
ROOMS_TTL = 5.0


class Rights(rights.BaseRights):
    def __init__(self, configuration: radicale_config.Configuration) -> None:
        super().__init__(configuration)
        self.settings = Settings.from_configuration(configuration)
        configured_rooms(self.settings)  # a bad rooms line stops the start, naming it
        self.base: rights.BaseRights = utils.load_plugin(
            rights.INTERNAL_TYPES, "rights", "Rights", rights.BaseRights,
            _with_rights_type(configuration, self.settings.rights_base))
        self.book = AddressBook.build(self.settings.domain, self.settings.assistant_address,
                                      self.settings.addresses)
        self.database = Database(shared_engine(self.settings.database_url,
                                            self.settings.database_pool_size))
        self.principal = self.settings.assistant_principal
        self._rooms: RoomDirectory | None = None
        self._rooms_read_at = 0.0

    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        parts = pathutils.strip_path(path).split("/")
        if len(parts) >= 2 and is_schedule_box(parts[1]):
            # "r" for the inbox (a calendar), "R" for the outbox (a plain collection)
            return "rR" if user and parts[0] == user else ""
        if parts[0] != self.principal:
            if user and parts[0] != user and self._delegate_of(user, parts[0]):
                return "rw" if len(parts) >= 2 and parts[1] else "R"
            return self.base.authorization(user, user_groups, path)
        if user == self.principal:
            return self.base.authorization(user, user_groups, path)
        if len(parts) < 2 or not user:
            return ""
        try:
            with self.database.connect() as connection:
                member = is_member_user(connection, parts[1], user,
                                        self.book.addresses_of(user))
        except SQLAlchemyError:
            logger.exception("Track membership unknown (database); %r denied %r", user, path)
            return ""
        return "r" if member else ""


    def _delegate_of(self, user: str, principal: str) -> bool:
        """Whether ``user`` manages the room ``principal`` (rooms re-read at most every
        few seconds: ``rooms add`` takes effect without a restart)."""
        now = time.monotonic()
        if self._rooms is None or now - self._rooms_read_at > ROOMS_TTL:
            try:
                with self.database.connect() as connection:
                    self._rooms = RoomDirectory.load(connection,
                                                     configured_rooms(self.settings))
            except SQLAlchemyError:
                logger.exception("Rooms unknown (database); delegation not applied")
                self._rooms = RoomDirectory(configured_rooms(self.settings), ())
            self._rooms_read_at = now
        room = self._rooms.by_principal(principal)
        return room is not None and user in room.delegates


def _with_rights_type(configuration: radicale_config.Configuration,
                      type_: str) -> radicale_config.Configuration:
    """A copy of the configuration whose ``[rights] type`` is the base type."""
    copy = configuration.copy()
    copy.update({"rights": {"type": type_}}, "radicale-tracks rights base", privileged=True)
    return copy
