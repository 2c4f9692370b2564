"""RFC 6638 CalDAV scheduling: implicit scheduling between users, iMIP for the rest,
free-busy through the outbox, Schedule-Tags. A service: it never imports Radicale."""
