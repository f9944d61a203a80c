"""Followers (staff following a ticket) and CCs (customers copied on it)."""
