"""REST is the source of truth for rules, gRPC carries them, and the pair heals itself."""

from __future__ import annotations

import signal
import time

import grpc
import pytest
import requests
from packet_service.gen import packet_pb2, packet_pb2_grpc
from rookery_common.testing import wait_until
from trio import Proc, Trio, batch_of, free_port, udp_frame

DNS = udp_frame("10.0.0.1", "10.0.0.53", 40000, 53)
OTHER = udp_frame("10.0.0.1", "10.0.0.80", 40000, 8080)


def classify(trio: Trio, token: str, frames: list[bytes]) -> list[int]:
    data, offsets = batch_of(frames)
    with grpc.insecure_channel(f"127.0.0.1:{trio.packet_grpc_port}") as channel:
        stub = packet_pb2_grpc.PacketServiceStub(channel)
        reply = stub.Classify(
            packet_pb2.PacketBatch(data=data, offsets=offsets),
            timeout=5,
            metadata=[("authorization", f"Bearer {token}")],
        )
    return list(reply.verdicts)


def rules_status(trio: Trio, auth: dict[str, str]) -> dict:
    return requests.get(f"{trio.api}/rules/status", headers=auth, timeout=5).json()["data"]


def drop_dns_rule(trio: Trio, token: str) -> dict:
    reply = requests.post(
        f"{trio.api}/rules",
        json={"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_rule_created_over_rest_is_enforced_within_a_second(trio: Trio) -> None:
    trio.backend.start()
    trio.packet.start()
    token = trio.login()
    assert classify(trio, token, [DNS, OTHER]) == [packet_pb2.VERDICT_ALLOW] * 2
    # Steady state first: packet-service started after the backend, whose first publish
    # failed and opened the breaker for PACKET_BREAKER_RESET seconds.
    auth = {"Authorization": f"Bearer {token}"}
    assert wait_until(lambda: rules_status(trio, auth)["state"] == "in_sync", 10, 0.1)
    created = time.monotonic()
    drop_dns_rule(trio, token)
    verdicts = wait_until(
        lambda: (
            classify(trio, token, [DNS, OTHER])
            == [packet_pb2.VERDICT_DROP, packet_pb2.VERDICT_ALLOW]
        ),
        1.0,
    )
    assert verdicts, "the rule was not enforced within 1 s"
    assert time.monotonic() - created < 1.5
    # the request id of the REST write shows up in packet-service's log
    reply = requests.post(
        f"{trio.api}/rules",
        json={"name": "count web", "action": "count", "protocol": "tcp", "dst_ports": ["80"]},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trio-correlation-42"},
        timeout=10,
    )
    assert reply.status_code == 201
    assert wait_until(lambda: "trio-correlation-42" in trio.packet.log(), 3.0)
    assert "trio-correlation-42" in trio.backend.log()


def test_packet_service_restart_heals_and_stats_degrade_gracefully(trio: Trio) -> None:
    trio.backend.start()
    trio.packet.start()
    token = trio.login()
    auth = {"Authorization": f"Bearer {token}"}
    drop_dns_rule(trio, token)
    classify(trio, token, [DNS, OTHER])
    assert wait_until(lambda: rules_status(trio, auth)["state"] == "in_sync", 10, 0.1)
    fresh = requests.get(f"{trio.api}/stats/summary", headers=auth, timeout=5).json()
    assert fresh["meta"]["stale"] is False
    assert fresh["data"]["packets_total"] >= 2

    trio.packet.stop(signal.SIGKILL)  # no goodbye
    stale = wait_until(
        lambda: requests.get(f"{trio.api}/stats/summary", headers=auth, timeout=5), 5
    )
    body = stale.json()
    assert stale.status_code == 200 and body["meta"]["stale"] is True, body
    assert body["meta"]["age_seconds"] >= 0
    # (a Response is falsy for a 4xx/5xx status, so wait for its JSON body instead)
    gone = wait_until(
        lambda: (
            (r := requests.get(f"{trio.api}/stats/summary", headers=auth, timeout=5)).status_code
            == 503
            and r.json()
        ),
        10,
    )
    assert gone, "stats never turned 503 after the stale limit"
    assert gone["error"]["code"] == "upstream_unavailable"

    # writes still succeed and say the publish is pending
    reply = requests.post(
        f"{trio.api}/rules",
        json={"name": "drop web", "action": "drop", "protocol": "udp", "dst_ports": ["8080"]},
        headers=auth,
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["meta"]["publish"] == "pending"
    status = requests.get(f"{trio.api}/rules/status", headers=auth, timeout=5).json()["data"]
    assert status["state"] == "pending"

    # a new packet-service on the same port is brought up to date without anyone acting
    trio.packet.start()
    assert wait_until(
        lambda: classify(trio, token, [DNS, OTHER]) == [packet_pb2.VERDICT_DROP] * 2, 10, 0.2
    ), "the restarted packet-service never got the rule set"
    converged = wait_until(
        lambda: (
            (s := requests.get(f"{trio.api}/rules/status", headers=auth, timeout=5).json()["data"])[
                "state"
            ]
            == "in_sync"
            and s
        ),
        10,
        0.2,
    )
    assert converged, "status never converged"
    assert converged["targets"][0]["breaker_state"] == "closed"
    assert converged["targets"][0]["applied_version"] == converged["desired_version"]


def test_backend_restart_loses_nothing(trio: Trio) -> None:
    trio.backend.start()
    trio.packet.start()
    token = trio.login()
    drop_dns_rule(trio, token)
    assert wait_until(lambda: classify(trio, token, [DNS]) == [packet_pb2.VERDICT_DROP], 2)
    before = requests.get(
        f"{trio.api}/rules", headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()

    trio.backend.stop()
    # packet-service keeps enforcing the last rule set meanwhile (the caller's credential
    # was validated before and is cached)
    assert classify(trio, token, [DNS, OTHER]) == [
        packet_pb2.VERDICT_DROP,
        packet_pb2.VERDICT_ALLOW,
    ]

    trio.backend.start()
    after = requests.get(
        f"{trio.api}/rules", headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()
    assert after["data"] == before["data"]
    assert after["meta"]["version"] == before["meta"]["version"]


@pytest.mark.parametrize("method", ["Classify", "SetRules"])
def test_packet_service_refuses_missing_credentials(trio: Trio, method: str) -> None:
    trio.backend.start()
    trio.packet.start()
    with grpc.insecure_channel(f"127.0.0.1:{trio.packet_grpc_port}") as channel:
        stub = packet_pb2_grpc.PacketServiceStub(channel)
        request = (
            packet_pb2.PacketBatch()
            if method == "Classify"
            else packet_pb2.RuleSet(version=1, default_action="allow")
        )
        with pytest.raises(grpc.RpcError) as caught:
            getattr(stub, method)(request, timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as caught:
            getattr(stub, method)(
                request, timeout=5, metadata=[("authorization", "Bearer nonsense")]
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_every_target_gets_the_rule_set(trio: Trio, tmp_path) -> None:
    second_grpc, second_http = free_port(), free_port()
    second = Proc(
        "packet-service #2",
        list(trio.packet.command),
        trio.packet.cwd,
        {**trio.packet.env, "GRPC_PORT": str(second_grpc), "METRICS_PORT": str(second_http)},
        f"http://127.0.0.1:{second_http}/healthz",
        tmp_path / "packet2.log",
    )
    trio.backend.env["PACKET_SERVICE_TARGETS"] = (
        f"127.0.0.1:{trio.packet_grpc_port},127.0.0.1:{second_grpc}"
    )
    trio.backend.start()
    trio.packet.start()
    second.start()
    try:
        token = trio.login()
        auth = {"Authorization": f"Bearer {token}"}
        # both targets reached once (their breakers may have opened while they started)
        assert wait_until(lambda: rules_status(trio, auth)["state"] == "in_sync", 10, 0.1)
        assert drop_dns_rule(trio, token)["meta"]["publish"] == "applied"
        for port in (trio.packet_grpc_port, second_grpc):
            trio.packet_grpc_port, original = port, trio.packet_grpc_port
            assert classify(trio, token, [DNS]) == [packet_pb2.VERDICT_DROP]
            trio.packet_grpc_port = original
        status = rules_status(trio, auth)
        assert status["state"] == "in_sync"
        assert sorted(t["target"] for t in status["targets"]) == sorted(
            [f"127.0.0.1:{trio.packet_grpc_port}", f"127.0.0.1:{second_grpc}"]
        )
        assert all(t["applied_version"] == status["desired_version"] for t in status["targets"])
    finally:
        second.stop()
