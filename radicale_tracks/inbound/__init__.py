"""Inbound iMIP: mail from other calendars to the assistant, tracks and users here."""
