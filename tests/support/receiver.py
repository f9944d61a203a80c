"""A real webhook receiver on loopback: records every request and answers as told."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    # Wall-clock arrival time, comparable with the server's timestamps.
    received_at: float
    # The sender's port: one per TCP connection, so requests sharing it shared a connection.
    client_port: int


@dataclass
class Behaviour:
    """Status codes to answer with in turn (the last one repeats), a delay before answering,
    and extra headers."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class WebhookReceiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.behaviours: dict[str, Behaviour] = {}
        self._answered: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, behaviour = receiver._record(
                    self.path, dict(self.headers.items()), body, self.client_address[1]
                )
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                self.send_response(status)
                for name, value in behaviour.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the notifier gave up waiting: that is the point of a hanging receiver

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(
        self, path: str, headers: dict[str, str], body: bytes, client_port: int
    ) -> tuple[int, Behaviour]:
        with self._lock:
            self.requests.append(
                Received(
                    path,
                    {k.lower(): v for k, v in headers.items()},
                    body,
                    time.monotonic(),
                    time.time(),
                    client_port,
                )
            )
            behaviour = self.behaviours.get(path, Behaviour())
            turn = self._answered.get(path, 0)
            self._answered[path] = turn + 1
        return behaviour.statuses[min(turn, len(behaviour.statuses) - 1)], behaviour

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def event_ids(self, path: str) -> list[str]:
        return [request.headers["webhook-id"] for request in self.at(path)]

    def connections(self, path: str) -> int:
        """How many TCP connections the requests to `path` came on."""
        return len({request.client_port for request in self.at(path)})


def verified(request: Received, secret: str) -> dict[str, object]:
    """The payload, verified exactly as an integrator would with the standardwebhooks library."""
    headers = {
        name: request.headers[name]
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    payload = Webhook(secret).verify(request.body, headers)
    assert isinstance(payload, dict)
    return payload


def fails_verification(request: Received, secret: str) -> bool:
    try:
        verified(request, secret)
    except WebhookVerificationError:
        return True
    return False


@contextmanager
def running_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
