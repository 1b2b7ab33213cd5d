"""rookery_backend.tracing: off (nothing loaded, nothing patched) without an OTLP endpoint;
on, real spans reach a real OTLP/HTTP receiver; log lines inside a span carry its ids.

Tracing sets process-wide state (the global tracer provider, patched grpc functions), so
every test that turns it on, or checks that it stayed off, runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parents[1]
ROOT = SERVICE_DIR.parents[1]
RECEIVER_DIR = ROOT / "scripts" / "trio_tests"


def run_python(code: str, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=SERVICE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_off_loads_no_opentelemetry_and_patches_nothing() -> None:
    out = run_python(
        """
        import sys
        import grpc
        from flask import Flask
        from rookery_backend.tracing import setup_tracing
        app = Flask("t")
        wsgi = app.wsgi_app
        assert setup_tracing(app, "1.0") is None
        assert app.wsgi_app == wsgi
        assert grpc.insecure_channel.__module__ == "grpc" and grpc.server.__module__ == "grpc"
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """,
        {"OTEL_SERVICE_NAME": "flask-backend"},
    )
    assert out.strip() == "[]"


def test_on_exports_flask_and_publish_spans_over_otlp() -> None:
    out = run_python(
        f"""
        import json, sys
        sys.path.insert(0, {str(RECEIVER_DIR)!r})
        from otlp_receiver import OtlpReceiver
        receiver = OtlpReceiver().start()
        import os
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        import logging
        from flask import Flask
        from opentelemetry import trace
        from rookery_backend.tracing import root_span, setup_tracing

        app = Flask("t")
        provider = setup_tracing(app, "9.9.9")
        assert provider is not None

        @root_span("rules.publish")
        def publish():
            return trace.get_current_span().get_span_context()

        @app.get("/api/v1/things/<int:n>")
        def thing(n):
            inner = publish()  # a root span even inside a request
            return {{"publish_trace": format(inner.trace_id, "032x")}}

        @app.get("/healthz")
        def healthz():
            return {{}}

        client = app.test_client()
        parent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
        body = client.get("/api/v1/things/7", headers={{"traceparent": parent}}).get_json()
        client.get("/healthz")
        provider.force_flush()
        spans = receiver.wait_for(lambda s: len(s) >= 2)
        print(json.dumps(dict(body=body, spans=[
            dict(name=s.name, kind=s.kind, trace=s.trace_id, parent=s.parent_span_id,
                 service=s.service, version=s.resource.get("service.version"))
            for s in spans])))
        """,
        {},
    )
    result = json.loads(out)
    spans = {s["name"]: s for s in result["spans"]}
    assert set(spans) == {"GET /api/v1/things/<int:n>", "rules.publish"}  # no /healthz
    request = spans["GET /api/v1/things/<int:n>"]
    assert (request["kind"], request["trace"], request["parent"]) == ("server", "ab" * 16, "cd" * 8)
    assert (request["service"], request["version"]) == ("flask-backend", "9.9.9")
    publish = spans["rules.publish"]
    assert publish["parent"] == "" and publish["trace"] != "ab" * 16
    assert result["body"]["publish_trace"] == publish["trace"]
