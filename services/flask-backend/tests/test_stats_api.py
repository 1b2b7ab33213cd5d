"""/api/v1/stats: query validation, the OpenAPI contract, and what a failing packet-service
makes of the statistics views and of /rules/status.

A packet-service that fails with an arbitrary gRPC status (UNAUTHENTICATED, DEADLINE_EXCEEDED,
INTERNAL…) cannot be made from the real one on demand, so these tests run a small gRPC
server on loopback that answers every call with the status under test. Sums, rates and
paging against the real packet-service are in scripts/trio_tests/test_stats_series.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from conftest import Api
from rookery_backend.config import ConfigError, load_settings
from rookery_backend.gen import packet_pb2, packet_pb2_grpc
from rookery_backend.packet_link.prometheus_series import promql
from rookery_backend.packet_link.stats_view import encode_page_token


@dataclass(slots=True)
class FailingPacketService(packet_pb2_grpc.PacketServiceServicer):
    """Answers every RPC with `code`; DEADLINE_EXCEEDED is the caller's own deadline
    firing while the call is held open until the test ends."""

    code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    release: threading.Event = field(default_factory=threading.Event)
    calls: list[str] = field(default_factory=list)
    # Only these methods fail (None: all); GetStats answers five allowed packets otherwise.
    only: set[str] | None = None

    def _fail(self, method: str, context: grpc.ServicerContext) -> Any:
        self.calls.append(method)
        if self.only is not None and method not in self.only:
            return packet_pb2.Stats(packets_total=5, verdicts=packet_pb2.VerdictCounts(allow=5))
        if self.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            self.release.wait(30)
            context.abort(grpc.StatusCode.CANCELLED, "released")
        context.abort(self.code, f"{self.code.name.lower()} from the test server")

    def GetStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._fail("GetStats", context)

    def GetSeries(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._fail("GetSeries", context)

    def TopFlows(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._fail("TopFlows", context)

    def GetRules(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._fail("GetRules", context)

    def SetRules(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._fail("SetRules", context)


@pytest.fixture
def failing() -> Iterator[tuple[FailingPacketService, str]]:
    servicer = FailingPacketService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    packet_pb2_grpc.add_PacketServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        servicer.release.set()
        server.stop(grace=None)


@pytest.fixture
def failing_api(app_factory, failing) -> Iterator[tuple[Api, FailingPacketService]]:
    servicer, address = failing
    app = app_factory(packet_service_targets=address, packet_deadline=0.3)
    app.extensions["rookery"].packet_link.seed_sensors()  # as the server does at start
    try:
        yield Api(app.test_client()), servicer
    finally:
        app.extensions["rookery"].packet_link.stop()


# ---------------------------------------------------------------- validation and contract
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "metric"),
        ({"metric": "packets,nonsense"}, "metric"),
        ({"metric": "packets", "range": "5 weeks"}, "range"),
        ({"metric": "packets", "range": "5"}, "range"),  # below 10 s
        ({"metric": "packets", "range": "30d"}, "range"),  # above 7 days
        ({"metric": "packets", "step": "0"}, "step"),
        ({"metric": "packets", "step": "often"}, "step"),
        ({"metric": "packets", "range": "24h", "step": "1"}, "step"),  # 86400 points
    ],
)
def test_series_query_errors_name_the_parameter(api, query, field) -> None:
    reply = api.call("GET", "/api/v1/stats/series", api.admin_token(), query_string=query)
    assert reply.status_code == 422, reply.get_json()
    error = reply.get_json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["details"]["fields"]) == [field], error


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"n": "0"}, "n"),
        ({"n": "1001"}, "n"),
        ({"order_by": "age"}, "order_by"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
def test_top_flows_query_errors_name_the_parameter(api, query, field) -> None:
    reply = api.call("GET", "/api/v1/stats/flows/top", api.admin_token(), query_string=query)
    assert reply.status_code == 422, reply.get_json()
    assert list(reply.get_json()["error"]["details"]["fields"]) == [field]


def test_series_needs_stats_read(api) -> None:
    admin = api.admin_token()
    nobody = api.user_token(admin, "norole@example.com", [])
    reply = api.call("GET", "/api/v1/stats/series", nobody, query_string={"metric": "packets"})
    assert reply.status_code == 403
    assert api.call("GET", "/api/v1/stats/series?metric=packets").status_code == 401


def test_openapi_documents_series_flows_paging_and_503(api) -> None:
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    series = document["paths"]["/api/v1/stats/series"]["get"]
    params = {p["name"]: p for p in series["parameters"]}
    assert set(params) == {"metric", "range", "step", "ruleset_id", "sensor_id"}
    assert params["metric"]["required"] and not params["range"]["required"]
    ok = series["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert ok["data"]["$ref"].endswith("/SeriesOut")
    assert ok["meta"]["$ref"].endswith("/SeriesMeta")
    assert "503" in series["responses"]
    assert {"values", "metric", "rule_id"} <= set(schemas["SeriesLineOut"]["properties"])
    flows = document["paths"]["/api/v1/stats/flows/top"]["get"]
    assert {p["name"] for p in flows["parameters"]} == {
        "n",
        "order_by",
        "page_token",
        "ruleset_id",
        "sensor_id",
    }
    meta = flows["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert meta["meta"]["$ref"].endswith("/FlowsMeta")
    assert "next_page_token" in schemas["FlowsMeta"]["properties"]
    assert "bytes_wire_total" in schemas["StatsSummaryOut"]["properties"]
    assert "since" in schemas["RuleHitsMeta"]["properties"]
    for path in ("/api/v1/stats/summary", "/api/v1/stats/rules"):
        assert "503" in document["paths"][path]["get"]["responses"]


def test_no_target_configured_is_503_not_500(api) -> None:
    admin = api.admin_token()
    for path in ("/stats/summary", "/stats/rules", "/stats/flows/top", "/stats/series"):
        reply = api.call("GET", f"/api/v1{path}", admin, query_string={"metric": "packets"})
        assert reply.status_code == 503, (path, reply.get_json())
        assert reply.get_json()["error"]["code"] == "upstream_unavailable"


# ---------------------------------------------------------------- gRPC failures → 503
@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
    ],
)
def test_every_grpc_failure_is_503_with_the_reason(failing_api, code) -> None:
    api, servicer = failing_api
    servicer.code = code
    admin = api.admin_token()
    for path in ("/stats/summary", "/stats/rules", "/stats/flows/top", "/stats/series"):
        reply = api.call("GET", f"/api/v1{path}", admin, query_string={"metric": "packets"})
        assert reply.status_code == 503, (path, reply.get_json())
        error = reply.get_json()["error"]
        assert error["code"] == "upstream_unavailable"
        # The reason names the status (the breaker may open after repeated UNAVAILABLE).
        reasons = " ".join(error["details"]["reasons"].values())
        assert code.name in reasons or "circuit breaker open" in reasons, error
        assert reply.headers["Retry-After"] == "5"
    assert servicer.calls, "the views never reached the test server"


def test_revoked_credential_is_named_in_the_503(failing_api) -> None:
    api, servicer = failing_api
    servicer.code = grpc.StatusCode.UNAUTHENTICATED
    reply = api.call("GET", "/api/v1/stats/summary", api.admin_token())
    assert reply.status_code == 503
    message = reply.get_json()["error"]["message"]
    assert "refused the credential of flask-backend's service account" in message


def test_a_history_that_does_not_answer_is_named_not_a_silent_zero(failing_api) -> None:
    api, servicer = failing_api
    servicer.code = grpc.StatusCode.FAILED_PRECONDITION  # packet-service with history off
    servicer.only = {"GetSeries"}
    reply = api.call("GET", "/api/v1/stats/summary", api.admin_token())
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["data"]["packets_total"] == 5 and body["data"]["packets_per_second"] == 0
    (reason,) = body["meta"]["reasons"].values()
    assert reason.startswith("rates: FAILED_PRECONDITION")


def test_rules_status_says_the_credential_was_refused(failing_api) -> None:
    api, servicer = failing_api
    servicer.code = grpc.StatusCode.UNAUTHENTICATED
    admin = api.admin_token()
    created = api.call(
        "POST", "/api/v1/rules", admin, json={"name": "drop-telnet", "action": "drop"}
    )
    assert created.status_code == 201, created.get_json()
    link = api.client.application.extensions["rookery"].packet_link
    link.publisher.reconcile_once()  # what the background loop does every interval
    status = api.call("GET", "/api/v1/rules/status", admin).get_json()["data"]
    assert status["state"] == "pending"
    error = status["targets"][0]["last_error"]
    assert "refused the credential of flask-backend's service account" in error
    assert "packet-publisher@rookery.internal" in error and "UNAUTHENTICATED" in error


def test_page_token_round_trip(api) -> None:
    token = encode_page_token(30)
    reply = api.call(
        "GET", "/api/v1/stats/flows/top", api.admin_token(), query_string={"page_token": token}
    )
    # Valid token, nothing configured: the token was accepted, the answer is 503.
    assert reply.status_code == 503


# ---------------------------------------------------------------- Prometheus settings
@pytest.mark.parametrize("url", ["prometheus:9090", "ftp://prometheus", "http://a b"])
def test_prometheus_url_must_be_http(tmp_path, url) -> None:
    env = {"DATA_DIR": str(tmp_path), "PROMETHEUS_URL": url}
    with pytest.raises(ConfigError, match="PROMETHEUS_URL"):
        load_settings(env)
    ok = load_settings({**env, "PROMETHEUS_URL": "http://127.0.0.1:9090/prom/"})
    assert ok.prometheus_url == "http://127.0.0.1:9090/prom/"


def test_promql_is_an_increase_per_step_over_a_window_of_enough_scrapes() -> None:
    # A step close to the scrape interval: the window stretches to four scrapes and the
    # rate is scaled back to one step's increase.
    assert promql("allow", "packet-service", 5, 15.0) == (
        'sum(rate(packets_total{job="packet-service",verdict="allow"}[60s])) * 5'
    )
    assert (
        promql("bytes_wire", "ps", 300, 15.0) == 'sum(rate(bytes_wire_total{job="ps"}[315s])) * 300'
    )
    assert promql("rule_hits", "ps", 2, 1.0).startswith("sum by (rule)(rate(rule_hits_total")


# ---------------------------------------------------------------- filters and visibility
@dataclass(slots=True)
class CountingPacketService(packet_pb2_grpc.PacketServiceServicer):
    """Answers with `packets` allowed packets, one rule hit named after itself and one
    flow: each instance's share of a sum is recognisable."""

    packets: int
    rule: str

    def GetStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        return packet_pb2.Stats(
            packets_total=self.packets,
            verdicts=packet_pb2.VerdictCounts(allow=self.packets),
            ruleset_version=1,
            rule_hits=[packet_pb2.RuleHits(rule_id=self.rule, rule_name=self.rule, hits=1)],
        )

    def GetSeries(self, request: Any, context: grpc.ServicerContext) -> Any:
        return packet_pb2.SeriesResponse(
            start=request.start, step_seconds=request.step_seconds or 1, points=0
        )

    def TopFlows(self, request: Any, context: grpc.ServicerContext) -> Any:
        flow = packet_pb2.Flow(src="10.0.0.1", dst=self.rule, packets=self.packets)
        return packet_pb2.TopFlowsResponse(flows=[flow], flows_active=1)

    def GetRules(self, request: Any, context: grpc.ServicerContext) -> Any:
        return packet_pb2.RuleSet(version=1)


@pytest.fixture
def two_sensors(app_factory) -> Iterator[dict[str, Any]]:
    """Sensor "red" (5 packets) on the default set, owned by team red; sensor "blue" (7
    packets) on rule set "blue" of team blue."""
    from test_sensors_api import add_member, add_ruleset, add_team, data

    servers = []
    addresses = []
    for packets, rule in ((5, "red-rule"), (7, "blue-rule")):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        packet_pb2_grpc.add_PacketServiceServicer_to_server(
            CountingPacketService(packets, rule), server
        )
        addresses.append(f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}")
        server.start()
        servers.append(server)
    app = app_factory(packet_deadline=2.0)
    try:
        api = Api(app.test_client())
        admin = api.admin_token()
        red, blue = add_team(app, "red"), add_team(app, "blue")
        blue_set = add_ruleset(app, "blue", version=40, team_id=blue)
        made = {}
        for name, address, ruleset, team in (
            ("red", addresses[0], 1, red),
            ("blue", addresses[1], blue_set, blue),
        ):
            body = {"name": name, "address": address, "ruleset_id": ruleset, "team_id": team}
            made[name] = data(api.call("POST", "/api/v1/sensors", admin, json=body))["id"]
        member = api.create_user(admin, "blue-viewer@example.com", [])
        add_member(app, blue, member["id"], "team-viewer")
        yield {
            "app": app,
            "api": api,
            "admin": admin,
            "blue_viewer": api.login("blue-viewer@example.com", "password1"),
            "blue_set": blue_set,
            "sensors": made,
            "addresses": addresses,
        }
    finally:
        app.extensions["rookery"].packet_link.close()
        for server in servers:
            server.stop(None)


def _summary(world: dict[str, Any], token: str, **query: Any) -> Any:
    return world["api"].call("GET", "/api/v1/stats/summary", token, query_string=query)


def test_stats_filter_by_rule_set_and_sensor(two_sensors: dict[str, Any]) -> None:
    world, admin = two_sensors, two_sensors["admin"]
    everything = _summary(world, admin).get_json()["data"]
    assert everything["packets_total"] == 12 and everything["targets_total"] == 2
    blue = _summary(world, admin, ruleset_id=world["blue_set"]).get_json()["data"]
    assert blue["packets_total"] == 7 and blue["targets_total"] == 1
    red = _summary(world, admin, sensor_id=world["sensors"]["red"]).get_json()["data"]
    assert red["packets_total"] == 5
    # a sensor of another set than the one named, or unknown ids: 404; a bad id: 422
    crossed = _summary(
        world, admin, ruleset_id=world["blue_set"], sensor_id=world["sensors"]["red"]
    )
    assert crossed.status_code == 404
    assert _summary(world, admin, sensor_id=999).status_code == 404
    assert _summary(world, admin, ruleset_id=999).get_json()["error"]["code"] == "not_found"
    assert _summary(world, admin, ruleset_id="blue").status_code == 422
    assert _summary(world, admin, sensor_id=0).status_code == 422
    hits = world["api"].call(
        "GET", "/api/v1/stats/rules", admin, query_string={"ruleset_id": world["blue_set"]}
    )
    assert [h["rule_id"] for h in hits.get_json()["data"]] == ["blue-rule"]
    flows = world["api"].call(
        "GET", "/api/v1/stats/flows/top", admin, query_string={"sensor_id": world["sensors"]["red"]}
    )
    assert [f["dst"] for f in flows.get_json()["data"]] == ["red-rule"]


def test_a_team_member_sees_only_the_sensors_of_rule_sets_they_may_read(
    two_sensors: dict[str, Any],
) -> None:
    world, viewer = two_sensors, two_sensors["blue_viewer"]
    mine = _summary(world, viewer).get_json()["data"]
    assert mine["packets_total"] == 7 and mine["targets_total"] == 1
    assert _summary(world, viewer, sensor_id=world["sensors"]["red"]).status_code == 404
    # a rule set the caller may not read is, to them, none at all
    assert _summary(world, viewer, ruleset_id=1).get_json()["error"]["code"] == "not_found"
    hits = world["api"].call("GET", "/api/v1/stats/rules", viewer).get_json()["data"]
    assert [h["rule_id"] for h in hits] == ["blue-rule"]
    flows = world["api"].call("GET", "/api/v1/stats/flows/top", viewer).get_json()["data"]
    assert [f["dst"] for f in flows] == ["blue-rule"]
    series = world["api"].call(
        "GET", "/api/v1/stats/series", viewer, query_string={"metric": "packets"}
    )
    assert series.status_code == 200, series.get_json()
    assert [t["target"] for t in series.get_json()["meta"]["targets"]] == [world["addresses"][1]]
    # an account with no role and no team sees nothing at all
    api = world["api"]
    api.create_user(world["admin"], "nobody@example.com", [])
    nobody = api.login("nobody@example.com", "password1")
    nothing = _summary(world, nobody)
    assert nothing.status_code == 403, nothing.get_json()
