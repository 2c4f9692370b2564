"""The SQL index: a derived, rebuildable view of the ``.ics`` files.

- :mod:`.schema` the tables; :mod:`.database` engines and schema revision checks;
- :mod:`.extract` what one calendar object contributes (bounds, occurrences, busy time);
- :mod:`.store` reads and writes of the index, drift detection and repair.
"""
