"""Mail out: staff's public replies, resolutions and acknowledgements of new tickets, mailed to
the requester and CCs. The worker records one message per recipient in the transaction that
marks the event handled (`recording`); `worker.send_mail` sends what is due (`sending`)."""
