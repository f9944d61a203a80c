"""The HTTP baseline: a bare FastAPI app served exactly like the API (one uvicorn worker, the same
logging), whose POST validates the API's own request model and returns it without touching
storage, and whose GET returns a constant object. What the API does beyond this is its own cost.

    .venv/bin/python -m bench.baseline_app PORT
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI

from services.api.server import serve_app
from services.api.tickets.schemas import TicketCreate
from shared.settings import get_settings

app = FastAPI()

# The object GET returns: the API's own JSON for a ticket when the harness hands it over, so both
# send the same bytes.
TICKET: dict[str, Any] = orjson.loads(Path(os.environ["BENCH_TICKET_JSON"]).read_bytes())


@app.post("/tickets", status_code=201)
def create(ticket: TicketCreate) -> TicketCreate:
    return ticket


@app.get("/tickets/{ticket_id}")
def read(ticket_id: int) -> dict[str, Any]:
    return TICKET


if __name__ == "__main__":
    serve_app(
        "bench.baseline_app:app", settings=get_settings(), host="127.0.0.1", port=int(sys.argv[1])
    )
