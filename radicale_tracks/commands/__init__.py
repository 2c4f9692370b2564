"""The command line, one module per command group (issue 18 item 3).

Commands are adapters: they parse arguments, call services (``tracks/``, ``inbound/``,
``rooms/``, ``outbox/`` …) and adapters (``plugin/``), and print. No service imports
anything from here; ``radicale_tracks/cli.py`` is the console script's entry point.
"""
