"""Admins ' view of the mail taken in: what was quarantined or dropped, and why."""
