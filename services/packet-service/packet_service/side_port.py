"""packet-service's HTTP side port: /healthz (alive), /readyz (ready to serve) and
/metrics (Prometheus exposition from metrics.py), on METRICS_PORT in a daemon thread."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("packet_service.http")


class SidePortServer:
    """/healthz (alive), /readyz (rule set in force and every ingest path running),
    /metrics. Runs in a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Callable[[], dict],
        readiness: Callable[[], tuple[bool, dict]],
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._send(*self._answer())

            def do_HEAD(self) -> None:  # a probe's HEAD: GET's status and headers
                self._send(*self._answer(), body=False)

            def _answer(self) -> tuple[int, str, bytes]:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    return _json(200, health())
                if path == "/readyz":
                    ready, body = readiness()
                    return _json(200 if ready else 503, body)
                if path == "/metrics":
                    return 200, CONTENT_TYPE_LATEST, generate_latest(outer.registry)
                return _error(404, "not_found", f"no route {path}")

            def _refuse(self) -> None:
                # http.server answers an unknown method with an HTML 501; this port
                # speaks JSON like the rest of the service, and the method is what's wrong.
                self._send(
                    *_error(405, "method_not_allowed", f"{self.command} is not served here"),
                    extra={"Allow": "GET, HEAD"},
                )

            do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

            def send_error(
                self, code: int, message: str | None = None, explain: str | None = None
            ) -> None:
                # http.server's own refusals (a malformed request line, a method nobody
                # serves, headers too long) in the same JSON shape, not its HTML page; and
                # with a status line even when the request line was unreadable (http.server
                # then takes it for HTTP/0.9, which has none).
                if self.request_version == "HTTP/0.9":
                    self.request_version = "HTTP/1.0"
                phrase = HTTPStatus(code).phrase
                slug = phrase.lower().replace("-", "_").replace(" ", "_")
                self.close_connection = True
                self._send(*_error(code, slug, message or phrase), body=self.command != "HEAD")

            def _send(
                self,
                status: int,
                content_type: str,
                payload: bytes,
                body: bool = True,
                extra: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if body:
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("http %s", format % args)

        self.registry = registry
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="http")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, so only if it runs
            self.httpd.shutdown()
        self.httpd.server_close()


def _json(status: int, body: dict) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()


def _error(status: int, code: str, message: str) -> tuple[int, str, bytes]:
    return _json(status, {"error": {"code": code, "message": message, "details": {}}})
