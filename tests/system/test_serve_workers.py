"""`ticketing serve --workers N`: one port answered by N real processes under one parent that
replaces a dead worker, stops them all on SIGTERM, and whose workers stop when it is killed."""

from __future__ import annotations

import http.client
import os
import signal
import statistics
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.support.processes import ApiServer, start_api_server, wait_until

WORKERS = 2


def _serve(database_url: str, *, workers: int = WORKERS) -> ApiServer:
    server = start_api_server(env={"DATABASE_URL": database_url}, workers=workers)
    wait_until(
        lambda: (
            len(server.worker_pids()) == workers
            # every one serving: a worker signalled while it still imports the app never runs
            # uvicorn's shutdown (nor logs it)
            and server.log().count("Application startup complete.") >= workers
        ),
        timeout=30,
        what=f"{workers} worker processes serving",
    )
    return server


@pytest.fixture(scope="module")
def served(seeded_database: str) -> Iterator[ApiServer]:
    server = _serve(seeded_database)
    yield server
    server.stop()


def _port(server: ApiServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def _connection_inode(*, server_port: int, client_port: int) -> str:
    """The inode of the server's end of the loopback connection from `client_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == server_port and (
                int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return inode
    raise AssertionError(f"no server end for the connection from port {client_port}")


def _get_health(connection: http.client.HTTPConnection) -> None:
    connection.request("GET", "/health")
    response = connection.getresponse()
    response.read()
    assert response.status == 200


def test_every_worker_answers_connections_on_the_one_port(served: ApiServer) -> None:
    workers = served.worker_pids()
    assert len(workers) == WORKERS
    owners: set[int] = set()
    connections: list[http.client.HTTPConnection] = []

    def every_worker_answered() -> bool:
        # Kept open, so that the connection's server end can be found in the owner's fds.
        connection = http.client.HTTPConnection("127.0.0.1", _port(served), timeout=10)
        connections.append(connection)
        _get_health(connection)
        inode = _connection_inode(
            server_port=_port(served), client_port=connection.sock.getsockname()[1]
        )
        owners.update(pid for pid in workers if inode in _socket_inodes(pid))
        return owners == set(workers)

    try:
        wait_until(every_worker_answered, timeout=30, interval=0.01, what="every worker")
    finally:
        for connection in connections:
            connection.close()
    assert served.process.pid not in owners  # the parent only holds the listening socket


def test_the_parent_forks_from_one_thread_holding_only_the_listening_socket(
    served: ApiServer,
) -> None:
    """What a worker inherits: no database or Redis connection, no thread, no event loop's
    sockets; each worker makes its own (the app's lifespan starts its publisher thread)."""
    parent = served.process.pid
    assert [task.name for task in Path(f"/proc/{parent}/task").iterdir()] == [str(parent)]
    assert len(_socket_inodes(parent)) == 1
    files = {os.readlink(fd) for fd in Path(f"/proc/{parent}/fd").iterdir()}
    assert not [name for name in files if name.endswith((".db", "-wal", "-shm"))]
    for worker in served.worker_pids():
        assert len(list(Path(f"/proc/{worker}/task").iterdir())) > 1


def test_keep_alive_requests_are_not_held_back_by_delayed_acks(
    served: ApiServer, api_keys: dict[str, str]
) -> None:
    """Without TCP_NODELAY a response's body waits for the client's delayed ACK of its headers:
    ~40 ms for each request on a kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", _port(served), timeout=10)
    headers = {"Authorization": f"Bearer {api_keys['admin']}", "Content-Type": "application/json"}
    durations: dict[str, list[float]] = {"GET": [], "POST": []}
    try:
        for _ in range(30):
            for method, path, body, status in (
                ("GET", "/health", None, 200),
                ("POST", "/tickets", b'{"title": ""}', 422),  # refused before any write
            ):
                started = time.perf_counter()
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                durations[method].append(time.perf_counter() - started)
                assert response.status == status
    finally:
        connection.close()
    for method, seconds in durations.items():
        assert statistics.median(seconds) < 0.02, f"{method}: median {statistics.median(seconds)}"


def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(served: ApiServer) -> None:
    killed, survivor = served.worker_pids()
    os.kill(killed, signal.SIGKILL)
    connection = http.client.HTTPConnection("127.0.0.1", _port(served), timeout=10)
    try:
        _get_health(connection)  # at once, by the survivor
    finally:
        connection.close()

    def replaced() -> bool:
        workers = served.worker_pids()
        return len(workers) == WORKERS and killed not in workers and survivor in workers

    wait_until(replaced, timeout=15, what="a replacement worker")
    assert f"Worker process [{killed}] died (killed by SIGKILL)" in served.log()
    for _ in range(10):
        connection = http.client.HTTPConnection("127.0.0.1", _port(served), timeout=10)
        try:
            _get_health(connection)
        finally:
            connection.close()


def test_sigterm_to_the_parent_stops_every_worker_gracefully(seeded_database: str) -> None:
    server = _serve(seeded_database)
    workers = server.worker_pids()
    try:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert not any(_alive(pid) for pid in workers)
    log = server.log()
    for pid in workers:
        assert f"Finished server process [{pid}]" in log  # uvicorn's graceful shutdown


def test_workers_shut_down_when_their_parent_is_killed(seeded_database: str) -> None:
    server = _serve(seeded_database)
    workers = server.worker_pids()
    server.process.kill()
    server.process.wait(timeout=10)
    wait_until(
        lambda: not any(_alive(pid) for pid in workers),
        timeout=15,
        what="the orphaned workers to exit",
    )
    assert "is gone: shutting down" in server.log()


def test_one_worker_serves_from_a_single_process(api_server: ApiServer) -> None:
    assert api_server.worker_pids() == []


def _alive(pid: int) -> bool:
    """Running: neither gone nor a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
