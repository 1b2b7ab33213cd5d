"""packet-service's HTTP side port: /healthz (alive), /readyz (ready to serve) and
/metrics (Prometheus exposition from metrics.py), on METRICS_PORT in a daemon thread."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
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
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._json(200, health())
                elif path == "/readyz":
                    ready, body = readiness()
                    self._json(200 if ready else 503, body)
                elif path == "/metrics":
                    payload = generate_latest(outer.registry)
                    self._send(200, CONTENT_TYPE_LATEST, payload)
                else:
                    self._json(
                        404,
                        {
                            "error": {
                                "code": "not_found",
                                "message": f"no route {path}",
                                "details": {},
                            }
                        },
                    )

            def _json(self, status: int, body: dict) -> None:
                self._send(status, "application/json", json.dumps(body).encode())

            def _send(self, status: int, content_type: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
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
