"""The durable outbox: every outgoing mail is a row first, sent later by a worker."""
