"""Tracks: the assistant's calendars, one per meeting series, and what it knows of them."""
