"""Bookings made for customers: the row that remembers them, the customer's signed link,
the words of the customer's mails and the reminders."""
