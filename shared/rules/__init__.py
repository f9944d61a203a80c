"""Rules: conditions on a ticket and its event, and actions on the ticket.

Triggers run them on events (the worker); time-based automations and macros are meant to reuse
the same conditions, actions and executor. Nothing here knows which kind of rule it serves.
"""
