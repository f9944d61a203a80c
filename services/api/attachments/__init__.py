"""Attachments over REST: uploads on tickets and comments, metadata and downloads."""
