"""``radicale-tracks``: the admin's command line — the parser and ``main``.

``radicale_tracks/cli.py`` is the entry point (``radicale-tracks``, ``python -m
radicale_tracks.cli``) and only calls :func:`main`; each command group lives in its own
module of this package.

Every command reads the same Radicale config file as the server (``--config``, or
Radicale's own ``RADICALE_CONFIG`` variable) and reports problems as one line naming what
is wrong, with exit status 2 for bad configuration and 1 for a failed check.

The global options may stand before or after the command (``radicale-tracks serve
--config FILE`` is how ``radicale`` users type it); everything after ``serve`` is
Radicale's own command line. Output into a pipe that closes early (``| head -1``) ends
the command quietly with 141, as a program killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from radicale_tracks.commands import admin
from radicale_tracks.errors import TracksError

EXIT_FAILED = 1
EXIT_CONFIG = 2
#: what a shell reports for a program killed by SIGPIPE (128 + 13)
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    head, serve_args = _split_serve(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(head)
    if serve_args is not None:
        args.verbose = args.verbose or "--verbose" in serve_args
        args.radicale_args = [a for a in serve_args if a != "--verbose"]
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except TracksError as e:
        print("radicale-tracks: %s" % e, file=sys.stderr)
        return EXIT_CONFIG


def _broken_pipe() -> int:
    """The reader went away (``| head``): stop quietly, as the Python documentation
    advises — stdout pointed at devnull so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is no file descriptor (a test's capture): nothing to flush at exit
    return EXIT_BROKEN_PIPE


def _split_serve(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """(our part of the command line, Radicale's part after ``serve``, or None).

    argparse cannot hand ``serve`` the rest of the line untouched once ``--config`` is
    also an option after it, so ``serve`` is found here: the first word that is not a
    global option (or its value).
    """
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--config":
            index += 2
        elif word.startswith("--config=") or word == "--verbose":
            index += 1
        elif word == "serve":
            return argv[:index + 1], argv[index + 1:]
        else:
            break
    return argv, None


def _global_options(parser: argparse.ArgumentParser, after_command: bool) -> None:
    """``--config`` and ``--verbose``; after a command they only override what was
    given before it (SUPPRESS: no default of their own)."""
    config: object = argparse.SUPPRESS if after_command else os.environ.get(
        "RADICALE_CONFIG")
    verbose: object = argparse.SUPPRESS if after_command else False
    parser.add_argument("--config", default=config,
                        help="Radicale config file (default: $RADICALE_CONFIG)")
    parser.add_argument("--verbose", action="store_true", default=verbose,
                        help="log at DEBUG level")


def _add_global_options_to_commands(parser: argparse.ArgumentParser) -> None:
    """Every command and sub-command takes the global options after it too."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                if parser.prog == "radicale-tracks" and name == "serve":
                    continue  # Radicale's command line: _split_serve
                _global_options(command, after_command=True)
                _add_global_options_to_commands(command)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radicale-tracks", description="Administer a Radicale with radicale-tracks.")
    _global_options(parser, after_command=False)
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser(
        "serve", help="run the server: Radicale's own server, options and logging, with "
        "the radicale-tracks application", add_help=False)
    serve.add_argument("radicale_args", nargs=argparse.REMAINDER,
                       help="any option of 'radicale' (see 'radicale --help')")
    serve.set_defaults(handler=admin.serve)

    info = commands.add_parser("info", help="print the effective settings as JSON")
    info.set_defaults(handler=admin.info)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="migrate the schema to this version")
    db_upgrade.set_defaults(handler=admin.db_upgrade)
    db_current = db_commands.add_parser("current", help="print the schema revision")
    db_current.set_defaults(handler=admin.db_current)

    reindex = commands.add_parser("reindex", help="rebuild the index from the files")
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")
    reindex.add_argument("--jobs", type=_jobs, default=os.cpu_count() or 1,
                         help="processes parsing files (default: one per CPU)")
    reindex.set_defaults(handler=admin.reindex)

    migrate = commands.add_parser(
        "migrate", help="copy calendar data into the other item store (servers stopped)")
    migrate.add_argument("--to", required=True, choices=("database", "files"),
                         help="the item store to fill (it must be empty)")
    migrate.add_argument("--quiet", action="store_true", help="no progress bar")
    migrate.set_defaults(handler=admin.migrate)

    verify = commands.add_parser(
        "verify", help="compare index and files; exit 1 on any difference")
    verify.add_argument("--repair", action="store_true",
                        help="finish writes a killed process left, and re-index what "
                             "differs (exit 0 when all is repaired)")
    verify.set_defaults(handler=admin.verify)

    from radicale_tracks.commands.availability import add_commands as add_availability_commands
    from radicale_tracks.commands.inbound import add_commands as add_inbound_commands
    from radicale_tracks.commands.outbox import add_commands as add_outbox_commands
    from radicale_tracks.commands.rooms import add_commands as add_rooms_commands
    from radicale_tracks.commands.tracks import add_commands as add_tracks_commands

    add_tracks_commands(commands)
    add_outbox_commands(commands)
    add_inbound_commands(commands)
    add_rooms_commands(commands)
    add_availability_commands(commands)
    _add_global_options_to_commands(parser)
    return parser


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if not 1 <= jobs <= 64:
        raise argparse.ArgumentTypeError("--jobs takes a number from 1 to 64, not %r" % value)
    return jobs
