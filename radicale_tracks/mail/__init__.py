"""Outgoing mail: rendering the assistant's messages as RFC 6047 iMIP."""
