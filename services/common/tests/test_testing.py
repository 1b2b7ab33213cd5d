"""rookery_common.testing: free ports, start-and-wait-healthy, stop."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from rookery_common.testing import (
    NotHealthy,
    free_port,
    healthy,
    start_process,
    stop_process,
    wait_until,
)

SERVER = """
import http.server, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
print("serving", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_free_ports_are_free() -> None:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        port = free_port(kind)
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", port))


def test_start_waits_until_healthy_and_stop_ends_it(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}/healthz"
    process = start_process([sys.executable, "-c", SERVER, str(port)], url, log_path=log)
    try:
        assert healthy(url)
        assert "serving" in log.read_text()
    finally:
        stop_process(process)
    assert process.poll() is not None and not healthy(url)


def test_a_process_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "fail.log"
    command = [sys.executable, "-c", "import sys; print('bad config'); sys.exit(2)"]
    with pytest.raises(NotHealthy, match=r"(?s)exited with code 2.*bad config"):
        start_process(command, f"http://127.0.0.1:{free_port()}/healthz", log_path=log)


def test_a_process_that_never_answers_times_out() -> None:
    command = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(NotHealthy, match="did not answer 200"):
        start_process(command, f"http://127.0.0.1:{free_port()}/healthz", timeout=1)


def test_wait_until() -> None:
    seen = []
    assert wait_until(lambda: seen.append(1) or len(seen) >= 3, timeout=5, step=0.01)
    assert wait_until(lambda: 0, timeout=0.05, step=0.01) == 0
