"""The pre-fork supervisor's pieces: the listening socket, and a worker that cannot start."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from services.api.prefork import listening_sockets
from tests.support.processes import free_port

REPO = Path(__file__).resolve().parents[2]


def _nodelay_of_accepted_connection(listener: socket.socket) -> int:
    """TCP_NODELAY of a connection accepted from `listener` by an asyncio (not uvloop)
    server, as the transport left it."""

    async def accept_one() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Accepted(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Accepted, sock=listener)
        _reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            return await asyncio.wait_for(accepted, timeout=10)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        return runner.run(accept_one())


def test_connections_accepted_from_the_shared_socket_have_tcp_nodelay() -> None:
    (listener,) = listening_sockets("127.0.0.1", 0, backlog=16)
    assert _nodelay_of_accepted_connection(listener)


def test_a_socket_bound_like_uvicorns_workers_gets_no_tcp_nodelay() -> None:
    """Why `listening_sockets` passes IPPROTO_TCP: proto 0 (uvicorn's `bind_socket`) makes
    asyncio leave Nagle on, and each response's body waits for the client's delayed ACK."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    assert not _nodelay_of_accepted_connection(listener)


def test_a_port_in_use_is_refused_at_bind() -> None:
    (taken,) = listening_sockets("127.0.0.1", 0, backlog=16)
    with taken, pytest.raises(OSError, match="in use"):
        listening_sockets("127.0.0.1", taken.getsockname()[1], backlog=16)


FAILING_APP = """
async def app(scope, receive, send):
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})
"""


def test_workers_that_cannot_start_stop_the_parent_instead_of_being_forked_again(
    tmp_path: Path,
) -> None:
    (tmp_path / "failing_app.py").write_text(FAILING_APP)
    serve = textwrap.dedent(
        f"""
        from services.api.server import serve_app
        from shared.settings import Settings
        serve_app("failing_app:app", settings=Settings(), host="127.0.0.1",
                  port={free_port()}, workers=2)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", serve],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr  # uvicorn's STARTUP_FAILURE
    assert result.stderr.count("Started worker process") == 2, result.stderr
    assert "failed to start" in result.stderr
