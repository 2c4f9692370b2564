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

import json
import os
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable

from radicale import config as radicale_config

from radicale_tracks.errors import ConfigurationError

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
MAIL_TRANSPORTS = ("maildir", "smtp")


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


def _option(value: str, type_: Callable[[Any], Any], help_: str) -> dict[str, Any]:
    return {"value": value, "type": type_, "help": help_}


#: Options the plugin adds to Radicale's ``[storage]`` section.
STORAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "database_url": _option(
        "", _database_url,
        "SQLAlchemy URL of the index and scheduling database; empty means a SQLite file "
        "tracks.sqlite3 inside filesystem_folder"),
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
        "Radicale's back (added or removed files and the files a query returns are "
        "checked every time); 0 scans on every query"),
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
        "host>"),
    "mail_transport": _option(
        "maildir", _mail_transport, "where outgoing mail goes: maildir or smtp"),
    "maildir": _option(
        "", str, "Maildir for outgoing mail; empty means maildir inside filesystem_folder"),
}

PLUGIN_CONFIG_SCHEMA: dict[str, dict[str, dict[str, Any]]] = {"storage": STORAGE_OPTIONS}

DEFAULT_DATABASE_FILE = "tracks.sqlite3"
DEFAULT_MAILDIR = "maildir"


@dataclass(frozen=True)
class Settings:
    """The effective plugin settings, with every default resolved."""

    filesystem_folder: str
    database_url: str
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

    @classmethod
    def from_configuration(cls, configuration: radicale_config.Configuration) -> "Settings":
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
        maildir = get("maildir") or os.path.join(folder, DEFAULT_MAILDIR)
        base_url = get("base_url") or _default_base_url(typed)
        return cls(
            filesystem_folder=folder,
            database_url=database_url,
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
        )

    def public_dict(self) -> dict[str, Any]:
        """Settings as shown to admins: the database password is never printed."""
        from sqlalchemy.engine import make_url

        shown = asdict(self)
        shown["database_url"] = make_url(self.database_url).render_as_string(
            hide_password=True)
        return shown

    def to_json(self) -> str:
        return json.dumps(self.public_dict(), indent=2, sort_keys=True)


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
