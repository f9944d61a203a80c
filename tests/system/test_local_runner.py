"""`make run`'s runner (`ticketing start`) keeps the Procfile's processes running: one killed
with SIGKILL comes back, and the others keep running untouched."""

from __future__ import annotations

import os
import re
import shutil
import signal
import smtplib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from shared.models import Ticket
from tests.support.processes import (
    BIN,
    free_port,
    fresh_database_env,
    ticketing,
    wait_until,
)
from tests.support.redis_server import RedisServer
from tests.support.system import FAST_TIMINGS, USERS

REPO = Path(__file__).resolve().parents[2]
ROLES = ("api", "worker", "beat", "notifier", "mail")
STARTED = re.compile(r"system\s+\| (\w+)\.1 started \(pid=(\d+)\)")


@dataclass
class LocalRun:
    process: subprocess.Popen[bytes]
    output_path: Path
    base_url: str
    env: dict[str, str]
    mail_port: int

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def pids(self) -> dict[str, list[int]]:
        """The pids each process was started with, in order."""
        started: dict[str, list[int]] = {}
        for name, pid in STARTED.findall(self.output()):
            started.setdefault(name, []).append(int(pid))
        return started


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    return state != "Z"


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    """`ticketing start api worker beat notifier`, as `make run` runs it, in a directory laid
    out like the repository's: its Procfile, the virtualenv, a data directory."""
    directory = tmp_path_factory.mktemp("local-run")
    shutil.copy(REPO / "Procfile", directory / "Procfile")
    (directory / ".venv").symlink_to(BIN.parent)
    (directory / "data").mkdir()
    redis = RedisServer(port=free_port(), directory=directory / "redis")
    redis.start()
    port = free_port()
    mail_port = free_port()
    env = {
        **os.environ,
        **fresh_database_env(directory),
        "REDIS_URL": redis.url,
        **FAST_TIMINGS,
        "HOST": "127.0.0.1",
        "MAIL_ADDRESSES": "help@support.example=General Support",
        "MAIL_SMTP_PORT": str(mail_port),
        "MAIL_METRICS_PORT": "0",
        "ATTACHMENTS_DIR": str(directory / "data" / "attachments"),
    }
    output_path = directory / "output.log"
    with output_path.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "ticketing"), "start", "--port", str(port), *ROLES],
            cwd=directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = LocalRun(process, output_path, f"http://127.0.0.1:{port}", env, mail_port)
    try:
        wait_until(
            lambda: httpx.get(f"{run.base_url}/health", timeout=1).status_code == 200,
            timeout=60,
            what="the API under the runner",
        )
        wait_until(lambda: " ready." in run.output(), timeout=60, what="the worker")
        wait_until(
            lambda: "mail service started" in run.output(), timeout=60, what="the mail service"
        )
        yield run
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pids in run.pids().values():
            for pid in pids:
                if alive(pid):
                    os.killpg(pid, signal.SIGKILL)
        redis.stop()


def test_a_process_killed_with_sigkill_comes_back_and_the_others_keep_running(
    local_run: LocalRun,
) -> None:
    before = local_run.pids()
    assert sorted(before) == sorted(ROLES), local_run.output()
    [worker] = before["worker"]
    os.kill(worker, signal.SIGKILL)

    wait_until(
        lambda: len(local_run.pids()["worker"]) == 2, timeout=60, what="the worker to come back"
    )
    wait_until(
        lambda: local_run.output().count(" ready.") >= 2,
        timeout=60,
        what="the new worker to be ready",
    )
    after = local_run.pids()
    assert not alive(worker)
    assert alive(after["worker"][1])
    for role in ("api", "beat", "notifier", "mail"):
        assert after[role] == before[role], f"{role} was restarted"
        assert alive(after[role][0]), f"{role} is gone"
    assert local_run.process.poll() is None

    # The new worker does the work: a new ticket gets its SLA timers.
    key = ticketing("api-key", "create", "--email", USERS["agent"], env=local_run.env).strip()
    created = httpx.post(
        f"{local_run.base_url}/tickets",
        headers={"Authorization": f"Bearer {key}"},
        json={"title": "After the crash", "description": "VPN down", "category_id": 3},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    engine = create_engine(local_run.env["DATABASE_URL"])

    def timed() -> bool:
        with Session(engine) as db:
            due = db.scalar(
                select(Ticket.resolution_due_at).where(Ticket.id == created.json()["id"])
            )
        return due is not None

    try:
        wait_until(timed, timeout=60, what="the new worker to set the ticket's SLA timers")
    finally:
        engine.dispose()


def test_the_runner_runs_the_mail_service_which_takes_mail(local_run: LocalRun) -> None:
    message = EmailMessage()
    message["From"] = "Runner Test <runner.test@customer.example>"
    message["To"] = "help@support.example"
    message["Subject"] = "Mail under make run"
    message.set_content("Taken in by the Procfile's mail process.")
    with smtplib.SMTP("127.0.0.1", local_run.mail_port, timeout=30) as smtp:
        smtp.send_message(message)
    engine = create_engine(local_run.env["DATABASE_URL"])
    try:
        with Session(engine) as db:
            titles = db.scalars(select(Ticket.title).where(Ticket.title == "Mail under make run"))
            assert list(titles) == ["Mail under make run"]
    finally:
        engine.dispose()
