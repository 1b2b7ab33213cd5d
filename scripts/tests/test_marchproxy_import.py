"""scripts/marchproxy-import.sh against a local fake of MarchProxy's observed contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fake_marchproxy import Failure, FakeMarchProxy

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "marchproxy-import.sh"
SERVICES_JSON = ROOT / "config" / "marchproxy" / "services.json"
DESIRED = {s["name"]: s for s in json.loads(SERVICES_JSON.read_text())["services"]}


@pytest.fixture
def fake() -> Iterator[FakeMarchProxy]:
    with FakeMarchProxy() as server:
        server.state.add_cluster("other")
        server.state.add_cluster("rookery")
        yield server


def run_import(fake: FakeMarchProxy, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MARCHPROXY_")}
    environment.update(
        PY=sys.executable,
        MARCHPROXY_API=fake.url,
        MARCHPROXY_USER="admin",
        MARCHPROXY_PASSWORD="s3cret-pass",
    )
    environment.update(env)
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=60
    )


def assert_matches_file(fake: FakeMarchProxy, cluster_id: int = 2) -> None:
    assert len(fake.state.services) == len(DESIRED)
    for name, wanted in DESIRED.items():
        row = fake.state.service(name)
        assert row is not None, name
        assert row["is_active"] is True
        assert row["cluster_id"] == cluster_id
        for key, value in wanted.items():
            if key != "cluster_id":
                assert row[key] == value, (name, key)


def test_first_import_creates_every_service_in_the_named_cluster(fake: FakeMarchProxy) -> None:
    result = run_import(fake)
    assert result.returncode == 0, result.stderr
    assert_matches_file(fake)
    posts = [r for r in fake.state.writes() if r[0] == "POST"]
    assert [p[2]["name"] for p in posts] == list(DESIRED)
    assert all(p[2]["cluster_id"] == 2 for p in posts)
    # null fields are left out of the create body instead of being sent as null
    assert "health_check_path" not in posts[1][2]
    assert "mappings are NOT pushed" in result.stdout
    assert "config/marchproxy/mappings.json" in result.stdout


def test_reimport_changes_nothing(fake: FakeMarchProxy) -> None:
    assert run_import(fake).returncode == 0
    before = len(fake.state.writes())
    result = run_import(fake)
    assert result.returncode == 0, result.stderr
    assert len(fake.state.writes()) == before
    assert result.stdout.count("unchanged") == len(DESIRED)


def test_one_changed_field_is_patched_alone(fake: FakeMarchProxy) -> None:
    assert run_import(fake).returncode == 0
    row = fake.state.service("rookery-webui")
    row["port"] = 3999  # someone edited it in the MarchProxy UI
    before = len(fake.state.writes())
    result = run_import(fake)
    assert result.returncode == 0, result.stderr
    new_writes = fake.state.writes()[before:]
    assert new_writes == [("PATCH", f"/api/v1/services/{row['id']}", {"port": 3000})]
    assert "port: 3999 -> 3000" in result.stdout
    assert_matches_file(fake)


def test_soft_deleted_service_is_revived_not_recreated(fake: FakeMarchProxy) -> None:
    assert run_import(fake).returncode == 0
    row = fake.state.service("rookery-packet-service")
    token = requests.post(
        f"{fake.url}/api/v1/auth/login", json={"username": "admin", "password": "s3cret-pass"}
    ).json()["access_token"]
    deleted = requests.delete(
        f"{fake.url}/api/v1/services/{row['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert deleted.status_code == 204 and row["is_active"] is False
    before = len(fake.state.writes())
    result = run_import(fake)
    assert result.returncode == 0, result.stderr
    new_writes = fake.state.writes()[before:]
    assert new_writes == [("PATCH", f"/api/v1/services/{row['id']}", {"is_active": True})]
    assert "revive" in result.stdout
    assert_matches_file(fake)


def test_revive_can_be_turned_off(fake: FakeMarchProxy, tmp_path: Path) -> None:
    assert run_import(fake).returncode == 0
    fake.state.service("rookery-webui")["is_active"] = False
    config = json.loads((SERVICES_JSON.parent / "import-config.json").read_text())
    config["revive_soft_deleted"] = False
    no_revive = tmp_path / "import-config.json"
    no_revive.write_text(json.dumps(config))
    before = len(fake.state.writes())
    result = run_import(fake, "--config", str(no_revive))
    assert result.returncode == 4
    assert "rookery-webui" in result.stderr and "soft-deleted" in result.stderr
    assert len(fake.state.writes()) == before


def test_wrong_password_is_an_authentication_failure(fake: FakeMarchProxy) -> None:
    result = run_import(fake, MARCHPROXY_PASSWORD="wrong")
    assert result.returncode == 2
    assert "HTTP 401" in result.stderr
    assert "Incorrect username or password" in result.stderr
    assert fake.state.writes() == []


def test_unknown_cluster_is_named(fake: FakeMarchProxy) -> None:
    result = run_import(fake, MARCHPROXY_CLUSTER="staging")
    assert result.returncode == 3
    assert "'staging'" in result.stderr and "rookery (id 2)" in result.stderr
    assert fake.state.writes() == []
    by_id = run_import(fake, MARCHPROXY_CLUSTER_ID="9")
    assert by_id.returncode == 3 and "id 9" in by_id.stderr


def test_cluster_chosen_by_id(fake: FakeMarchProxy) -> None:
    result = run_import(fake, MARCHPROXY_CLUSTER_ID="1")
    assert result.returncode == 0, result.stderr
    assert_matches_file(fake, cluster_id=1)


def test_token_expiry_mid_import_logs_in_again(fake: FakeMarchProxy) -> None:
    # Each token survives three authenticated requests: clusters, list, first POST.
    fake.state.expire_tokens_after = 3
    result = run_import(fake)
    assert result.returncode == 0, result.stderr
    assert fake.state.logins >= 2
    assert_matches_file(fake)


def test_expired_static_token_fails_clearly(fake: FakeMarchProxy) -> None:
    result = run_import(
        fake, MARCHPROXY_USER="", MARCHPROXY_PASSWORD="", MARCHPROXY_TOKEN="stale-token"
    )
    assert result.returncode == 2
    assert "HTTP 401" in result.stderr


def test_static_token_is_used_without_login(fake: FakeMarchProxy) -> None:
    token = requests.post(
        f"{fake.url}/api/v1/auth/login", json={"username": "admin", "password": "s3cret-pass"}
    ).json()["access_token"]
    result = run_import(fake, MARCHPROXY_USER="", MARCHPROXY_PASSWORD="", MARCHPROXY_TOKEN=token)
    assert result.returncode == 0, result.stderr
    assert fake.state.logins == 1  # only the test's own login
    assert_matches_file(fake)


def test_server_error_mid_import_names_service_status_and_body(fake: FakeMarchProxy) -> None:
    fake.state.fail_next.append(
        Failure(
            "POST",
            "/api/v1/services",
            500,
            "Internal Server Error: db gone",
            match_name="rookery-packet-service",
        )
    )
    result = run_import(fake)
    assert result.returncode == 4
    assert "rookery-packet-service" in result.stderr
    assert "HTTP 500" in result.stderr and "Internal Server Error: db gone" in result.stderr
    # the other services still went through, and a second run finishes the job
    assert fake.state.service("rookery-webui") is not None
    assert fake.state.service("rookery-packet-service") is None
    again = run_import(fake)
    assert again.returncode == 0, again.stderr
    assert_matches_file(fake)


def test_server_error_while_listing_is_an_api_failure(fake: FakeMarchProxy) -> None:
    fake.state.fail_next.append(Failure("GET", "/api/v1/services", 500, "boom"))
    result = run_import(fake)
    assert result.returncode == 5
    assert "HTTP 500" in result.stderr and "boom" in result.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(fake: FakeMarchProxy) -> None:
    assert run_import(fake).returncode == 0
    fake.state.service("rookery-flask-backend")["health_check_interval"] = 60
    before = len(fake.state.writes())
    result = run_import(fake, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert len(fake.state.writes()) == before
    assert "plan      update    rookery-flask-backend" in result.stdout
    assert "health_check_interval: 60 -> 30" in result.stdout
    assert "dry run: nothing was changed" in result.stdout


def test_invalid_enum_is_refused_before_any_request(fake: FakeMarchProxy, tmp_path: Path) -> None:
    # PATCH would store it and break every later GET with a 500, so validate locally.
    document = json.loads(SERVICES_JSON.read_text())
    document["services"][1]["protocol"] = "grpc"
    bad = tmp_path / "services.json"
    bad.write_text(json.dumps(document))
    result = run_import(fake, "--services", str(bad))
    assert result.returncode == 1
    assert "services.1.protocol" in result.stderr and "'grpc'" in result.stderr
    assert fake.state.requests == []


def test_name_taken_in_another_cluster_is_a_conflict(fake: FakeMarchProxy) -> None:
    assert run_import(fake, MARCHPROXY_CLUSTER="other").returncode == 0
    result = run_import(fake)
    assert result.returncode == 4
    assert "rookery-webui" in result.stderr and "cluster 1" in result.stderr
    assert [w for w in fake.state.writes() if w[0] == "PATCH"] == []


def test_missing_settings_are_usage_errors(fake: FakeMarchProxy) -> None:
    assert run_import(fake, MARCHPROXY_API="").returncode == 1
    no_creds = run_import(fake, MARCHPROXY_USER="", MARCHPROXY_PASSWORD="")
    assert no_creds.returncode == 1 and "MARCHPROXY_TOKEN" in no_creds.stderr


def test_unreachable_server_is_an_api_failure(fake: FakeMarchProxy) -> None:
    result = run_import(fake, MARCHPROXY_API="http://127.0.0.1:9")
    assert result.returncode in (2, 5)
    assert "no answer" in result.stderr


def test_login_needing_two_factor_is_an_authentication_failure(fake: FakeMarchProxy) -> None:
    fake.state.requires_2fa = True
    result = run_import(fake)
    assert result.returncode == 2 and "two-factor" in result.stderr
    assert fake.state.writes() == []


def test_listing_is_paginated(fake: FakeMarchProxy, tmp_path: Path) -> None:
    config = json.loads((SERVICES_JSON.parent / "import-config.json").read_text())
    config["list_page_size"] = 1
    small_pages = tmp_path / "import-config.json"
    small_pages.write_text(json.dumps(config))
    assert run_import(fake, "--config", str(small_pages)).returncode == 0
    before, seen = len(fake.state.writes()), len(fake.state.requests)
    again = run_import(fake, "--config", str(small_pages))
    assert again.returncode == 0, again.stderr
    assert len(fake.state.writes()) == before  # every page was read: nothing re-created
    lists = [r for r in fake.state.requests[seen:] if r[:2] == ("GET", "/api/v1/services")]
    assert len(lists) == len(DESIRED)  # one row per page


def test_base_url_with_trailing_slash_never_hits_the_307(fake: FakeMarchProxy) -> None:
    result = run_import(fake, MARCHPROXY_API=fake.url + "/")
    assert result.returncode == 0, result.stderr
    assert all(not path.endswith("/") for _, path, _ in fake.state.requests)
    assert_matches_file(fake)


def test_help_documents_exit_codes() -> None:
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "exit codes" in result.stdout and "3 unknown cluster" in result.stdout


# -- the fake itself keeps the quirks the importer must survive -------------------------


def test_fake_keeps_the_observed_quirks(fake: FakeMarchProxy) -> None:
    assert requests.get(f"{fake.url}/api/v1/services").status_code == 403
    bad = requests.get(f"{fake.url}/api/v1/services", headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401
    form = requests.post(f"{fake.url}/api/v1/auth/login", data={"username": "admin"})
    assert form.status_code == 422
    token = requests.post(
        f"{fake.url}/api/v1/auth/login", json={"username": "admin", "password": "s3cret-pass"}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    slash = requests.get(f"{fake.url}/api/v1/services/", headers=auth, allow_redirects=False)
    assert slash.status_code == 307
    body = {"name": "x", "ip_fqdn": "h", "port": 1, "protocol": "grpc", "cluster_id": 2}
    assert requests.post(f"{fake.url}/api/v1/services", json=body, headers=auth).status_code == 422
    body["protocol"] = "tcp"
    created = requests.post(f"{fake.url}/api/v1/services", json=body, headers=auth)
    assert created.status_code == 201
    url = f"{fake.url}/api/v1/services/{created.json()['id']}"
    assert requests.put(url, json=body, headers=auth).status_code == 405
    assert requests.patch(url, json={"protocol": "grpc"}, headers=auth).status_code == 200
    broken = requests.get(f"{fake.url}/api/v1/services", headers=auth)
    assert broken.status_code == 500 and broken.headers["Content-Type"].startswith("text/plain")


# -- secrets never reach the terminal ----------------------------------------------------
def test_a_422_echoing_the_password_at_login_is_printed_redacted(fake: FakeMarchProxy) -> None:
    # FastAPI's validation error carries the request body as `input`: the password too
    fake.state.fail_next.append(
        Failure("POST", "/api/v1/auth/login", 422, "Value error, bad login", echo_input=True)
    )
    result = run_import(fake)
    assert result.returncode == 2
    assert "HTTP 422" in result.stderr and "Value error, bad login" in result.stderr
    assert "s3cret-pass" not in result.stderr + result.stdout
    assert "[redacted]" in result.stderr
    assert '"username": "admin"' in result.stderr  # what is not secret stays readable


def test_a_service_error_repeating_the_password_or_a_token_is_redacted(
    fake: FakeMarchProxy,
) -> None:
    echoed = json.dumps(
        {"detail": "conflict", "jwt_secret": "jwt-abc-123", "hint": "login was admin:s3cret-pass"}
    )
    fake.state.fail_next += [
        Failure("POST", "/api/v1/services", 409, echoed, match_name="rookery-webui"),
        Failure("POST", "/api/v1/services", 500, "db: password=s3cret-pass refused"),
    ]
    result = run_import(fake)
    assert result.returncode == 4
    assert result.stderr.count("[redacted]") >= 3
    for secret in ("s3cret-pass", "jwt-abc-123"):
        assert secret not in result.stderr + result.stdout
    assert "HTTP 409" in result.stderr and "HTTP 500" in result.stderr


def test_an_echoed_access_token_is_redacted(fake: FakeMarchProxy) -> None:
    fake.state.fail_next.append(
        Failure("GET", "/api/v1/services", 500, "token tok-static-0123 is not allowed here")
    )
    fake.state.tokens["tok-static-0123"] = 100
    result = run_import(fake, MARCHPROXY_TOKEN="tok-static-0123", MARCHPROXY_PASSWORD="")
    assert result.returncode == 5
    assert "tok-static-0123" not in result.stderr and "[redacted]" in result.stderr


def test_redaction_finds_the_password_in_every_encoding() -> None:
    from rookery_ops.marchproxy_client import redact

    password = 'p"ss\\wörd&x=1'
    for body in (
        json.dumps({"detail": [{"loc": ["body", "x"], "input": {"pw": password}}]}),
        json.dumps({"detail": password}, ensure_ascii=False),
        f"plain {password} text",
        "form username=admin&password=" + requests.utils.quote(password, safe=""),
    ):
        shown = redact(body, [password])
        assert password not in shown and "[redacted]" in shown, body
        assert "w\\u00f6rd" not in shown and "w%C3%B6rd" not in shown
    # validation errors about a secret field hide their input, whatever it was
    about = {"detail": [{"loc": ["body", "cluster_api_key"], "msg": "too short", "input": "k1"}]}
    assert "k1" not in redact(json.dumps(about), [])
    assert redact("no secrets here", ["", "s3cret"]) == "no secrets here"
