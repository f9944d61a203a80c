"""Mixed traffic at a steady rate from an asyncio client, and a ledger of every write the API
acknowledged (ticket ids, comment ids, field changes), every 5xx and every connection error.

Creates and comments carry an Idempotency-Key and are retried with it on connection errors and
5xx answers, so a write whose answer was lost is neither lost nor counted twice. Changes are
read-modify-write with If-Match, so a 2xx always means a real change with a history row."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

WORDS = ["printer", "invoice", "password", "vpn", "laptop", "refund", "email", "crash", "login",
         "billing", "network", "monitor", "license", "backup", "upgrade"]  # fmt: skip
AGENTS = (4, 5)  # Sarah Johnson, Mike Chen (the seed's agents)
REQUESTERS = (1, 2, 3)
STATUSES = (1, 2, 3, 4, 5)  # Open, In Progress, Waiting on Customer (pauses SLA), Resolved, Closed
RETRY_FOR_SECONDS = 120.0


@dataclass(frozen=True)
class ServerError:
    at: float  # monotonic
    operation: str
    status: int
    body: str


@dataclass
class Ledger:
    tickets: set[int] = field(default_factory=set)
    comments: dict[int, int] = field(default_factory=dict)  # comment id -> ticket id
    # (ticket id, history field, new value as the history writes it)
    changes: list[tuple[int, str, str]] = field(default_factory=list)
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, outcome)
    server_errors: list[ServerError] = field(default_factory=list)
    replays: int = 0  # creates/comments whose retry got the first answer back
    retried: int = 0

    def connection_errors(self) -> int:
        return sum(n for (_op, outcome), n in self.answers.items() if outcome == "connection error")

    def note(self, operation: str, response: httpx.Response | None) -> None:
        if response is None:
            self.answers[(operation, "connection error")] += 1
            return
        status = response.status_code
        self.answers[(operation, "2xx" if response.is_success else str(status))] += 1
        if status >= 500:
            self.server_errors.append(
                ServerError(time.monotonic(), operation, status, response.text[:300])
            )


class Traffic:
    def __init__(self, base_url: str, keys: dict[str, str], *, rate: float, seed: int) -> None:
        self.base_url = base_url
        self.keys = keys
        self.rate = rate
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.sent = 0
        operations: list[tuple[Callable[[], Coroutine[Any, Any, None]], int]] = [
            (self.create_ticket, 20),
            (self.comment, 15),
            (self.edit_text, 8),
            (self.change_status, 10),
            (self.assign, 8),
            (self.change_priority, 5),
            (self.read_ticket, 10),
            (self.list_tickets, 6),
            (self.search, 12),
            (self.stats, 6),
        ]
        self.operations = [operation for operation, _weight in operations]
        self.weights = [weight for _operation, weight in operations]

    async def run(self, seconds: float) -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self.clients = {
            role: httpx.AsyncClient(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {key}"},
                timeout=httpx.Timeout(30, connect=5),
                limits=limits,
            )
            for role, key in self.keys.items()
        }
        try:
            started = time.monotonic()
            tasks: set[asyncio.Task[None]] = set()
            while (due := started + self.sent / self.rate) < started + seconds:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                operation = self.rng.choices(self.operations, self.weights)[0]
                task = asyncio.create_task(operation())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                self.sent += 1
            if tasks:
                await asyncio.wait(tasks)
        finally:
            for client in self.clients.values():
                await client.aclose()

    # HTTP ---------------------------------------------------------------------------------

    async def _request(
        self, operation: str, role: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = await self.clients[role].request(method, path, **kwargs)
        except httpx.TransportError:
            response = None
        self.ledger.note(operation, response)
        return response

    async def _post_once(self, operation: str, role: str, path: str, body: dict[str, Any]) -> Any:
        """POST with an Idempotency-Key, again with the same key after a connection error or a
        5xx (or, after its Retry-After, a 429), until an answer; the body of a 2xx, or None."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        tries = 0
        while True:
            tries += 1
            response = await self._request(operation, role, "POST", path, json=body,
                                           headers=headers)  # fmt: skip
            status = 0 if response is None else response.status_code
            if response is not None and status < 500 and status != 429:
                if tries > 1:
                    self.ledger.retried += 1
                    self.ledger.replays += response.headers.get("Idempotent-Replayed") == "true"
                return response.json() if response.is_success else None
            if time.monotonic() > deadline:
                return None
            pause = 0.5
            if response is not None and status == 429:
                pause = min(5.0, float(response.headers.get("Retry-After", 1)))
            await asyncio.sleep(pause)

    def _ticket(self) -> int | None:
        if not self.ledger.tickets:
            return None
        return self.rng.choice(sorted(self.ledger.tickets))

    def _words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    # Writes -------------------------------------------------------------------------------

    async def create_ticket(self) -> None:
        as_customer = self.rng.random() < 0.25
        body: dict[str, Any] = {
            "title": f"Soak: {self._words(3)}",
            "description": f"{self._words(12)}.",
            "category_id": self.rng.randint(1, 6),
            # Customers may not open a ticket at Critical (1): only staff choose it.
            "priority_id": self.rng.randint(2 if as_customer else 1, 4),
            "tags": self.rng.sample(WORDS[:6], 2),
        }
        if not as_customer:
            body["user_id"] = self.rng.choice(REQUESTERS)
        created = await self._post_once(
            "create ticket", "customer" if as_customer else "agent", "/tickets", body
        )
        if created is not None:
            self.ledger.tickets.add(int(created["id"]))

    async def comment(self) -> None:
        ticket_id = self._ticket()
        if ticket_id is None:
            return await self.create_ticket()
        body = {"body": f"Soak comment: {self._words(8)}", "internal": self.rng.random() < 0.3}
        path = f"/tickets/{ticket_id}/comments"
        created = await self._post_once("comment", "agent", path, body)
        if created is not None:
            self.ledger.comments[int(created["id"])] = ticket_id

    async def _change(
        self, operation: str, choose: Callable[[dict[str, Any]], tuple[str, Any] | None]
    ) -> None:
        """Read the ticket, choose a different value, PATCH it with If-Match; on 200 record the
        history row that must exist: (field, new value as text)."""
        ticket_id = self._ticket()
        if ticket_id is None:
            return
        path = f"/tickets/{ticket_id}"
        read = await self._request(operation, "agent", "GET", path)
        if read is None or not read.is_success:
            return
        change = choose(read.json())
        if change is None:
            return
        body_field, value = change
        answer = await self._request(
            operation, "agent", "PATCH", path, json={body_field: value},
            headers={"If-Match": read.headers["ETag"]},
        )  # fmt: skip
        if answer is None or not answer.is_success:
            return
        view = answer.json()
        history_field, text = {
            "title": ("title", view["title"]),
            "description": ("description", view["description"]),
            "status_id": ("status", view["status"]["name"]),
            "priority_id": ("priority", view["priority"]["name"]),
            "assigned_to": ("assignee", (view["assignee"] or {}).get("name")),
        }[body_field]
        if text is not None:
            self.ledger.changes.append((ticket_id, history_field, text))

    async def edit_text(self) -> None:
        def choose(view: dict[str, Any]) -> tuple[str, Any]:
            if self.rng.random() < 0.5:
                return "title", f"Soak: {self._words(3)} #{uuid.uuid4().hex[:6]}"
            return "description", f"{self._words(10)} ({uuid.uuid4().hex[:6]})."

        await self._change("edit title/description", choose)

    async def change_status(self) -> None:
        def choose(view: dict[str, Any]) -> tuple[str, Any]:
            return "status_id", self.rng.choice([s for s in STATUSES if s != view["status"]["id"]])

        await self._change("change status", choose)

    async def assign(self) -> None:
        def choose(view: dict[str, Any]) -> tuple[str, Any]:
            current = (view["assignee"] or {}).get("id")
            return "assigned_to", self.rng.choice([a for a in AGENTS if a != current])

        await self._change("assign", choose)

    async def change_priority(self) -> None:
        def choose(view: dict[str, Any]) -> tuple[str, Any]:
            return "priority_id", self.rng.choice(
                [p for p in (1, 2, 3, 4) if p != view["priority"]["id"]]
            )

        await self._change("change priority", choose)

    # Reads --------------------------------------------------------------------------------

    async def read_ticket(self) -> None:
        ticket_id = self._ticket()
        if ticket_id is not None:
            await self._request("read ticket", "agent", "GET", f"/tickets/{ticket_id}")

    async def list_tickets(self) -> None:
        params = {"status_id": self.rng.choice(STATUSES), "limit": 20}
        await self._request("list tickets", "agent", "GET", "/tickets", params=params)

    async def search(self) -> None:
        params = {"query": self.rng.choice(WORDS)}
        await self._request("search", "agent", "GET", "/search", params=params)

    async def stats(self) -> None:
        await self._request("stats", "agent", "GET", "/stats")
