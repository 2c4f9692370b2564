"""The database shared by the index, the tracks and the outbox: engines, schema revision."""
