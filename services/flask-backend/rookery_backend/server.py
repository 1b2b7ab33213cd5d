"""Serve the app with hypercorn (HTTP/1.1 and h2c; HTTP/3 only with TLS)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from hypercorn.app_wrappers import WSGIWrapper, _build_environ
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config

from .accounts import UnsafeDefaultAdmin
from .config import ConfigError, Settings, load_settings
from .db import DatabaseUnavailable
from .errors import error_body
from .logs import configure_logging

log = logging.getLogger("rookery.startup")


class WsgiBridge(WSGIWrapper):
    """hypercorn's WSGI bridge, except for a body over the limit: hypercorn answers that
    with a bare 400 (no body, no Content-Type); this answers the API's 413 error, and
    without reading the body when Content-Length already gives it away."""

    async def handle_http(  # type: ignore[override]
        self, scope: Any, receive: Any, send: Any, sync_spawn: Any, call_soon: Any
    ) -> None:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_size:
            return await self._too_large(send)
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_size:
                return await self._too_large(send)
            if not message.get("more_body"):
                break
        environ = _build_environ(scope, bytes(body))
        await sync_spawn(self.run_app, environ, partial(call_soon, send))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _too_large(self, send: Any) -> None:
        body = json.dumps(
            error_body(
                "payload_too_large",
                f"the request body is larger than {self.max_body_size} bytes",
                {"max_bytes": self.max_body_size},
            ),
            separators=(",", ":"),
        ).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    host = settings.http_host
    bind_host = f"[{host}]" if ":" in host else host
    config.bind = [f"{bind_host}:{settings.http_port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.wsgi_max_body_size = settings.max_body_bytes
    tls = bool(settings.tls_cert_file and settings.tls_key_file)
    if tls:
        config.certfile = settings.tls_cert_file
        config.keyfile = settings.tls_key_file
    alpn = []
    if settings.http2_enabled:
        alpn.append("h2")
    if settings.http1_enabled:
        alpn.append("http/1.1")
    if not alpn:
        raise ConfigError("HTTP1_ENABLED and HTTP2_ENABLED cannot both be false")
    config.alpn_protocols = alpn
    if settings.http3_enabled:
        if tls and importlib.util.find_spec("aioquic") is None:
            log.warning(
                "HTTP3_ENABLED is set but the aioquic package (hypercorn's HTTP/3 support) is"
                " not installed; serving HTTP/1.1 and HTTP/2 only"
            )
        elif tls:
            config.quic_bind = [f"{bind_host}:{settings.http_port}"]
        else:
            log.warning(
                "HTTP3_ENABLED is set but HTTP/3 needs TLS_CERT_FILE and TLS_KEY_FILE;"
                " serving HTTP/1.1 and h2c only"
            )
    return config


def run_server(settings: Settings) -> None:
    from . import create_app

    app = create_app(settings)
    config = hypercorn_config(settings)
    svc = app.extensions["rookery"]
    grpc_server = None
    if settings.grpc_enabled:
        from .grpc_auth import build_grpc_server

        grpc_server = build_grpc_server(app, settings.http_host, settings.grpc_port)
        grpc_server.start()
        log.info(
            f"AuthService (gRPC) serving on {settings.http_host}:{settings.grpc_port}",
            extra={"grpc_port": settings.grpc_port},
        )
    link = svc.packet_link
    with app.app_context():
        link.provision_service_key(svc.datastore)
    link.start()
    if link.targets:
        log.info(
            "publishing rules to packet-service",
            extra={"targets": [t.address for t in link.targets]},
        )
    scheme = "https" if settings.tls_cert_file else "http"
    shown_host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
    url = f"{scheme}://{shown_host}:{settings.http_port}"
    log.info(
        f"flask-backend {settings.version} listening on {url} (API docs: {url}/api/v1/docs)",
        extra={"url": url, "docs": f"{url}/api/v1/docs", "db": settings.db_type},
    )
    print(f"flask-backend: {url}  docs: {url}/api/v1/docs", flush=True)

    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # hypercorn runs WSGI views in the loop's default executor. A few threads overlap
        # database waits; many only fight over the GIL.
        loop.set_default_executor(
            ThreadPoolExecutor(settings.http_threads, thread_name_prefix="wsgi")
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        bridge = WsgiBridge(app, config.wsgi_max_body_size)  # type: ignore[arg-type]
        await worker_serve(bridge, config, shutdown_trigger=stop.wait)

    try:
        asyncio.run(main())
    finally:
        link.stop()
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rookery_backend", description=__doc__)
    parser.add_argument("command", choices=["serve"], help="what to do")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v info, -vv debug, -vvv debug including libraries",
    )
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        settings = load_settings()
        run_server(settings)
    except ConfigError as error:
        log.error(f"configuration error: {error}")
        return 2
    except DatabaseUnavailable as error:
        log.error(f"giving up: {error}")
        return 3
    except UnsafeDefaultAdmin as error:
        log.error(f"refusing to start: {error}")
        return 2
    return 0
