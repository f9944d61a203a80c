"""The mail service's process: its Prometheus endpoint counts messages by outcome and times the
commit; a wrong setting stops it at start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.mail import corpus
from tests.mail.conftest import mail_service
from tests.mail.test_mail_in import stranger
from tests.support.processes import BIN, free_port


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_messages_by_outcome_and_time_the_commit(
    seeded_database: str, tmp_path: Path
) -> None:
    port = free_port()
    service = mail_service(tmp_path, seeded_database, extra={"MAIL_METRICS_PORT": str(port)})
    try:
        service.send(corpus.plain(sender=stranger()))
        service.send(corpus.out_of_office(sender=stranger()))
        found = samples(port)
    finally:
        service.process.stop()
    created = ("ticketing_mail_messages_total", (("outcome", "ticket_created"),))
    dropped = ("ticketing_mail_messages_total", (("outcome", "dropped"),))
    assert found[created] == 1
    assert found[dropped] == 1
    assert found[("ticketing_mail_commit_seconds_count", ())] == 2


def test_a_malformed_mail_addresses_stops_the_service_naming_it(
    seeded_database: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(BIN / "python"), "-m", "services.mail"],
        env={
            **os.environ,
            "DATABASE_URL": seeded_database,
            "MAIL_ADDRESSES": "help@support.example",
            "MAIL_SMTP_PORT": str(free_port()),
            "MAIL_METRICS_PORT": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "MAIL_ADDRESSES: expected address=Category name" in result.stderr
