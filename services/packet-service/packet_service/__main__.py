"""`python -m packet_service serve` and `python -m packet_service ingest FILE`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from rookery_common.memory import limit_malloc_arenas, start_heap_trimmer

from packet_service import service_version
from packet_service.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packet-service", description=__doc__)
    parser.add_argument("--version", action="version", version=service_version())
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v info, -vv debug, -vvv library debug"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC service (configured by environment variables)")
    ingest = commands.add_parser(
        "ingest", help="classify a pcap or pcapng file and print a summary"
    )
    ingest.add_argument("capture", help="FILE.pcap or FILE.pcapng")
    ingest.add_argument("--rules", help="rule set JSON (the REST shape)")
    ingest.add_argument("--batch", type=int, default=4096, help="frames per batch (default 4096)")
    ingest.add_argument("--top", type=int, default=10, help="top flows to show (default 10)")
    ingest.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="end a flow after this much capture time without packets (default: never)",
    )
    ingest.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    for sub in commands.choices.values():
        sub.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    limit_malloc_arenas()
    if args.command == "serve":
        start_heap_trimmer()  # free pages inside the heap back to the kernel (memory.py)
        return serve()
    from packet_service.ingest_cli import run_ingest

    return run_ingest(args)


def serve() -> int:
    # Imported here, not at the top: the settings model (pydantic) and tracing are the
    # service's, and cost `ingest` a fifth of a second at start-up.
    from packet_service.config import ConfigError, ServiceConfig
    from packet_service.rules import RuleSetError
    from packet_service.service import PacketServiceApp
    from packet_service.tracing import setup_tracing

    log = logging.getLogger("packet_service")
    traced = setup_tracing(service_version())  # no interceptor when tracing is off
    try:
        app = PacketServiceApp(ServiceConfig.from_env(), interceptors=traced)
    except (ConfigError, RuleSetError, OSError) as exc:
        print(f"packet-service: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.stop())
    try:
        app.start()
    except OSError as exc:  # a listener that starts with the service (UDP) cannot bind
        app.stop(grace=0)
        print(f"packet-service: {exc}", file=sys.stderr)
        return 2
    print(
        f"packet-service {app.version}: gRPC on :{app.grpc_port}, "
        f"/healthz /readyz /metrics on :{app.metrics_port}",
        file=sys.stderr,
        flush=True,
    )
    app.wait()
    log.info("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
