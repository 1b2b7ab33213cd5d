"""Serve the app: one supervisor process and its children (HTTP/1.1 and h2c; HTTP/3 only
with TLS), all started by `python -m rookery_backend serve`.

- The supervisor (this process) waits for the database, creates the schema and seeds the
  built-in roles and admin, and seeds a sensor per PACKET_SERVICE_TARGETS address no
  sensor has yet — once, before any child exists, and safe when replicas start
  together (a step that loses a race with another replica is retried; every step is
  idempotent) — binds the listening sockets, then starts and watches the children. A child
  that dies is started again (after a back-off growing to 30 s while it keeps dying at
  once). SIGTERM or SIGINT stops every child (SIGTERM, SIGKILL after STOP_GRACE seconds)
  and ends with exit status 0. The children die with it (PR_SET_PDEATHSIG).
- WEB_CONCURRENCY HTTP workers (default: the usable cores — CPU affinity and the cgroup
  CPU limit): hypercorn's asyncio server over the app, views in HTTP_THREADS threads.
  Stateless: whatever must agree across workers and replicas is in the database. With
  HTTP_WORKER_MAX_REQUESTS, a worker that served its share is replaced by a successor on
  its socket, then drains and stops (Recycling).
- One AuthService (gRPC) process, so introspection calls do not queue behind HTTP views
  for a worker's GIL; the kernel shares the cores between it and the workers.
- One publisher process: it competes for the deployment-wide publisher lease (lease.py)
  and, while it holds it, seeds sensors from PACKET_SERVICE_TARGETS (as the supervisor
  does: a replica started with another list), provisions the publishing account's key as
  soon as a sensor exists (shared, sealed, with the deployment through the lease row) and
  runs the rule publisher with its reconcile loop, publishing to each sensor its rule
  set. Exactly one process of all replicas does; another takes over within 4/3 of
  PUBLISHER_LEASE_TTL seconds when it dies.

Why this supervisor rather than hypercorn's own `hypercorn.run.run` with workers > 1:
hypercorn's stops every worker when one exits with an error (a killed worker is not
replaced), loads the app from an import path (no WsgiBridge, no per-run setup), and knows
nothing of the gRPC and publisher processes. Children are spawned, never forked, so none
inherits a database connection, a thread or gRPC state. Each HTTP worker gets its own
SO_REUSEPORT listening socket, all bound by the supervisor to the same address: the
kernel spreads new connections evenly over the workers (with one shared socket, whichever
event loop wakes first accepts a whole burst), and a restarted worker takes over its
predecessor's socket with the connections waiting in its backlog — unless it is
crash-looping: then its socket is closed while it waits to start again (CRASH_LOOP_BACKOFF).

Prometheus: every child writes its metrics to a PROMETHEUS_MULTIPROC_DIR made fresh for
this run (removed at exit, or at the next start after a kill -9); /metrics adds them up
(metrics.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import importlib.util
import json
import logging
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import wait as wait_any
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from hypercorn.app_wrappers import WSGIWrapper, _build_environ
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from rookery_common.memory import limit_malloc_arenas, start_heap_trimmer

from .accounts import UnsafeDefaultAdmin
from .config import ConfigError, Settings, load_settings
from .db import DatabaseUnavailable
from .errors import error_body
from .logs import configure_logging
from .metrics import MULTIPROC_ENV

log = logging.getLogger("rookery.startup")
STOP_GRACE = 10.0  # seconds children get to finish after SIGTERM
# seconds a replaced HTTP worker drains before SIGTERM: past hypercorn's keep-alive timeout
# (5 s), so the connections it kept idle are closed by then the usual way
DRAIN_SECONDS = 6.0
RESTART_BACKOFF_MAX = 30.0
# an HTTP worker's back-off from which its socket is closed until it starts again
CRASH_LOOP_BACKOFF = 2.0
STARTUP_RETRIES = 5  # schema creation and seeding, when racing another replica
# seconds HTTP workers wait for the AuthService port and the publishing key at start (a
# lease still held by a dead replica elsewhere may keep the key away for up to 4/3 TTL)
STARTUP_WAIT = 20.0
# bytes of a response body held in a view thread before the rest is streamed (WsgiBridge)
BUFFERED_BYTES = 256 * 1024


class WsgiBridge(WSGIWrapper):
    """hypercorn's WSGI bridge, with two differences.

    - A body over the limit: hypercorn answers that with a bare 400 (no body, no
      Content-Type); this answers the API's 413 error, and without reading the body when
      Content-Length already gives it away.
    - A response is handed to the event loop once, whole: hypercorn's view thread hands
      each message over (the headers, then every body chunk), and blocks on each until the
      loop has sent it. Those round trips between threads cost more than an API view's own
      work: a sampling profile of `GET /api/v1/auth/me` under load put 8 % of a worker's
      time in Flask and over a third in the hand-overs, and every hand-over is a turn at
      the GIL, which is what stretches the latency tail. A body that has not ended within
      BUFFERED_BYTES (none of the API's, but a WSGI app may stream) is streamed from there
      on, as hypercorn does.
    """

    on_request: Callable[[], None] | None = None  # called (on the event loop) per request
    # Set while a replaced worker drains (Recycling): every response closes its connection,
    # so a client's next request opens one to a live worker instead of racing the close.
    draining = False

    async def handle_http(  # type: ignore[override]
        self, scope: Any, receive: Any, send: Any, sync_spawn: Any, call_soon: Any
    ) -> None:
        if self.on_request is not None:
            self.on_request()
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
        if self.draining:
            send = _closing(send)
        whole = await sync_spawn(self.respond, environ, partial(call_soon, send))
        for message in whole:
            await send(message)
        if not whole or whole[-1]["more_body"]:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def respond(self, environ: dict[str, Any], send: Callable[[dict], None]) -> list[dict]:
        """Run the app (in a view thread). Returns the response's messages for the loop to
        send, the last one ending the body; for a body longer than BUFFERED_BYTES, nothing:
        it was streamed through `send` (which waits for the loop each time)."""
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []

        def start_response(line: str, fields: list[tuple[str, str]], exc_info: Any = None) -> None:
            nonlocal status, headers
            status = int(line.split(" ", 1)[0])
            headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in fields]

        def start() -> dict:
            return {"type": "http.response.start", "status": status, "headers": headers}

        def chunk(data: bytes, more: bool) -> dict:
            return {"type": "http.response.body", "body": data, "more_body": more}

        body = self.app(environ, start_response)
        held: list[bytes] = []
        size = 0
        streaming = False
        try:
            for data in body:
                if status is None:
                    raise RuntimeError("WSGI app did not call start_response")
                if streaming:
                    send(chunk(data, True))
                    continue
                held.append(data)
                size += len(data)
                if size > BUFFERED_BYTES:
                    streaming = True
                    send(start())
                    send(chunk(b"".join(held), True))
                    held.clear()
        finally:
            if hasattr(body, "close"):
                body.close()
        if streaming or status is None:  # (None: no body and no start_response, as before)
            return []
        return [start(), chunk(b"".join(held), False)]

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


def _closing(send: Any) -> Any:
    """`send` with `Connection: close` added to the response's headers."""

    async def closing(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
        await send(message)

    return closing


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


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota
    (cgroup v2 cpu.max or v1 cfs quota/period), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    try:
        limit, period = (root / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def worker_count(settings: Settings) -> int:
    return settings.web_concurrency or usable_cores()


def prepare_database(settings: Settings) -> None:
    """Wait for the database, create the schema (DB_INIT_SCHEMA) and seed the built-in
    roles and admin: create_app does all three. Two replicas starting at once may race on
    a CREATE TABLE or an insert; the loser tries again and finds the work done."""
    from . import create_app

    for attempt in range(1, STARTUP_RETRIES + 1):
        try:
            app = create_app(settings)
        except (ConfigError, DatabaseUnavailable, UnsafeDefaultAdmin):
            raise
        except Exception as error:  # the driver's IntegrityError/ProgrammingError vary
            if attempt == STARTUP_RETRIES:
                raise
            log.warning(
                "database initialisation raced another process; trying again",
                extra={"attempt": attempt, "error": str(error).splitlines()[0][:300]},
            )
            time.sleep(random.uniform(0.1, 0.5) * attempt)
            continue
        seed_sensors(app)
        with contextlib.suppress(Exception):
            app.extensions["rookery"].database.dal.close()
        return


def seed_sensors(app: Any) -> None:
    """PACKET_SERVICE_TARGETS: a sensor (default rule set) per address no sensor has. Two
    replicas seeding at once: the loser's insert breaks the unique address, and the
    winner's sensor stands."""
    svc = app.extensions["rookery"]
    try:
        with app.app_context():
            svc.packet_link.seed_sensors()
    except Exception as error:  # the driver's IntegrityError varies
        log.warning(
            "sensors from PACKET_SERVICE_TARGETS not seeded (another replica did?)",
            extra={"error": str(error).splitlines()[0][:300] if str(error) else ""},
        )


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to this child when the supervisor dies (even by
    # SIGKILL), so no worker outlives it holding the port.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _child_setup(verbose: int) -> threading.Event:
    _die_with_parent()
    limit_malloc_arenas()  # a spawned child starts a fresh C library: set it again
    configure_logging(verbose)
    start_heap_trimmer()  # free pages inside the heap back to the kernel (memory.py)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _share_publisher(app: Any) -> Any:
    """HTTP workers publish nothing themselves: their `packet_link.publisher` becomes a view
    of the lease holder's (publisher_share.py), and they keep the publishing account's key
    (the holder provisions it and shares it sealed in the lease row) so the statistics
    view can call packet-service."""
    from rookery_common.background import BackgroundLoop

    from .lease import PUBLISHER_LEASE, Lease, lease_engine
    from .publisher_share import engine_sensors, worker_view

    svc = app.extensions["rookery"]
    link = svc.packet_link
    settings = svc.settings
    engine = lease_engine(settings)
    lease = Lease(engine, PUBLISHER_LEASE, settings.publisher_lease_ttl)
    link.publisher = worker_view(svc.dal, lease, lambda: engine_sensors(engine))

    steady = max(1.0, settings.publisher_lease_ttl / 3)

    def refresh() -> None:
        key = lease.shared(settings.secret_key)
        if key and key != link.credential.key:
            link.credential.key = key
        # Until the holder shared a key (it does once a sensor exists), look again soon.
        loop.interval = steady if link.credential.key else 1.0

    loop = BackgroundLoop("service-key", steady, refresh, log=log)
    loop.start()  # its first step reads the key at once, off the worker's start-up path
    return loop


@dataclass(slots=True)
class Recycling:
    """How an HTTP worker is replaced after HTTP_WORKER_MAX_REQUESTS requests: it sets
    `wanted` once it has served its share; the supervisor starts its successor on the same
    listening socket and, once the successor has set `ready`, tells the old worker to drain
    (SIGUSR1: each response closes its connection, so clients move to the successor without
    a request caught by a closing connection) and stops it DRAIN_SECONDS later (SIGTERM:
    in-flight requests finish; idle kept-alive connections have timed out by then). The
    socket always has a worker accepting, where a worker that simply exited would leave
    the connections queued in its backlog for a start-up.
    Why at all: under a steady load a worker's resident memory creeps up while Python's own
    allocations stay flat (the C libraries' heaps fragment); a fresh process starts flat."""

    wanted: Any  # multiprocessing.Event
    ready: Any  # multiprocessing.Event


def recycle_after(limit: int, rng: random.Random | None = None) -> int | None:
    """The number of requests after which one worker asks to be replaced: `limit` plus up
    to 10 % more, drawn per worker, so workers started together do not all turn over at
    the same moment. None: never."""
    if limit <= 0:
        return None
    return limit + (rng or random).randint(0, limit // 10)


def serve_http(
    settings: Settings, sockets: Sockets, recycling: Recycling, verbose: int, index: int
) -> None:
    """One HTTP worker process."""
    early_stop = _child_setup(verbose)
    from . import create_app

    app = create_app(settings, initialise=False)
    config = hypercorn_config(settings)
    key_loop = _share_publisher(app)
    # What is built by now (modules, the app, its tables) lives as long as the worker:
    # frozen out of the collector's sight, a full collection walks only what requests
    # made — shorter pauses in the requests that trigger one (the latency tail).
    gc.collect()
    gc.freeze()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # hypercorn runs WSGI views in the loop's default executor. A few threads overlap
        # database waits; many only fight over the GIL.
        loop.set_default_executor(
            ThreadPoolExecutor(settings.http_threads, thread_name_prefix="wsgi")
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if early_stop.is_set():  # asked to stop while starting
            return
        bridge = WsgiBridge(app, config.wsgi_max_body_size)  # type: ignore[arg-type]
        loop.add_signal_handler(signal.SIGUSR1, setattr, bridge, "draining", True)
        share = recycle_after(settings.http_worker_max_requests)
        if share is not None:
            served = 0

            def count() -> None:
                nonlocal served
                served += 1
                if served == share:
                    log.info(
                        "served its share of requests; asking for a successor",
                        extra={"requests": served},
                    )
                    recycling.wanted.set()

            bridge.on_request = count
        recycling.ready.set()  # its sockets accept from here on
        await worker_serve(bridge, config, sockets=sockets, shutdown_trigger=stop.wait)

    try:
        asyncio.run(main())
    finally:
        if key_loop is not None:
            key_loop.stop()


def serve_grpc(settings: Settings, verbose: int, index: int) -> None:
    """The AuthService process."""
    stop = _child_setup(verbose)
    from . import create_app
    from .grpc_auth import build_grpc_server

    app = create_app(settings, initialise=False)
    server = build_grpc_server(app, settings.http_host, settings.grpc_port)
    server.start()
    log.info(
        f"AuthService (gRPC) serving on {settings.http_host}:{settings.grpc_port}",
        extra={"grpc_port": settings.grpc_port},
    )
    stop.wait()
    server.stop(grace=2).wait()


def run_publisher(settings: Settings, verbose: int, index: int) -> None:
    """The process that competes for the publisher lease and, holding it, publishes."""
    stop = _child_setup(verbose)
    from . import create_app
    from .lease import PUBLISHER_LEASE, Lease, LeaseKeeper, lease_engine
    from .publisher_share import PublisherReporter

    app = create_app(settings, initialise=False)
    svc = app.extensions["rookery"]
    engine = lease_engine(settings)
    lease = Lease(engine, PUBLISHER_LEASE, settings.publisher_lease_ttl)
    running: list[Any] = []  # the link and its reporter of the current term
    link = svc.packet_link  # stopped when a term ends, started again by the next one

    def provision() -> None:
        with app.app_context():
            link.provision_service_key(svc.datastore)
        lease.share(link.credential.key, settings.secret_key)

    def acquired() -> None:
        seed_sensors(app)
        sensors = link.read_sensors()
        if sensors:
            provision()
        link.start()
        running.append(link)
        # The reporter provisions the key when the first sensor appears (none yet).
        reporter = PublisherReporter(
            link.publisher, lease, engine, first_sensor=None if sensors else provision
        )
        reporter.start()
        running.append(reporter)
        svc.metrics.publisher_active.set(1)
        log.info(
            "publishing rules to the sensors (this process holds the publisher lease)",
            extra={"targets": [s.address for s in sensors], "holder": lease.holder},
        )

    def lost() -> None:
        svc.metrics.publisher_active.set(0)
        while running:
            running.pop().stop()

    keeper = LeaseKeeper(lease, acquired, lost)
    keeper.start()
    stop.wait()
    keeper.stop()
    link.close()


def refuse_taken_ports(host: str, ports: list[int]) -> None:
    """ConfigError when another process listens on one of `ports`. The workers' sockets
    (and gRPC's) set SO_REUSEPORT, which would let a second flask-backend on the same port
    start without a word and take a share of the connections; a plain bind, without
    SO_REUSEPORT, is refused while any socket listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in ports:
        if not port:
            continue  # the kernel picks a free one
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"port {port} on {host} is not free ({error.strerror}): is another"
                " flask-backend (or something else) already listening there?"
            ) from None
        finally:
            probe.close()


@dataclass(slots=True)
class Child:
    role: str
    target: Any
    args: tuple[Any, ...]
    index: int = 0
    process: BaseProcess | None = None
    started_at: float = 0.0
    backoff: float = 0.0
    restart_at: float = 0.0
    restarts: int = field(default=0)
    successor: BaseProcess | None = None  # an HTTP worker's replacement, starting
    successor_args: tuple[Any, ...] = ()
    successor_retry_at: float = 0.0
    recycled: int = 0

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"


@dataclass(slots=True)
class Retiring:
    """A replaced HTTP worker, draining until `stop_at` (monotonic), then stopped."""

    process: BaseProcess
    stop_at: float
    stopped: bool = False


class Supervisor:
    def __init__(self, settings: Settings, verbose: int) -> None:
        self.settings = settings
        self.verbose = verbose
        self.context = multiprocessing.get_context("spawn")
        self.children: list[Child] = []
        self.stopping = False
        self.metrics_dir = ""
        self.metrics_base: str | None = None
        self.sockets: list[Sockets] = []
        self.workers = 0
        self.retiring: list[Retiring] = []  # replaced HTTP workers, draining

    def _recycling(self) -> Recycling:
        return Recycling(self.context.Event(), self.context.Event())

    def _start(self, child: Child) -> None:
        child.process = self._spawn(child)
        child.started_at = time.monotonic()
        log.debug("started", extra={"child": child.name, "pid": child.process.pid})

    def _spawn(self, child: Child) -> BaseProcess:
        if child.role == "http":
            group = child.args[1]
            if _closed(group):
                group = self._listening_sockets()
                self.sockets[child.index] = group
            child.args = (child.args[0], group, self._recycling())
        process = self.context.Process(
            target=child.target,
            args=(*child.args, self.verbose, child.index),
            name=f"rookery-{child.name}",
        )
        # A terminal's Ctrl-C reaches every process of the group: a child still importing
        # ignores it (an ignored signal stays ignored across exec) until it has its own
        # handlers, and stops when the supervisor tells it to.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        return process

    def _turn_over(self, child: Child) -> None:
        """An HTTP worker that served its share: its successor starts on the same socket,
        and it is stopped once the successor accepts (Recycling)."""
        process = child.process
        if child.role != "http" or process is None or self.stopping:
            return
        if child.successor is None:
            if child.args[2].wanted.is_set() and time.monotonic() >= child.successor_retry_at:
                old_args = child.args
                child.successor = self._spawn(child)
                child.successor_args, child.args = child.args, old_args
            return
        if child.successor.is_alive() and not child.successor_args[2].ready.is_set():
            return
        successor, child.successor = child.successor, None
        if not successor.is_alive():  # died starting: the worker keeps serving; later again
            successor.join()
            self._mark_dead(successor)
            child.successor_retry_at = time.monotonic() + RESTART_BACKOFF_MAX
            log.error(
                f"{child.name}'s successor exited ({successor.exitcode}) before serving",
                extra={"child": child.name, "pid": successor.pid},
            )
            return
        with contextlib.suppress(Exception):
            os.kill(process.pid, signal.SIGUSR1)  # drain
        self.retiring.append(Retiring(process, time.monotonic() + DRAIN_SECONDS))
        child.process, child.args = successor, child.successor_args
        child.started_at = time.monotonic()
        child.recycled += 1
        log.info(
            f"{child.name} replaced after its share of requests",
            extra={"child": child.name, "pid": successor.pid, "previous": process.pid},
        )

    def _reap_retiring(self) -> None:
        now = time.monotonic()
        for retiring in list(self.retiring):
            process = retiring.process
            if process.is_alive():
                if now >= retiring.stop_at and not retiring.stopped:
                    retiring.stopped = True
                    with contextlib.suppress(Exception):
                        process.terminate()
                continue
            process.join()
            self._mark_dead(process)
            self.retiring.remove(retiring)

    def _mark_dead(self, process: BaseProcess) -> None:
        from prometheus_client import multiprocess

        with contextlib.suppress(Exception):
            multiprocess.mark_process_dead(process.pid, self.metrics_dir)

    def _reap(self, child: Child) -> None:
        process = child.process
        if process is None or process.is_alive():
            return
        process.join()
        self._mark_dead(process)
        child.process = None
        if self.stopping:
            return
        if child.successor is not None:  # died while its successor started: that one takes over
            log.error(
                f"{child.name} exited ({process.exitcode}) while being replaced",
                extra={"child": child.name, "pid": process.pid, "exitcode": process.exitcode},
            )
            child.process, child.args = child.successor, child.successor_args
            child.successor = None
            child.started_at = time.monotonic()
            return
        lived = time.monotonic() - child.started_at
        child.backoff = 0.0 if lived > 30 else min(RESTART_BACKOFF_MAX, child.backoff * 2 or 0.5)
        child.restart_at = time.monotonic() + child.backoff
        child.restarts += 1
        if child.role == "http" and child.backoff >= CRASH_LOOP_BACKOFF:
            # Crash-looping: while it waits, the kernel would still hand its socket 1/N of
            # the new connections, to hang in a backlog nobody accepts. Closed (what waits
            # there is reset), they go to the live workers' sockets; a fresh one is bound
            # when it starts again. A worker restarted soon keeps its socket and the
            # connections waiting there.
            _close_sockets(child.args[1])
        log.error(
            f"{child.name} exited ({process.exitcode}); starting it again",
            extra={"child": child.name, "pid": process.pid, "exitcode": process.exitcode},
        )

    def run(self) -> int:
        settings = self.settings
        # An operator's PROMETHEUS_MULTIPROC_DIR only says where this run's directory goes;
        # the supervisor's own metrics (made by prepare_database) stay in memory.
        from prometheus_client import values

        self.metrics_base = os.environ.pop(MULTIPROC_ENV, None) or None
        values.ValueClass = values.get_value_class()
        ports = [settings.http_port] + ([settings.grpc_port] if settings.grpc_enabled else [])
        refuse_taken_ports(settings.http_host, ports)
        prepare_database(settings)
        workers = worker_count(settings)
        self.workers = workers
        self.sockets = [self._listening_sockets() for _ in range(workers)]
        _remove_orphaned_metrics(self.metrics_base or tempfile.gettempdir())
        self.metrics_dir = tempfile.mkdtemp(
            prefix=f"rookery-metrics-{os.getpid()}-", dir=self.metrics_base
        )
        os.environ[MULTIPROC_ENV] = self.metrics_dir
        # glibc gives each thread that allocates its own malloc arena (up to 8 per core);
        # a worker's WSGI threads then spread a steady load's garbage over many arenas and
        # resident memory creeps up. Two arenas keep it flat; read when a child starts.
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        self.children = [
            Child("http", serve_http, (settings, group, None), index)
            for index, group in enumerate(self.sockets)
        ]
        if settings.grpc_enabled:
            self.children.append(Child("grpc", serve_grpc, (settings,)))
        self.children.append(Child("publisher", run_publisher, (settings,)))

        def on_signal(*_: Any) -> None:
            self.stopping = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        try:
            # AuthService and the publisher first: once /healthz answers, the gRPC port
            # answers too and (with packet-service targets) the publishing key is shared.
            for child in self.children:
                if child.role != "http":
                    self._start(child)
            self._await_helpers()
            for child in self.children:
                if child.role == "http":
                    self._start(child)
            self._announce(workers)
            while not self.stopping:
                alive = [c.process.sentinel for c in self.children if c.process is not None]
                alive += [c.successor.sentinel for c in self.children if c.successor]
                alive += [retiring.process.sentinel for retiring in self.retiring]
                busy = self._turning_over() or self.retiring
                wait_any(alive, timeout=0.25 if busy else 0.5)
                now = time.monotonic()
                self._reap_retiring()
                for child in self.children:
                    self._reap(child)
                    if child.process is None and not self.stopping and now >= child.restart_at:
                        self._start(child)
                    self._turn_over(child)
        finally:
            self.stop()
        return 0

    def _listening_sockets(self) -> Sockets:
        config = hypercorn_config(self.settings)
        config.workers = self.workers  # hypercorn sets SO_REUSEPORT on sockets when > 1
        group = config.create_sockets()
        for sock in (*group.secure_sockets, *group.insecure_sockets):
            sock.listen(config.backlog)
        return group

    def _await_helpers(self, timeout: float = STARTUP_WAIT) -> None:
        settings = self.settings
        deadline = time.monotonic() + timeout
        waiting = []
        if settings.grpc_enabled:
            host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host

            def grpc_up() -> bool:
                try:
                    socket.create_connection((host, settings.grpc_port), timeout=0.5).close()
                    return True
                except OSError:
                    return False

            waiting.append(("AuthService", grpc_up))
        if settings.packet_service_targets.strip():
            from .lease import PUBLISHER_LEASE, Lease, lease_engine

            engine = lease_engine(settings)
            lease = Lease(engine, PUBLISHER_LEASE, settings.publisher_lease_ttl)

            def key_shared() -> bool:
                try:
                    return lease.shared(settings.secret_key) is not None
                except Exception:
                    return False

            waiting.append(("the publishing key", key_shared))
        try:
            for what, ready in waiting:
                while not ready():
                    if self.stopping or time.monotonic() >= deadline:
                        log.warning(f"starting the HTTP workers without waiting for {what}")
                        return
                    time.sleep(0.1)
        finally:
            if settings.packet_service_targets.strip():
                engine.dispose()

    def _announce(self, workers: int) -> None:
        settings = self.settings
        scheme = "https" if settings.tls_cert_file else "http"
        shown = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
        url = f"{scheme}://{shown}:{settings.http_port}"
        log.info(
            f"flask-backend {settings.version} listening on {url} (API docs: {url}/api/v1/docs)",
            extra={
                "url": url,
                "docs": f"{url}/api/v1/docs",
                "db": settings.db_type,
                "workers": workers,
                "pids": {c.name: c.process.pid for c in self.children if c.process},
            },
        )
        print(f"flask-backend: {url}  docs: {url}/api/v1/docs  workers: {workers}", flush=True)

    def _turning_over(self) -> bool:
        return any(
            c.successor is not None
            or (c.role == "http" and c.args[2] is not None and c.args[2].wanted.is_set())
            for c in self.children
        )

    def stop(self) -> None:
        self.stopping = True
        alive = [c.process for c in self.children if c.process is not None]
        alive += [c.successor for c in self.children if c.successor is not None]
        alive += [retiring.process for retiring in self.retiring]
        for process in alive:
            with contextlib.suppress(Exception):
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("a child did not stop in time; killing it", extra={"pid": process.pid})
                process.kill()
                process.join(2)
        for group in self.sockets:
            _close_sockets(group)
        if self.metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


def _remove_orphaned_metrics(base: str) -> None:
    """Remove the metrics directories of supervisors that died without cleaning up
    (kill -9, OOM): their names carry the pid, and a pid that is gone, or that now
    belongs to a process which is not a Rookery supervisor, leaves its directory behind."""
    for path in Path(base).glob("rookery-metrics-*-*"):
        pid_text = path.name.removeprefix("rookery-metrics-").split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            command = Path(f"/proc/{pid_text}/cmdline").read_bytes()
        except OSError:
            command = b""
        if b"rookery_backend" not in command:
            shutil.rmtree(path, ignore_errors=True)


def _close_sockets(group: Sockets) -> None:
    for sock in (*group.secure_sockets, *group.insecure_sockets, *group.quic_sockets):
        sock.close()


def _closed(group: Sockets) -> bool:
    return any(sock.fileno() == -1 for sock in (*group.secure_sockets, *group.insecure_sockets))


def run_server(settings: Settings, verbose: int = 0) -> int:
    return Supervisor(settings, verbose).run()


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
    limit_malloc_arenas()
    configure_logging(args.verbose)
    try:
        settings = load_settings()
        return run_server(settings, args.verbose)
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
