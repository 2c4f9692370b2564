"""Options: typed at start-up, defaults that work alone, shown by ``info``, documented."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import PLUGIN, RadicaleServer, run_cli, write_config
from radicale_tracks.settings import STORAGE_OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def config_with(tmp_path: Path, **options: str) -> Path:
    return write_config(tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN, 5232,
                        options)


def test_defaults_work_on_one_machine(tmp_path: Path) -> None:
    result = run_cli(config_with(tmp_path), "info")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    folder = str(tmp_path / "collections")
    assert info["database_url"] == "sqlite:///%s/tracks.sqlite3" % folder
    assert info["maildir"] == "%s/maildir" % folder
    assert info["mail_transport"] == "maildir"
    assert info["domain"] == "localhost"
    assert info["assistant_address"] == "assistant@localhost"
    assert info["base_url"] == "http://127.0.0.1:5232"
    # inbound mail: nothing is believed unless it is authenticated (or the admin opts in)
    assert info["inbound_trusted_authserv_ids"] == []
    assert info["inbound_trust_unauthenticated_senders"] is False


def test_info_shows_configured_values_and_hides_the_password(tmp_path: Path) -> None:
    result = run_cli(config_with(
        tmp_path, domain="Example.ORG", database_url="postgresql+psycopg://u:s3cret@db/tracks",
        base_url="https://cal.example.org/"), "info")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert "s3cret" not in result.stdout
    assert info["database_url"] == "postgresql+psycopg://u:***@db/tracks"
    assert info["assistant_address"] == "assistant@example.org"
    assert info["base_url"] == "https://cal.example.org"


@pytest.mark.parametrize(("option", "value"), [
    ("index_horizon_days", "0"), ("index_past_days", "-1"),
    ("index_max_occurrences", "many"), ("mail_transport", "pigeon"),
    ("domain", "not a domain"), ("assistant_address", "nobody"),
    ("assistant_address", "assistant+x@example.org"), ("base_url", "ftp://x"),
    ("database_url", "not-a-url"), ("smtp_security", "ssl"), ("smtp_port", "70000"),
    ("addresses", "alice bob@example.org"), ("join_url_template", "https://x/{nope}"),
    ("mail_templates", "/no/such/folder"), ("assistant_principal", "a/b"),
    ("outbox_retry_base", "0"), ("from_email", "nobody"), ("database_pool_size", "-1"),
    ("display_names", "alice Alice Adams"), ("display_names", "alice:"),
    ("display_names", 'alice: Alice "the boss" Adams'), ("display_names", "a/b: Someone")])
def test_bad_value_is_refused_naming_option_and_value(tmp_path: Path, option: str,
                                                      value: str) -> None:
    result = run_cli(config_with(tmp_path, **{option: value}), "info")
    assert result.returncode == 2
    assert option in result.stderr and value in result.stderr
    assert "Traceback" not in result.stderr


def test_trusting_unauthenticated_senders_and_an_authserv_id_contradict(tmp_path: Path
                                                                          ) -> None:
    result = run_cli(config_with(tmp_path, inbound_trusted_authserv_ids="mx.example.org",
                                 inbound_trust_unauthenticated_senders="True"), "info")
    assert result.returncode == 2
    assert "inbound_trust_unauthenticated_senders" in result.stderr
    assert "inbound_trusted_authserv_ids is set" in result.stderr
    assert "Traceback" not in result.stderr
    shown = json.loads(run_cli(config_with(
        tmp_path, inbound_trust_unauthenticated_senders="True"), "info").stdout)
    assert shown["inbound_trust_unauthenticated_senders"] is True


BAD_ROOMS = "\n    atlas@localhost: name=Atlas\n    vega@localhost: capacity=many"


@pytest.mark.parametrize("command", [("info",), ("tracks", "list"), ("outbox", "list"),
                                     ("rooms", "list"), ("quarantine", "list")])
def test_a_bad_rooms_line_stops_every_command_naming_it(tmp_path: Path,
                                                         command: tuple[str, ...]) -> None:
    """Settings keep the rooms as text and ``rooms/`` parses it; the line is still
    refused at load, by every command, not only by those that use rooms."""
    result = run_cli(config_with(tmp_path, rooms=BAD_ROOMS), *command)
    assert result.returncode == 2, result.stderr
    assert "Invalid value for option 'rooms' in section 'storage', line 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_rooms_line_stops_the_storage(tmp_path: Path) -> None:
    from radicale_tracks.errors import ConfigurationError
    from radicale_tracks.plugin.rights import Rights
    from radicale_tracks.plugin.storage import Storage
    from radicale_tracks.settings import load_settings

    configuration, settings = load_settings(str(config_with(tmp_path, rooms=BAD_ROOMS)))
    assert settings.rooms.strip().startswith("atlas@localhost")  # the text, unparsed
    for plugin in (Storage, Rights):
        with pytest.raises(ConfigurationError, match="option 'rooms'.*line 3"):
            plugin(configuration)


def test_info_shows_the_configured_rooms(tmp_path: Path) -> None:
    result = run_cli(config_with(tmp_path, rooms="atlas@localhost: name=Atlas; capacity=8"),
                     "info")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rooms"] == {
        "atlas@localhost": "Atlas (ROOM, 8 seats) pools: -; policy: if-free"}


def test_unknown_option_is_refused_by_name(tmp_path: Path) -> None:
    result = run_cli(config_with(tmp_path, index_horizon="30"), "info")
    assert result.returncode == 2
    assert "Invalid option 'index_horizon' in section 'storage'" in result.stderr


def test_server_does_not_start_with_a_bad_value(tmp_path: Path) -> None:
    server = RadicaleServer(tmp_path / "bad", storage_options={"index_horizon_days": "soon"})
    with pytest.raises(RuntimeError) as failure:
        server.start(timeout=20)
    assert "index_horizon_days" in str(failure.value) and "soon" in str(failure.value)


def test_admin_doc_lists_every_option_with_its_default() -> None:
    text = (ROOT / "docs" / "admin.md").read_text()
    for option, spec in STORAGE_OPTIONS.items():
        row = re.search(r"^\| `%s` \| ([^|]*) \|" % option, text, re.M)
        assert row, "docs/admin.md has no row for %s" % option
        default = row.group(1).strip()
        if spec["value"]:
            assert default == "`%s`" % spec["value"], option
        else:
            assert default.startswith("("), option


def test_cli_without_command_prints_usage() -> None:
    result = subprocess.run([sys.executable, "-m", "radicale_tracks.cli"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "reindex" in result.stderr


def test_display_names_are_read_and_shown(tmp_path: Path) -> None:
    result = run_cli(config_with(tmp_path, display_names="\n    alice: Alice  Adams\n"
                                                         "    bob: Bob Brown"), "info")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["display_names"] == {"alice": "Alice Adams",
                                                          "bob": "Bob Brown"}
