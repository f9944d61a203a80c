"""Mail in: an SMTP receiver that turns support mail into tickets and public replies."""
