"""A real SMTP server on loopback (aiosmtpd) that catches the mail sent to it, and answers
as a test scripts it (451, 550, …) before accepting."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.processes import free_port


class CatchingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        # Answers given to the next DATA commands, before the server accepts again.
        self.scripted: list[str] = []
        self.lock = threading.Lock()
        # How long each DATA is held before the answer (a slow or tarpitting server).
        self.delay_seconds = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        with self.lock:
            if self.scripted:
                return self.scripted.pop(0)
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 2.0.0 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def about(self, ticket_id: int) -> list[EmailMessage]:
        """Messages of one ticket (their Message-ID names it)."""
        with self.lock:
            return [m for m in self.messages if f"<ticket-{ticket_id}-" in m["Message-ID"]]


class SmtpServer:
    def __init__(self, controller: Controller, handler: CatchingHandler, port: int) -> None:
        self.controller = controller
        self.handler = handler
        self.port = port


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    handler = CatchingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(controller, handler, port)
    finally:
        controller.stop()
