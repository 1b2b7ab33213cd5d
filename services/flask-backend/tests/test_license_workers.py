"""A licence installed through one worker process of the real server reaches the others:
`python -m rookery_backend serve` in production with two HTTP workers, a community licence
from LICENSE_KEY, then PUT /api/v1/license (enterprise) through HTTP; within the refresh
bound every worker serves the gated route, on fresh connections (the kernel spreads them
over the workers' shared port)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests
from conftest import ADMIN_EMAIL, SERVICE_DIR, base_env
from license_issuer import PRODUCTION_ADMIN_PASSWORD, Issuer
from rookery_backend.licensing.state import REFRESH_SECONDS
from rookery_common.testing import NotHealthy, free_port, start_process, stop_process, wait_until

FRESH = 24  # fresh connections per look: all on one worker by chance is 2**-23


def test_an_installed_licence_reaches_every_worker(tmp_path: Path) -> None:
    issuer = Issuer()
    port = free_port()
    env = {
        **os.environ,
        **base_env(tmp_path),
        "DB_TYPE": "sqlite",
        "RELEASE_MODE": "production",
        "ADMIN_PASSWORD": PRODUCTION_ADMIN_PASSWORD,
        "HTTP_PORT": str(port),
        "GRPC_ENABLED": "false",
        "WEB_CONCURRENCY": "2",
        "LICENSE_PUBLIC_KEY": issuer.public_pem,
        "LICENSE_KEY": issuer.issue(lid="community", tier="community"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    base = f"http://127.0.0.1:{port}"
    try:
        process = start_process(
            [sys.executable, "-m", "rookery_backend", "serve"],
            f"{base}/healthz",
            cwd=SERVICE_DIR,
            env=env,
            log_path=tmp_path / "server.log",
            timeout=120,
        )
    except NotHealthy as error:
        pytest.fail(str(error))
    try:
        login = requests.post(
            f"{base}/api/v1/auth/login",
            json={"email": ADMIN_EMAIL, "password": PRODUCTION_ADMIN_PASSWORD},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}

        def statuses() -> list[int]:
            # requests.get: a new connection each time
            return [
                requests.get(f"{base}/api/v1/audit/export", headers=headers, timeout=10).status_code
                for _ in range(FRESH)
            ]

        assert set(statuses()) == {403}
        reply = requests.put(
            f"{base}/api/v1/license",
            headers=headers,
            json={"license": issuer.issue(lid="enterprise", tier="enterprise")},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["data"]["id"] == "enterprise"
        # every worker within the refresh bound (plus the time the requests take)
        assert wait_until(lambda: set(statuses()) == {200}, timeout=REFRESH_SECONDS + 10)
        assert set(statuses()) == {200}
        ready = requests.get(f"{base}/readyz", timeout=10).json()
        assert ready["license"]["status"] == "valid"
    finally:
        stop_process(process)
