"""Rooms and resources: principals that answer invitations by their booking policy."""
