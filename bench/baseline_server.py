"""The bare-FastAPI baseline (bench/baseline_app.py) served from N processes, as
`ticketing serve --workers N` serves the API, for ratios at the same process count.

    .venv/bin/python -m bench.baseline_server PORT WORKERS
"""

from __future__ import annotations

import sys

from services.api.server import serve_app
from shared.settings import get_settings

if __name__ == "__main__":
    serve_app(
        "bench.baseline_app:app",
        settings=get_settings(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        workers=int(sys.argv[2]),
    )
