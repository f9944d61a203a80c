"""The mail row: messages per second one mail process takes in over SMTP (each a new ticket,
committed before its 250), beside the same run's POST /tickets over REST (tickets/s) against
one API process, on one fresh database.

Each side runs the same number of clients, each sending one message (one request) at a time on
a connection of its own; rounds alternate between mail and REST and each figure is the median
of its rounds (a shared machine's load drifts; rounds side by side share it).
"""

from __future__ import annotations

import smtplib
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import httpx

from bench.plan import Plan
from bench.report import Row
from tests.support.processes import BIN, free_port, fresh_database_env, start_api_server, ticketing
from tests.support.redis_server import RedisServer
from tests.support.system import ServiceProcess

CLIENTS = 4
ROUNDS = 3
SUPPORT = "help@support.example"
CUSTOMER = "john.doe@example.com"


def _message(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Bench Sender {n} <bench.{n % 50}@customer.example>"
    message["To"] = SUPPORT
    message["Subject"] = f"Printer problem {n}"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@bench.example>"
    message.set_content(f"The printer on floor {n % 7} shows error {n}.\n")
    return message


def _in_parallel(count: int, client: Callable[[list[int]], None]) -> float:
    """Run `CLIENTS` clients over `count` numbered items; the items per second."""
    shares = [list(range(start, count, CLIENTS)) for start in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - started)


def _mail_round(port: int, count: int, offset: int) -> float:
    def client(numbers: list[int]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for n in numbers:
                smtp.send_message(_message(offset + n))

    return _in_parallel(count, client)


def _rest_round(base_url: str, key: str, count: int) -> float:
    def client(numbers: list[int]) -> None:
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            for n in numbers:
                response = http.post(
                    "/tickets",
                    json={
                        "title": f"Printer problem {n}",
                        "description": f"The printer on floor {n % 7} shows error {n}.",
                        "category_id": 6,
                    },
                )
                response.raise_for_status()

    return _in_parallel(count, client)


def measure_mail_intake(plan: Plan, directory: Path, rows: list[Row]) -> None:
    count = 150 if plan.generated_tickets < 50_000 else 600
    env = fresh_database_env(directory / "mail")
    redis = RedisServer(port=free_port(), directory=directory / "mail-redis")
    redis.start()
    env |= {"REDIS_URL": redis.url, "API_WORKERS": "1", "RATE_LIMIT_ENABLED": "false"}
    smtp_port = free_port()
    mail = ServiceProcess(
        "bench-mail",
        [str(BIN / "python"), "-m", "services.mail"],
        env={
            **env,
            "MAIL_ADDRESSES": f"{SUPPORT}=General Support",
            "MAIL_SMTP_PORT": str(smtp_port),
            "MAIL_METRICS_PORT": "0",
            "ATTACHMENTS_DIR": str(directory / "mail-attachments"),
        },
        directory=directory,
        ready_text="mail service started",
    )
    api = start_api_server(env=env)
    try:
        mail.start()
        key = ticketing("api-key", "create", "--email", CUSTOMER, env=env).strip()
        _mail_round(smtp_port, CLIENTS * 5, 10_000_000)  # warm up both sides
        _rest_round(api.base_url, key, CLIENTS * 5)
        mail_rates: list[float] = []
        rest_rates: list[float] = []
        for round_number in range(ROUNDS):
            mail_rates.append(_mail_round(smtp_port, count, round_number * count))
            rest_rates.append(_rest_round(api.base_url, key, count))
    finally:
        mail.stop()
        api.stop()
        redis.stop()
    by_mail, by_rest = statistics.median(mail_rates), statistics.median(rest_rates)
    rows.append(
        Row(
            measurement="mail in: new tickets taken in over SMTP by one mail process",
            value=by_mail,
            unit="msg/s",
            baseline=by_rest,
            target="beside POST /tickets (tickets/s, one API process)",
            detail=f"median of {ROUNDS} rounds of {count} messages, {CLIENTS} SMTP clients "
            f"(one message at a time each, 250 after commit) vs {CLIENTS} REST clients; "
            f"mail {', '.join(f'{r:.0f}' for r in mail_rates)} msg/s, "
            f"REST {', '.join(f'{r:.0f}' for r in rest_rates)} tickets/s",
        )
    )


if __name__ == "__main__":
    import sys
    import tempfile

    from bench.plan import QUICK
    from bench.report import print_table

    measured: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ticketing-bench-mail-") as scratch:
        measure_mail_intake(QUICK, Path(scratch), measured)
    print_table(f"mail row ({sys.argv[0]})", measured)
