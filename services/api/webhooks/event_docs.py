"""The webhook contract in the OpenAPI document: one `webhooks` entry per event type, its body
the Standard Webhooks envelope around that type's `data` model (shared.event_types)."""

from __future__ import annotations

from fastapi import FastAPI

from shared.event_types import EVENT_DATA, Envelope

_DESCRIPTION = (
    "Sent to every endpoint subscribed to this type, signed with the endpoint's secret: "
    "headers `webhook-id` (the event id), `webhook-timestamp` and `webhook-signature` "
    "(`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). Answer 2xx within the timeout; "
    "anything else is retried with backoff."
)


def document_events(app: FastAPI) -> None:
    """Add one webhook operation per event type to `app.webhooks`."""
    for event_type, data_model in EVENT_DATA.items():

        def receive(envelope: Envelope) -> None:  # type: ignore[type-arg]
            """Never called: documents what a subscriber receives."""

        receive.__annotations__ = {"envelope": Envelope[data_model], "return": None}  # type: ignore[valid-type]
        app.webhooks.add_api_route(
            str(event_type),
            receive,
            methods=["POST"],
            summary=(data_model.__doc__ or str(event_type)).strip().splitlines()[0],
            description=_DESCRIPTION,
            operation_id=f"webhook_{event_type.replace('.', '_')}",
            tags=["webhook events"],
        )
