"""Publish config/marchproxy/services.json to a MarchProxy api-server, idempotently.

    scripts/marchproxy-import.sh [--dry-run] [--services FILE] [--config FILE]

Environment: MARCHPROXY_API (base URL, required), MARCHPROXY_USER + MARCHPROXY_PASSWORD
or MARCHPROXY_TOKEN, MARCHPROXY_CLUSTER (name; default from import-config.json) or
MARCHPROXY_CLUSTER_ID.

Services are matched by name across all rows (soft-deleted ones included): a missing one
is created (POST), an existing one gets a PATCH with only the fields that differ, a
soft-deleted one is revived with `is_active: true`. Nothing is deleted. Mappings are not
pushed: the api-server has no route for them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rookery_ops import marchproxy_schema
from rookery_ops.marchproxy_client import ApiError, AuthError, Credentials, MarchProxyClient
from rookery_ops.paths import MARCHPROXY_DIR, REPO_DIR

EXIT_OK = 0
EXIT_USAGE = 1  # bad arguments, missing settings, a services file that fails the schema
EXIT_AUTH = 2  # login refused or token rejected
EXIT_CLUSTER = 3  # the cluster named by MARCHPROXY_CLUSTER(_ID) does not exist
EXIT_SERVICES = 4  # at least one service could not be created or updated
EXIT_API = 5  # MarchProxy unreachable, or an unexpected answer while reading

# Fields the importer owns; anything else on the server (tokens, secrets) is left alone.
MANAGED_FIELDS = (
    "ip_fqdn",
    "port",
    "protocol",
    "collection",
    "auth_type",
    "tls_enabled",
    "tls_verify",
    "health_check_enabled",
    "health_check_path",
    "health_check_interval",
)


class UsageError(Exception):
    pass


@dataclass(slots=True)
class Step:
    """What the importer will do (or did) for one service."""

    name: str
    action: str  # create | update | revive | unchanged | conflict
    body: dict[str, Any] = field(default_factory=dict)  # POST body or PATCH changes
    service_id: int | None = None
    before: dict[str, Any] = field(default_factory=dict)  # server values of changed fields
    reason: str = ""

    def describe(self) -> str:
        if self.action == "create":
            b = self.body
            return f"create    {self.name} ({b['protocol']} {b['ip_fqdn']}:{b['port']})"
        if self.action in ("update", "revive"):
            changes = ", ".join(
                f"{k}: {json.dumps(self.before.get(k))} -> {json.dumps(v)}"
                for k, v in self.body.items()
            )
            return f"{self.action:<9} {self.name} (id {self.service_id}; {changes})"
        if self.action == "conflict":
            return f"conflict  {self.name}: {self.reason}"
        return f"unchanged {self.name} (id {self.service_id})"


def load_json(path: Path, definition: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    found = marchproxy_schema.problems(definition, document)
    if found:
        raise UsageError(f"{path} is not valid for MarchProxy:\n  " + "\n  ".join(found))
    return document


def plan(
    desired: list[dict[str, Any]],
    existing: list[dict[str, Any]],
    cluster_id: int,
    revive: bool = True,
) -> list[Step]:
    by_name = {row.get("name"): row for row in existing}
    steps = []
    for entry in desired:
        name = entry["name"]
        row = by_name.get(name)
        if row is None:
            body = {k: v for k, v in entry.items() if v is not None}
            body["cluster_id"] = cluster_id
            steps.append(Step(name, "create", body))
            continue
        if row.get("cluster_id") != cluster_id:
            # PATCH ignores cluster_id and names are unique across clusters: a human decides.
            steps.append(
                Step(
                    name,
                    "conflict",
                    service_id=row.get("id"),
                    reason=(
                        f"the name is taken by service id {row.get('id')} in cluster "
                        f"{row.get('cluster_id')}, not cluster {cluster_id}; move or rename it"
                    ),
                )
            )
            continue
        changes = {k: entry.get(k) for k in MANAGED_FIELDS if entry.get(k) != row.get(k)}
        action = "update"
        if not row.get("is_active", True):
            if not revive:
                # its name stays taken, so a POST would fail: say so instead
                reason = (
                    f"service id {row.get('id')} is soft-deleted and revive_soft_deleted "
                    "is false; revive or permanently delete it in MarchProxy"
                )
                steps.append(Step(name, "conflict", service_id=row.get("id"), reason=reason))
                continue
            changes["is_active"] = True
            action = "revive"
        before = {k: row.get(k) for k in changes}
        steps.append(Step(name, action if changes else "unchanged", changes, row.get("id"), before))
    return steps


def find_cluster(client: MarchProxyClient, name: str, cluster_id: str) -> int:
    clusters = client.clusters()
    if cluster_id:
        try:
            wanted = int(cluster_id)
        except ValueError as exc:
            raise UsageError(f"MARCHPROXY_CLUSTER_ID must be a number, got {cluster_id!r}") from exc
        matches = [c for c in clusters if c.get("id") == wanted]
        label = f"id {wanted}"
    else:
        matches = [c for c in clusters if c.get("name") == name]
        label = f"name {name!r}"
    if not matches:
        known = ", ".join(f"{c.get('name')} (id {c.get('id')})" for c in clusters) or "none"
        raise LookupError(f"no MarchProxy cluster with {label}; clusters: {known}")
    return int(matches[0]["id"])


def apply(client: MarchProxyClient, steps: list[Step], out: TextIO, err: TextIO) -> int:
    failed = 0
    for step in steps:
        try:
            if step.action == "create":
                # Local validation first: the server's answer to a bad value can be a 500.
                _require_valid("serviceCreate", step)
                created = client.create_service(step.body)
                step.service_id = (created or {}).get("id")
            elif step.action in ("update", "revive"):
                _require_valid("serviceUpdate", step)
                client.update_service(int(step.service_id or 0), step.body)
            elif step.action == "conflict":
                raise ValueError(step.reason)
            print(f"ok        {step.describe()}", file=out)
        except AuthError:
            raise
        except (ApiError, ValueError) as exc:
            failed += 1
            print(f"error: {step.name}: {exc}", file=err)
    return failed


def _require_valid(definition: str, step: Step) -> None:
    found = marchproxy_schema.problems(definition, step.body)
    if found:
        raise ValueError("refused before sending, invalid for MarchProxy: " + "; ".join(found))


def mappings_notice(mappings_file: Path) -> str:
    try:
        shown = mappings_file.relative_to(REPO_DIR)
    except ValueError:
        shown = mappings_file
    return (
        f"note: mappings are NOT pushed - MarchProxy's api-server has no mappings API. "
        f"Apply {shown} by hand (docs/OPERATIONS.md)."
    )


def run(argv: list[str], env: dict[str, str], out: TextIO, err: TextIO) -> int:
    parser = argparse.ArgumentParser(
        prog="marchproxy-import.sh",
        description="Create or update Rookery's services in a MarchProxy cluster.",
        epilog="exit codes: 0 ok, 1 usage/invalid file, 2 authentication, 3 unknown cluster, "
        "4 a service failed, 5 MarchProxy unreachable or answered unexpectedly",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--services", type=Path, default=MARCHPROXY_DIR / "services.json")
    parser.add_argument("--config", type=Path, default=MARCHPROXY_DIR / "import-config.json")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE

    try:
        config = load_json(args.config, "importConfigFile")
        services = load_json(args.services, "servicesFile")["services"]
        base_url = env.get("MARCHPROXY_API", "").strip()
        if not base_url:
            raise UsageError("MARCHPROXY_API is not set (e.g. http://marchproxy:8000)")
        credentials = Credentials(
            username=env.get("MARCHPROXY_USER", ""),
            password=env.get("MARCHPROXY_PASSWORD", ""),
            token=env.get("MARCHPROXY_TOKEN", ""),
        )
        if not (credentials.token or credentials.can_login):
            raise UsageError("set MARCHPROXY_USER and MARCHPROXY_PASSWORD, or MARCHPROXY_TOKEN")
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE

    client = MarchProxyClient(base_url, credentials)
    cluster_name = env.get("MARCHPROXY_CLUSTER") or config["cluster_name"]
    try:
        cluster_id = find_cluster(client, cluster_name, env.get("MARCHPROXY_CLUSTER_ID", ""))
        existing = client.all_services(page_size=config["list_page_size"])
        steps = plan(services, existing, cluster_id, revive=config["revive_soft_deleted"])
        print(f"MarchProxy {base_url}, cluster id {cluster_id}:", file=out)
        if args.dry_run:
            for step in steps:
                print(f"plan      {step.describe()}", file=out)
            failed = sum(step.action == "conflict" for step in steps)
            print("dry run: nothing was changed", file=out)
        else:
            failed = apply(client, steps, out, err)
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    except AuthError as exc:
        print(f"error: authentication failed: {exc}", file=err)
        return EXIT_AUTH
    except LookupError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_CLUSTER
    except ApiError as exc:
        print(f"error: MarchProxy: {exc}", file=err)
        return EXIT_API

    print(mappings_notice(args.services.parent / config["mappings_file"]), file=out)
    if failed:
        print(f"error: {failed} service(s) failed; see above", file=err)
        return EXIT_SERVICES
    return EXIT_OK


def main() -> int:
    return run(sys.argv[1:], dict(os.environ), sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
