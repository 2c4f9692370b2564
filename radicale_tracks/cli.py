"""``radicale-tracks``: the console script's entry point (also ``python -m
radicale_tracks.cli``). The commands live in :mod:`radicale_tracks.commands`."""

from __future__ import annotations

import sys

from radicale_tracks.commands.main import EXIT_BROKEN_PIPE, EXIT_CONFIG, EXIT_FAILED, _parser, main

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_CONFIG", "EXIT_FAILED", "_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
