"""The HTTP workers' WSGI bridge (server.WsgiBridge): a response comes back from its view
thread whole, with no hand-over to the event loop on the way; a body longer than
BUFFERED_BYTES is streamed as it is made; a draining worker closes every connection; all
over a real hypercorn server on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from hypercorn.config import Config
from rookery_backend.server import BUFFERED_BYTES, WsgiBridge
from rookery_common.testing import free_port, wait_until

SMALL = b'{"data":"small"}'
CHUNK = b"x" * (64 * 1024)
STREAMED_CHUNKS = BUFFERED_BYTES // len(CHUNK) * 3


class App:
    """A WSGI app: /small (JSON), /empty (204), /stream (a generator longer than
    BUFFERED_BYTES that waits, past it, until the client has read its first bytes)."""

    def __init__(self) -> None:
        self.client_read = threading.Event()
        self.waited_for_client: bool | None = None

    def __call__(self, environ: dict, start_response) -> list[bytes] | Iterator[bytes]:
        path = environ["PATH_INFO"]
        if path == "/small":
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(SMALL)))],
            )
            return [SMALL]
        if path == "/empty":
            start_response("204 NO CONTENT", [])
            return []
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return self.stream()

    def stream(self) -> Iterator[bytes]:
        for index in range(STREAMED_CHUNKS):
            if index == STREAMED_CHUNKS - 1:
                # A bridge holding the whole body would never let the client read a byte.
                self.waited_for_client = self.client_read.wait(timeout=10)
            yield CHUNK


def test_a_small_response_comes_back_whole_without_a_hand_over() -> None:
    app = App()
    bridge = WsgiBridge(app, 1024)  # type: ignore[arg-type]
    handed_over: list[dict] = []
    environ = {"PATH_INFO": "/small", "REQUEST_METHOD": "GET"}
    messages = bridge.respond(environ, handed_over.append)
    assert handed_over == []
    assert messages == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")],
        },
        {"type": "http.response.body", "body": SMALL, "more_body": False},
    ]
    environ["PATH_INFO"] = "/empty"
    assert [m.get("status") for m in bridge.respond(environ, handed_over.append)] == [204, None]
    assert handed_over == []


@pytest.fixture
def served():
    """(port, app, bridge) served by hypercorn in a thread of this process."""
    app = App()
    bridge = WsgiBridge(app, 1024)  # type: ignore[arg-type]
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        from hypercorn.asyncio.run import worker_serve

        asyncio.set_event_loop(loop)
        loop.run_until_complete(worker_serve(bridge, config, shutdown_trigger=stop.wait))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert wait_until(lambda: _accepts(port), 10), "the bridge's server did not start"
    yield port, app, bridge
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=10)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _exchange(port: int, path: str) -> tuple[bytes, socket.socket]:
    """(the first whole answer to GET `path`, the connection, still open)."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return _read_answer(client), client


def _read_answer(client: socket.socket) -> bytes:
    """One answer with a Content-Length (or none: a 204), however the bytes arrive."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        data.extend(client.recv(65536))
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += client.recv(65536)
    return head + b"\r\n\r\n" + body


def _read_all(client: socket.socket, first: bytes) -> bytes:
    data = bytearray(first)
    while chunk := client.recv(1 << 20):
        data.extend(chunk)
    return bytes(data)


def test_served_responses_keep_their_headers_and_bodies(served) -> None:
    port, _, _ = served
    first, client = _exchange(port, "/small")
    with client:
        assert first.startswith(b"HTTP/1.1 200")
        assert b"content-type: application/json" in first.lower()
        assert first.endswith(b"\r\n\r\n" + SMALL)
        # the connection is kept alive: a second request on it is answered
        client.sendall(b"GET /empty HTTP/1.1\r\nHost: test\r\n\r\n")
        assert _read_answer(client).startswith(b"HTTP/1.1 204")


def test_a_long_body_is_streamed_as_it_is_made(served) -> None:
    port, app, _ = served
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    with client:
        client.sendall(b"GET /stream HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        first = client.recv(65536)  # arrives while the app still waits for this read
        app.client_read.set()
        whole = _read_all(client, first)
    assert app.waited_for_client is True
    head, _, body = whole.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    assert body == CHUNK * STREAMED_CHUNKS


def test_a_draining_worker_closes_each_connection_after_its_answer(served) -> None:
    port, _, bridge = served
    bridge.draining = True
    first, client = _exchange(port, "/small")
    with client:
        whole = _read_all(client, first)  # ends: the server closed the connection
    assert b"connection: close" in whole.lower()
    assert whole.endswith(SMALL)


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out.extend(rest[:size])
        body = rest[size + 2 :]


def test_a_client_gone_before_its_answer_leaves_the_server_serving(served) -> None:
    port, app, _ = served
    for path in ("/small", "/stream"):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        client.close()  # before a byte of the answer is read
    app.client_read.set()  # the abandoned stream may finish
    first, client = _exchange(port, "/small")
    with client:
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(SMALL)
