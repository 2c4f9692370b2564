"""``radicale-tracks serve|info|db upgrade|db current|reindex|verify``: the server and
its index, run from the command line."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_FAILED = 1


def serve(args: argparse.Namespace) -> int:
    """Run ``radicale`` itself (same options, logging, TLS) with our application class.

    The settings are checked first, so that a node that must not start (a bad option,
    ``item_store = database`` on PostgreSQL without ``base_url``) exits 2 naming the
    option, as every other command does, before Radicale starts listening."""
    import radicale.__main__
    import radicale.server

    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.plugin.application import Application

    if args.config:
        load_settings(args.config)

    # radicale.server imports Application without re-exporting it (hence the ignore);
    # its serve() builds whatever this name holds.
    radicale.server.Application = Application  # type: ignore[attr-defined]
    config_args = ["--config", args.config] if args.config else []
    sys.argv = ["radicale-tracks serve", *config_args, *args.radicale_args]
    radicale.__main__.run()
    return 0


def info(args: argparse.Namespace) -> int:
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.rooms.directory import configured_rooms, describe_rooms

    _configuration, settings = load_settings(args.config)
    shown = settings.public_dict()
    shown["rooms"] = describe_rooms(configured_rooms(settings))
    shown["item_store_means"] = _item_store_means(settings.item_store,
                                                  shown["database_url"])
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


def _item_store_means(item_store: str, database_url: str) -> str:
    """``item_store`` in a sentence for ``info``: where calendar data lives."""
    if item_store == "database":
        return ("database mode: calendar data lives in the database %s, not in "
                "filesystem_folder; every node with this database_url serves the same "
                "calendars" % database_url)
    return ("files: calendar data lives in .ics files under filesystem_folder, the "
            "database %s holds the index" % database_url)


def db_upgrade(args: argparse.Namespace) -> int:
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.db.engine import create_database_engine, current_revision, upgrade

    _configuration, settings = load_settings(args.config)
    engine = create_database_engine(settings.database_url)
    before = current_revision(engine)
    upgrade(engine)
    print("database %s: %s -> %s" % (engine.url.render_as_string(hide_password=True),
                                     before or "(new)", current_revision(engine)))
    return 0


def db_current(args: argparse.Namespace) -> int:
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.db.engine import create_database_engine, current_revision

    _configuration, settings = load_settings(args.config)
    print(current_revision(create_database_engine(settings.database_url)) or "(none)")
    return 0


def reindex(args: argparse.Namespace) -> int:
    from radicale_tracks.plugin.maintenance import reindex

    storage = _storage(args.config)
    bar = None if args.quiet else ProgressBar(sys.stderr)
    report = reindex(storage, bar, jobs=args.jobs)
    if bar:
        bar.finish()
    print("reindexed %d collections, %d items, %d unreadable" % (
        report.collections, report.items, report.failed))
    return EXIT_FAILED if report.failed else 0


def verify(args: argparse.Namespace) -> int:
    from radicale_tracks.plugin.maintenance import repair, verify

    storage = _storage(args.config)
    recovery = storage.last_recovery
    if recovery.committed or recovery.rolled_back:
        print("finished %d interrupted writes: %d had committed (kept), %d had not "
              "(files put back)" % (len(recovery.committed) + len(recovery.rolled_back),
                                    len(recovery.committed), len(recovery.rolled_back)))
    if args.repair:
        report = repair(storage)
        if report.committed or report.rolled_back:
            print("finished %d interrupted writes" % (report.committed + report.rolled_back))
        for difference in report.repaired:
            print("repaired: %s" % difference)
    differences = verify(storage)
    for difference in differences:
        print(difference)
    if differences:
        print("%d differences between index and files; 'radicale-tracks reindex' "
              "rebuilds the index" % len(differences), file=sys.stderr)
        return EXIT_FAILED
    print("index and files agree")
    return 0


def migrate(args: argparse.Namespace) -> int:
    """Calendar data copied into the other backend (``plugin/item_store_moves.py``)."""
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.plugin.item_store_moves import backend, move_items

    configuration, settings = load_settings(args.config)
    source_store = "files" if args.to == "database" else "database"
    source, target = backend(configuration, source_store), backend(configuration, args.to)
    bar = None if args.quiet else ProgressBar(sys.stderr)
    report = move_items(source, target, bar)
    if bar:
        bar.finish()
    print("moved %d collections and %d objects from %s to %s; set [storage] item_store = "
          "%s in the config and start the server%s" % (
              report.collections, report.items, source_store, args.to, args.to,
              "" if settings.item_store == args.to else
              " (the config still says %s)" % settings.item_store))
    return 0


def _storage(config_path: str | None):  # type: ignore[no-untyped-def]
    from radicale_tracks.plugin.backends import open_storage

    return open_storage(config_path)[0]


class ProgressBar:
    """A one-line progress bar on a terminal; a line per tenth elsewhere (logs, CI)."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int, what: str) -> None:
        fraction = done / total if total else 1.0
        if self.tty:
            filled = int(fraction * 30)
            self.stream.write("\r[%s%s] %d/%d %s" % (
                "#" * filled, " " * (30 - filled), done, total, what[-30:].ljust(30)))
            self.stream.flush()
        elif int(fraction * 10) != self.shown:
            self.shown = int(fraction * 10)
            self.stream.write("%3d%% %d/%d %s\n" % (fraction * 100, done, total, what))

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
