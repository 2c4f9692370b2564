"""The pure core: iCalendar, iTIP and availability logic.

No I/O, no clock, no randomness, no Radicale, no SQLAlchemy: callers pass ``now`` and
factories. ``tests/test_layers.py`` checks that imports here only point inward.
"""
