"""The command line as admins type it: global options anywhere, pipes that close early."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import PLUGIN, free_port, write_config

CLI = [sys.executable, "-m", "radicale_tracks.cli"]


def config_at(tmp_path: Path, port: int = 5232, **options: str) -> Path:
    return write_config(tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN, port,
                        {"domain": "example.org", **options})


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                  ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command line path (``tracks list``, ``info``…) and its parser."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
    for action in subparsers:
        for name, child in action.choices.items():
            yield from leaf_commands(child, path + (name,))


def test_every_command_takes_the_global_options_after_it() -> None:
    from radicale_tracks import cli

    parser = cli._parser()
    found = dict(leaf_commands(parser))
    assert ("tracks", "list") in found and ("quarantine", "release") in found
    for path, child in found.items():
        if path == ("serve",):
            continue  # everything after serve is Radicale's; checked below
        options = child._option_string_actions
        assert "--config" in options and "--verbose" in options, " ".join(path)
        assert options["--config"].default is argparse.SUPPRESS, " ".join(path)


@pytest.mark.parametrize("argv", [
    ["info", "--config", "{config}"],
    ["info", "--config={config}", "--verbose"],
    ["--config", "/nonexistent.conf", "info", "--config", "{config}"],
    ["--verbose", "info", "--config", "{config}"],
], ids=["after", "after-equals", "after-wins", "verbose-before"])
def test_config_after_the_command(tmp_path: Path, argv: list[str]) -> None:
    config = config_at(tmp_path)
    result = subprocess.run(CLI + [a.replace("{config}", str(config)) for a in argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["domain"] == "example.org"


def test_config_after_nested_commands(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    for argv in (["tracks", "list", "--config", str(config)],
                 ["quarantine", "list", "--config", str(config), "--all"],
                 ["db", "current", "--verbose", "--config", str(config)],
                 ["outbox", "list", "--config", str(config)],
                 ["rooms", "list", "--config", str(config)]):
        result = subprocess.run(CLI + argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (argv, result.stderr)
        assert "Traceback" not in result.stderr


def test_unknown_options_are_still_refused(tmp_path: Path) -> None:
    result = subprocess.run(CLI + ["info", "--config", str(config_at(tmp_path)), "--nope"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unrecognized arguments: --nope" in result.stderr


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("serve exited with %s: %s" % (
                process.returncode, process.communicate()[0].decode(errors="replace")))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve did not listen on %d" % port)


@pytest.mark.parametrize("radicale_options", [[], ["--hosts", "127.0.0.1:{port}"]],
                         ids=["config-only", "with-radicale-options"])
def test_serve_takes_config_after_the_command(tmp_path: Path,
                                              radicale_options: list[str]) -> None:
    port = free_port()
    config = config_at(tmp_path, port=free_port() if radicale_options else port)
    options = [o.replace("{port}", str(port)) for o in radicale_options]
    process = subprocess.Popen(CLI + ["serve", "--config", str(config), *options],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               cwd=tmp_path)
    try:
        _wait_listening(process, port)
        import requests

        answer = requests.request("OPTIONS", "http://127.0.0.1:%d/" % port, timeout=10)
        assert "calendar-auto-schedule" in answer.headers.get("DAV", ""), answer.headers
    finally:
        process.terminate()
        process.communicate(timeout=30)


# -- closed pipes --------------------------------------------------------------------------

def test_tracks_list_into_a_pipe_closed_after_one_line(tmp_path: Path) -> None:
    from radicale_tracks.db.engine import create_database_engine, ensure_schema
    from radicale_tracks.settings import load_settings
    from radicale_tracks.tracks import store

    config = config_at(tmp_path)
    (tmp_path / "collections").mkdir()
    _configuration, settings = load_settings(str(config))
    engine = create_database_engine(settings.database_url)
    ensure_schema(engine)
    with engine.begin() as connection:
        for number in range(600):  # ~600 bytes a line: far beyond a 64 KiB pipe buffer
            store.insert_track(connection, slug="t%05d" % number, token="k%05d" % number,
                               feed_token="f%05d" % number, title="Weekly sync " + "x" * 500,
                               organizer="alice@example.org", organizer_user="alice",
                               now=1_800_000_000 + number)
    engine.dispose()

    process = subprocess.Popen(CLI + ["tracks", "list", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # `| head -1`
    stderr = process.stderr.read().decode(errors="replace")
    code = process.wait(timeout=120)
    assert first.startswith(b"t0")
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert stderr == ""
    assert code in (0, 141)


def test_info_into_a_closed_pipe(tmp_path: Path) -> None:
    """Even output smaller than the buffer: the write that fails is the flush at exit."""
    config = config_at(tmp_path)
    process = subprocess.Popen(CLI + ["info", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()
    _out, stderr = process.communicate(timeout=60)
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr, stderr
    assert process.returncode in (0, 141)
