"""Figures of other helpdesks, quoted from the fast-path issue as reference rows: not measured by
this harness (nothing of theirs is installed here), printed beside this run's own figures."""

from __future__ import annotations

from bench.report import Row

SOURCE = "quoted from the issue, same machine class; not measured here"

# django-helpdesk on synchronous gunicorn processes: ticket creations a second.
DJANGO_HELPDESK_CREATIONS = {1: 105.0, 2: 230.0}


def reference_rows(post_per_second: dict[int, float]) -> list[Row]:
    """One row per process count, with this run's POST /tickets (64 connections) beside it."""
    rows = []
    for processes, creations in DJANGO_HELPDESK_CREATIONS.items():
        ours = post_per_second.get(processes)
        this_run = (
            f"this run, api --workers {processes}: {ours:,.0f} req/s (64 connections)"
            if ours is not None
            else ""
        )
        rows.append(
            Row(
                measurement=f"reference: django-helpdesk, {processes} sync gunicorn "
                f"process{'es' if processes > 1 else ''}, ticket creations",
                value=creations,
                unit="tickets/s",
                target="(reference)",
                detail="; ".join(part for part in (SOURCE, this_run) if part),
                reference=True,
            )
        )
    return rows
