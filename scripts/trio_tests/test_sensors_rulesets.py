"""Sensors and rule sets across real processes: two packet-service instances (sensors seeded
from PACKET_SERVICE_TARGETS), attached to two rule sets of two teams, each enforce their own
set (Classify verdicts), and moving a sensor to the other set changes what it enforces
within a second."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import grpc
import requests
from packet_service.gen import packet_pb2, packet_pb2_grpc
from rookery_common.testing import wait_until
from trio import Proc, Trio, batch_of, free_port, udp_frame

DNS = udp_frame("10.0.0.1", "10.0.0.53", 40000, 53)
WEB = udp_frame("10.0.0.1", "10.0.0.80", 40000, 8080)
ALLOW, DROP = packet_pb2.VERDICT_ALLOW, packet_pb2.VERDICT_DROP


def classify(port: int, token: str, frames: list[bytes]) -> list[int]:
    data, offsets = batch_of(frames)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = packet_pb2_grpc.PacketServiceStub(channel).Classify(
            packet_pb2.PacketBatch(data=data, offsets=offsets),
            timeout=5,
            metadata=[("authorization", f"Bearer {token}")],
        )
    return list(reply.verdicts)


class Client:
    def __init__(self, trio: Trio, token: str) -> None:
        self.base = trio.api
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        reply = requests.request(
            method, f"{self.base}{path}", headers=self.headers, timeout=10, **kwargs
        )
        assert reply.status_code == expect, (method, path, reply.status_code, reply.text)
        return reply.json()["data"]


def second_packet_service(trio: Trio, grpc_port: int) -> Proc:
    """Another packet-service, authenticating its callers with the same AuthService."""
    assert trio.packet is not None
    http_port = free_port()
    proc = dataclasses.replace(
        trio.packet,
        name="packet-service-2",
        env={**trio.packet.env, "GRPC_PORT": str(grpc_port), "METRICS_PORT": str(http_port)},
        health_url=f"http://127.0.0.1:{http_port}/healthz",
        log_path=trio.workdir / "packet-2.log",
        popen=None,
    )
    return proc


def test_two_sensors_enforce_their_own_rule_sets_and_a_moved_sensor_its_new_one(
    trio: Trio,
) -> None:
    other_port = free_port()
    trio.build(
        backend_env={
            "PACKET_SERVICE_TARGETS": (f"127.0.0.1:{trio.packet_grpc_port},127.0.0.1:{other_port}")
        }
    )
    assert trio.packet is not None and trio.backend is not None
    other = second_packet_service(trio, other_port)
    trio.backend.start()
    trio.packet.start()
    other.start()
    try:
        token = trio.login()
        api = Client(trio, token)
        red_port, blue_port = trio.packet_grpc_port, other_port
        # seeded from PACKET_SERVICE_TARGETS, on the default set
        sensors = {s["address"]: s for s in api.call("GET", "/sensors")}
        red_sensor = sensors[f"127.0.0.1:{red_port}"]
        blue_sensor = sensors[f"127.0.0.1:{blue_port}"]
        assert red_sensor["ruleset_id"] == blue_sensor["ruleset_id"] == 1

        red = api.call("POST", "/teams", 201, json={"name": "red"})
        blue = api.call("POST", "/teams", 201, json={"name": "blue"})
        sets = {}
        for team, rule in (
            (red, {"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"]}),
            (
                blue,
                {"name": "drop web", "action": "drop", "protocol": "udp", "dst_ports": ["8080"]},
            ),
        ):
            made = api.call(
                "POST",
                "/rulesets",
                201,
                json={
                    "name": f"{team['name']} rules",
                    "team_id": team["id"],
                    "default_action": "allow",
                },
            )
            api.call("POST", f"/rulesets/{made['id']}/rules", 201, json=rule)
            sets[team["name"]] = made["id"]
        api.call(
            "PATCH",
            f"/sensors/{red_sensor['id']}",
            json={"ruleset_id": sets["red"], "team_id": red["id"]},
        )
        api.call(
            "PATCH",
            f"/sensors/{blue_sensor['id']}",
            json={"ruleset_id": sets["blue"], "team_id": blue["id"]},
        )

        def in_sync(ruleset_id: int, sensor_ids: set[int]) -> bool:
            status = api.call("GET", f"/rulesets/{ruleset_id}/status")
            return (
                status["state"] == "in_sync"
                and {t["sensor_id"] for t in status["targets"]} == sensor_ids
            )

        assert wait_until(lambda: in_sync(sets["red"], {red_sensor["id"]}), 15, 0.1)
        assert wait_until(lambda: in_sync(sets["blue"], {blue_sensor["id"]}), 15, 0.1)
        # each enforces its own set
        assert classify(red_port, token, [DNS, WEB]) == [DROP, ALLOW]
        assert classify(blue_port, token, [DNS, WEB]) == [ALLOW, DROP]
        # per-sensor statistics of one rule set come from its sensor alone
        summary = api.call("GET", "/stats/summary", params={"ruleset_id": sets["blue"]})
        assert summary["targets_total"] == 1 and summary["packets_total"] == 2

        # moving the red sensor to the blue set: enforced within a second
        moved = time.monotonic()
        api.call("PATCH", f"/sensors/{red_sensor['id']}", json={"ruleset_id": sets["blue"]})
        enforced = wait_until(
            lambda: classify(red_port, token, [DNS, WEB]) == [ALLOW, DROP], 1.0, 0.02
        )
        assert enforced, "the moved sensor did not enforce its new rule set within 1 s"
        assert time.monotonic() - moved < 1.5
        assert classify(blue_port, token, [DNS, WEB]) == [ALLOW, DROP]
        assert wait_until(
            lambda: in_sync(sets["blue"], {red_sensor["id"], blue_sensor["id"]}), 5, 0.1
        )
        assert api.call("GET", f"/rulesets/{sets['red']}/status")["targets"] == []
        # a write to the blue set reaches both sensors now
        api.call(
            "POST",
            f"/rulesets/{sets['blue']}/rules",
            201,
            json={"name": "drop dns too", "action": "drop", "protocol": "udp", "dst_ports": ["53"]},
        )
        for port in (red_port, blue_port):
            assert wait_until(
                lambda port=port: classify(port, token, [DNS, WEB]) == [DROP, DROP], 1.0, 0.02
            ), f"packet-service on {port} did not get the write within 1 s"
    finally:
        other.stop()
