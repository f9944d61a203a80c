"""A webhook receiver for the soak test, in its own process: it verifies every delivery's
Standard Webhooks signature with the `standardwebhooks` library and counts, per webhook-id, the
deliveries it accepted. With a failure rate it answers 500 to that share of valid deliveries
(counted apart), so the notifier has to retry them.

    .venv/bin/python -m soak.receiver PORT FAILURE_RATE

Control paths: `POST /_secret` (the endpoint's signing secret, once the webhook is registered;
until then every delivery gets 503) and `GET /_report`.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from typing import Any

import orjson
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, failure_rate: float) -> None:
        self.failure_rate = failure_rate
        self.verifier: Webhook | None = None
        self.accepted: Counter[str] = Counter()  # webhook-id -> deliveries answered 200
        self.refused = 0  # valid deliveries answered 500 on purpose
        self.invalid: list[str] = []  # why a delivery failed verification
        self.unconfigured = 0  # deliveries before the secret was known (answered 503)
        self.cut_off = 0  # requests whose sender disappeared before the body was complete

    def deliver(self, body: bytes, headers: dict[str, str]) -> int:
        if self.verifier is None:
            self.unconfigured += 1
            return 503
        try:
            envelope = self.verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            self.invalid.append(f"{headers.get('webhook-id', '?')}: {exc}")
            return 400
        webhook_id = headers["webhook-id"]
        if not isinstance(envelope, dict) or envelope.get("id") != webhook_id:
            self.invalid.append(f"{webhook_id}: the body's id is not the webhook-id")
            return 400
        if random.random() < self.failure_rate:
            self.refused += 1
            return 500
        self.accepted[webhook_id] += 1
        return 200

    def report(self) -> dict[str, Any]:
        return {
            "accepted": dict(self.accepted),
            "refused": self.refused,
            "invalid": self.invalid,
            "unconfigured": self.unconfigured,
            "cut_off": self.cut_off,
        }


async def _body(receive: Any) -> bytes | None:
    """The request's body; None when the sender went away before sending all of it (a notifier
    killed in the middle of a delivery): that is no delivery, and a half body no forgery."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes = b'"ok"') -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def asgi_app(receiver: Receiver) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if scope["method"] == "GET" and path == "/_report":
            await _answer(send, 200, orjson.dumps(receiver.report()))
            return
        body = await _body(receive)
        if body is None:
            receiver.cut_off += 1
            return
        if path == "/_secret":
            receiver.verifier = Webhook(body.decode())
            await _answer(send, 204, b"")
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        await _answer(send, receiver.deliver(body, headers))

    return app


if __name__ == "__main__":
    port, failure_rate = int(sys.argv[1]), float(sys.argv[2])
    uvicorn.run(
        asgi_app(Receiver(failure_rate)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
