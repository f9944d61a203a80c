"""Celery task names: services enqueue work by name, never by importing the worker."""

HANDLE_EVENT = "worker.handle_event"
# Several events published together: one task for the lot.
HANDLE_EVENTS = "worker.handle_events"
REFRESH_STATS = "worker.refresh_stats"
SCAN_SLA_BREACHES = "worker.scan_sla_breaches"
# The time-based automations over the tickets their conditions hold for.
SCAN_AUTOMATIONS = "worker.scan_automations"
RELAY_OUTBOX = "worker.relay_outbox"
# Events a consumer has not recorded in time (Redis lost them) published again.
RECONCILE_OUTBOX = "worker.reconcile_outbox"
PRUNE_PROCESSED_EVENTS = "worker.prune_processed_events"
# Idempotency-Key answers past their time to live.
PRUNE_IDEMPOTENCY_KEYS = "worker.prune_idempotency_keys"
# Mail out: send the recorded messages that are due.
SEND_MAIL = "worker.send_mail"
