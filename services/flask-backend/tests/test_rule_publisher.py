"""The rule publisher against packet-service stand-ins served over real gRPC on loopback:
writes coalesced into one publish are all applied (a later version contains an earlier one)
without waiting out their timeout; a write does not wait on slow full-set publishes; the
loop starts and stops any number of times; outages are logged once per state change; each
sensor receives the rule set it is attached to, a moved sensor its new set, and sensors
come and go while it runs.

Time is an injected clock (the publisher measures rounds with it); the stand-in's SetRules
can be held at a gate (an Event) to make writes overtake each other deterministically."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from conftest import Api
from rookery_backend.api.v1 import rules as rules_api
from rookery_backend.gen import packet_pb2, packet_pb2_grpc
from rookery_backend.packet_link.packet_client import PacketTarget
from rookery_backend.packet_link.rule_publisher import RulePublisher
from rookery_backend.packet_link.sensors import Sensor, TargetPool

FOREVER = 3600.0  # a wait no test may sit out: the thread must come back well before


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class StandIn(packet_pb2_grpc.PacketServiceServicer):
    clock: Clock
    version: int = 0
    published: list[int] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)  # x-request-id per SetRules
    full_reads: int = 0
    gate: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)
    publish_cost: float = 0.0  # clock seconds a SetRules takes
    down: bool = False

    def __post_init__(self) -> None:
        self.gate.set()

    def SetRules(self, request: Any, context: grpc.ServicerContext) -> Any:
        if self.down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        self.entered.set()
        assert self.gate.wait(30)
        self.clock.now += self.publish_cost
        self.version = request.version
        self.published.append(request.version)
        self.request_ids.append(dict(context.invocation_metadata()).get("x-request-id"))
        return packet_pb2.RuleSetStatus(version=request.version, rule_count=len(request.rules))

    def GetRules(self, request: Any, context: grpc.ServicerContext) -> Any:
        if self.down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        if not request.version_only:
            self.full_reads += 1
        return packet_pb2.RuleSet(version=self.version, default_action="allow")


class Database:
    """The rule sets (version per set id) and the sensors as the publisher reads them;
    `down` makes reading fail. `version` is the default set's (id 1)."""

    def __init__(self, version: int = 0) -> None:
        self.versions: dict[int, int] = {1: version}
        self.sensors: list[Sensor] = []
        self.loads = 0
        self.down = False

    @property
    def version(self) -> int:
        return self.versions[1]

    @version.setter
    def version(self, value: int) -> None:
        self.versions[1] = value

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("connection refused (the test stopped it)")

    def load(self, ruleset_id: int = 1) -> Any:
        self._check()
        if ruleset_id not in self.versions:
            return None
        self.loads += 1
        return packet_pb2.RuleSet(version=self.versions[ruleset_id], default_action="allow")

    def load_version(self, ruleset_id: int = 1) -> int | None:
        self._check()
        return self.versions.get(ruleset_id)

    def read_sensors(self) -> list[Sensor]:
        self._check()
        return list(self.sensors)

    def attach(self, sensor_id: int, address: str, ruleset_id: int = 1) -> None:
        """Adds the sensor, or moves it to `ruleset_id`."""
        self.sensors = [s for s in self.sensors if s.id != sensor_id]
        self.sensors.append(Sensor(sensor_id, f"sensor-{sensor_id}", address, ruleset_id))
        self.sensors.sort(key=lambda s: s.id)


def serve(service: StandIn) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    packet_pb2_grpc.add_PacketServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, str]]:
    service = StandIn(Clock())
    server, address = serve(service)
    try:
        yield service, address
    finally:
        service.gate.set()
        server.stop(None)


@pytest.fixture
def second_stand_in(stand_in: tuple[StandIn, str]) -> Iterator[tuple[StandIn, str]]:
    """Another packet-service, on the first one's clock."""
    service = StandIn(stand_in[0].clock)
    server, address = serve(service)
    try:
        yield service, address
    finally:
        service.gate.set()
        server.stop(None)


def target_pool(**options: Any) -> TargetPool:
    settings = {"deadline": 30, "breaker_fail_max": 1000, **options}
    return TargetPool(lambda address: PacketTarget(address, lambda: None, **settings))


@dataclass
class Rig:
    clock: Clock
    service: StandIn
    database: Database
    publisher: RulePublisher
    pool: TargetPool
    address: str


@pytest.fixture
def rig(stand_in: tuple[StandIn, str]) -> Iterator[Rig]:
    service, address = stand_in
    pool = target_pool()
    database = Database()
    database.attach(1, address)
    publisher = RulePublisher(
        database.read_sensors,
        pool,
        database.load,
        interval=FOREVER,
        load_version=database.load_version,
        clock=service.clock,
    )
    try:
        yield Rig(service.clock, service, database, publisher, pool, address)
    finally:
        service.gate.set()
        publisher.stop()
        pool.close()


def notify_in_thread(publisher: RulePublisher, version: int) -> tuple[threading.Thread, list]:
    answer: list[bool] = []
    thread = threading.Thread(
        target=lambda: answer.append(publisher.notify(version, wait=FOREVER)), daemon=True
    )
    thread.start()
    return thread, answer


def test_an_overtaken_write_is_applied_with_the_later_version(rig: Rig) -> None:
    rig.publisher.start()
    rig.database.version = 1
    assert rig.publisher.notify(1, wait=FOREVER) is True
    # Version 2 is being published (held at the gate) when versions 3 and 4 are written:
    # the next round publishes 4 only, which contains 3.
    rig.service.gate.clear()
    rig.service.entered.clear()
    rig.database.version = 2
    second, second_answer = notify_in_thread(rig.publisher, 2)
    assert rig.service.entered.wait(10)
    rig.database.version = 3
    third, third_answer = notify_in_thread(rig.publisher, 3)
    rig.database.version = 4
    fourth, fourth_answer = notify_in_thread(rig.publisher, 4)
    rig.service.gate.set()
    for thread in (second, third, fourth):
        thread.join(10)
        assert not thread.is_alive(), "a write waited for a version that was never published"
    assert rig.service.published == [1, 2, 4]
    assert second_answer == third_answer == fourth_answer == [True]
    # and later: a write whose version was already overtaken answers at once, without waiting
    assert rig.publisher.notify(3, wait=0) is True
    assert rig.publisher.status(4)["state"] == "in_sync"


def test_a_round_between_a_writes_commit_and_its_notify_carries_its_request_id(
    rig: Rig,
) -> None:
    """The loop's own round may come after the write committed and before notify(): it
    publishes the version, so it must carry the write's id (notify's round sends nothing)."""
    rig.publisher.expect("write-7")  # the write is about to commit
    rig.database.version = 1  # committed
    rig.publisher.reconcile_once()  # the loop's round, before notify()
    assert rig.service.published == [1]
    assert rig.service.request_ids == ["write-7"]
    assert rig.publisher.notify(1, wait=FOREVER, request_id="write-7") is True
    assert rig.service.published == [1]  # nothing left to send


def test_a_write_does_not_wait_on_slow_full_set_publishes(rig: Rig) -> None:
    rig.publisher.start()
    rig.service.publish_cost = 5.0  # a large set: packet-service takes seconds to compile it
    rig.database.version = 1
    assert rig.publisher.notify(1, wait=FOREVER) is True  # the first round is unknown: waits
    rig.service.gate.clear()
    rig.service.entered.clear()
    rig.database.version = 2
    thread, answer = notify_in_thread(rig.publisher, 2)
    thread.join(10)
    assert not thread.is_alive() and answer == [False]  # "pending", at once
    assert rig.service.entered.wait(10)  # the publish still goes out
    rig.service.gate.set()
    rig.publisher.stop()  # lets the round under way finish
    assert rig.service.published == [1, 2] and rig.publisher.notify(2, wait=0) is True


def test_the_whole_set_is_read_only_when_its_version_changed(rig: Rig) -> None:
    rig.database.version = 7
    rig.publisher.reconcile_once()
    for _ in range(5):  # the periodic check: the version alone, from both sides
        rig.publisher.reconcile_once()
    assert rig.database.loads == 1 and rig.service.full_reads == 0
    assert rig.service.published == [7]
    rig.service.version = 0  # packet-service restarted: it runs nothing
    rig.publisher.reconcile_once()
    assert rig.service.published == [7, 7] and rig.database.loads == 1


def test_start_and_stop_are_idempotent_and_restartable(rig: Rig) -> None:
    publisher = rig.publisher
    publisher.stop()  # before any start
    publisher.start()
    publisher.start()
    assert publisher.running
    rig.database.version = 1
    assert publisher.notify(1, wait=FOREVER) is True
    publisher.stop()
    publisher.stop()
    assert not publisher.running
    rig.database.version = 2
    assert publisher.notify(2, wait=FOREVER) is False  # stopped: "pending", no wait
    publisher.start()
    assert publisher.running
    assert publisher.notify(2, wait=FOREVER) is True
    assert rig.service.published == [1, 2]


def test_a_write_made_while_the_breaker_is_open_goes_out_when_it_resets(
    stand_in: tuple[StandIn, str],
) -> None:
    """The loop's interval is an hour: only the breaker's reset can bring the next round."""
    service, address = stand_in
    reset = 0.3
    pool = target_pool(deadline=5, breaker_fail_max=1, breaker_reset=reset)
    database = Database(version=1)
    database.attach(1, address)
    publisher = RulePublisher(database.read_sensors, pool, database.load, interval=FOREVER,
                              load_version=database.load_version)  # fmt: skip
    try:
        service.down = True
        publisher.start()
        assert publisher.notify(1, wait=FOREVER) is False  # nobody reachable: "pending"
        target = pool.get(address)
        assert target is not None
        assert target.breaker_state == "open" and 0 < target.retry_in() <= reset
        service.down = False  # packet-service is back; nothing else happens
        for _ in range(200):
            if publisher.status(1)["state"] == "in_sync":
                break
            threading.Event().wait(0.05)
        assert service.published == [1], "the write waited for the next interval"
        assert target.breaker_state == "closed" and target.retry_in() == 0
        # back in step: no round is brought forward any more
        assert publisher.reconcile_once() is None
    finally:
        publisher.stop()
        pool.close()


def test_outages_are_logged_once_per_state_change(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rookery")
    rig.database.version = 1
    rig.database.down = True
    for _ in range(20):
        rig.publisher.reconcile_once()
        rig.clock.now += 2
    rig.database.down = False
    rig.service.down = True
    for _ in range(20):
        rig.publisher.reconcile_once()
        rig.clock.now += 2
    rig.service.down = False
    rig.publisher.reconcile_once()
    rig.publisher.reconcile_once()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("rookery")]
    address = rig.address
    assert lines == [
        ("WARNING", "rule database unavailable"),
        ("WARNING", "rule database available again"),
        ("WARNING", f"packet-service {address} unavailable"),
        ("WARNING", f"packet-service {address} available again"),
        ("INFO", "rule set published"),
    ]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1  # the database's first failure, not one per retry
    assert rig.service.published == [1]


def test_each_sensor_receives_its_set_and_a_moved_sensor_its_new_one(
    rig: Rig, second_stand_in: tuple[StandIn, str]
) -> None:
    other, other_address = second_stand_in
    rig.database.versions = {1: 3, 2: 8}  # one sequence: a version names one set
    rig.database.attach(2, other_address, ruleset_id=2)
    rig.publisher.reconcile_once()
    assert rig.service.published == [3] and other.published == [8]
    first = rig.publisher.status(3, 1)
    assert [(t["sensor_id"], t["name"], t["target"]) for t in first["targets"]] == [
        (1, "sensor-1", rig.address)
    ]
    assert first["state"] == "in_sync"
    assert [t["sensor_id"] for t in rig.publisher.status(8, 2)["targets"]] == [2]
    # A write to set 1 (version 9): only its sensor is published to, and it is applied
    # although sensor 2 never runs version 9.
    rig.database.versions[1] = 9
    rig.publisher.start()
    assert rig.publisher.notify(9, wait=FOREVER, ruleset_id=1) is True
    assert rig.service.published == [3, 9] and other.published == [8]
    # Sensor 2 moves to set 1, whose version (9) is above its old set's (8)…
    rig.database.attach(2, other_address, ruleset_id=1)
    rig.publisher.sensors_changed()
    assert rig.publisher.notify(9, wait=FOREVER, ruleset_id=1) is True
    assert other.published == [8, 9]
    # …and back to set 2, whose version (8) is below: 9 >= 8 must not pass for "applied".
    rig.database.attach(2, other_address, ruleset_id=2)
    rig.publisher.stop()
    rig.publisher.sensors_changed()  # the loop is stopped: the round below is the next
    rig.publisher.reconcile_once()
    assert other.published == [8, 9, 8]
    assert rig.publisher.status(8, 2)["state"] == "in_sync"
    assert [t["sensor_id"] for t in rig.publisher.status(9, 1)["targets"]] == [1]


def test_a_moved_sensor_is_pending_until_it_runs_its_new_set(
    rig: Rig, second_stand_in: tuple[StandIn, str]
) -> None:
    other, other_address = second_stand_in
    rig.database.versions = {1: 3, 2: 8}
    rig.database.attach(2, other_address, ruleset_id=2)
    rig.publisher.reconcile_once()
    other.down = True  # it cannot take its new set yet
    rig.database.attach(2, other_address, ruleset_id=1)
    rig.publisher.sensors_changed()
    rig.publisher.reconcile_once()
    status = rig.publisher.status(3, 1)
    moved = next(t for t in status["targets"] if t["sensor_id"] == 2)
    assert moved["applied_version"] is None and moved["last_error"]
    assert status["state"] == "pending"  # its old set's version 8 is no version of set 1
    assert rig.publisher.notify(3, wait=0, ruleset_id=1) is False
    other.down = False
    rig.publisher.reconcile_once()
    assert other.published == [8, 3] and rig.publisher.status(3, 1)["state"] == "in_sync"


def test_sensors_added_and_removed_while_it_runs(
    stand_in: tuple[StandIn, str], second_stand_in: tuple[StandIn, str]
) -> None:
    (service, address), (other, other_address) = stand_in, second_stand_in
    pool = target_pool()
    database = Database(version=4)
    publisher = RulePublisher(database.read_sensors, pool, database.load, interval=FOREVER,
                              load_version=database.load_version)  # fmt: skip
    try:
        publisher.start()
        # no sensor: a write is applied at once (once the sensors were read), nothing opened
        assert publisher.notify(4, wait=FOREVER) is True
        assert pool.targets == [] and publisher.status(4)["targets"] == []
        database.attach(1, address)
        publisher.sensors_changed()
        assert publisher.notify(4, wait=FOREVER) is True
        assert service.published == [4] and [t.address for t in pool.targets] == [address]
        database.attach(2, other_address)
        publisher.sensors_changed()
        assert publisher.notify(4, wait=FOREVER) is True
        assert other.published == [4] and len(pool.targets) == 2
        # removed: its channel is closed, its status gone, and writes no longer wait for it
        gone = pool.get(address)
        database.sensors = [s for s in database.sensors if s.id != 1]
        database.version = 5
        assert publisher.notify(5, wait=FOREVER) is True
        assert [t.address for t in pool.targets] == [other_address]
        assert [t["sensor_id"] for t in publisher.status(5)["targets"]] == [2]
        assert service.published == [4] and other.published == [4, 5]
        with pytest.raises(ValueError):  # closed
            gone.call("GetRules", packet_pb2.GetRulesRequest(version_only=True))  # type: ignore[union-attr]
    finally:
        publisher.stop()
        pool.close()


def test_a_rest_write_answers_pending_at_once_while_publishing_is_slow(
    app_factory, stand_in: tuple[StandIn, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, address = stand_in
    service.publish_cost = 5.0  # clock seconds: a set of thousands of rules
    monkeypatch.setattr(rules_api, "PUBLISH_WAIT_SECONDS", FOREVER)  # a wait would hang
    app = app_factory(packet_service_targets=address)
    link = app.extensions["rookery"].packet_link
    assert link.seed_sensors() == [address]  # as the server does at start
    link.publisher = RulePublisher(
        link.read_sensors,
        link.pool,
        link._load_desired,
        interval=FOREVER,
        load_version=link._load_version,
        clock=service.clock,
    )
    link.start()
    try:
        api = Api(app.test_client())
        admin = api.admin_token()
        body = {"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"]}
        first = api.call("POST", "/api/v1/rules", admin, json=body).get_json()
        assert first["meta"]["publish"] == "applied"  # no round measured yet: it waited
        service.gate.clear()  # the next publish is held: a write that waited would hang
        service.entered.clear()
        answers: list[dict[str, Any]] = []
        writer = threading.Thread(
            target=lambda: answers.append(
                api.call("POST", "/api/v1/rules", admin, json=body).get_json()
            ),
            daemon=True,
        )
        writer.start()
        writer.join(30)
        assert not writer.is_alive(), "the write waited on a slow full-set publish"
        assert answers[0]["meta"] == {"version": 2, "publish": "pending"}
        assert service.entered.wait(10)  # and the publish is under way
        service.gate.set()
        status = api.call("GET", "/api/v1/rules/status", admin).get_json()["data"]
        assert "round_seconds" not in status["targets"][0]  # internal, not in the API
    finally:
        service.gate.set()
        link.stop()


def test_a_rest_write_in_a_worker_follows_the_lease_holders_publisher(
    app_factory, stand_in: tuple[StandIn, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP workers see the publisher through the lease row (publisher_share.py): the rows
    of RulePublisher.status() carry its round time, so a worker does not wait on slow
    rounds either, and a version already overtaken is applied without any wait."""
    from rookery_backend.publisher_share import SharedPublisherView

    _, address = stand_in
    monkeypatch.setattr(rules_api, "PUBLISH_WAIT_SECONDS", FOREVER)  # a wait would hang
    app = app_factory(packet_service_targets=address)
    link = app.extensions["rookery"].packet_link
    reported: list[dict[str, Any]] = []
    row = {"target": address, "sensor_id": 1, "name": "sensor-1", "ruleset_id": 1,
           "applied_version": 0, "last_publish_at": None, "last_contact_at": None,
           "last_error": None, "breaker_state": "closed"}  # fmt: skip
    link.publisher = SharedPublisherView(
        lambda: json.dumps(reported),
        lambda request_id: None,
        lambda: [Sensor(1, "sensor-1", address, 1)],
    )
    api = Api(app.test_client())
    admin = api.admin_token()
    body = {"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"]}

    def write() -> dict[str, Any]:
        answers: list[dict[str, Any]] = []
        writer = threading.Thread(
            target=lambda: answers.append(
                api.call("POST", "/api/v1/rules", admin, json=body).get_json()
            ),
            daemon=True,
        )
        writer.start()
        writer.join(30)
        assert not writer.is_alive(), "the write waited"
        return answers[0]["meta"]

    reported[:] = [{**row, "round_seconds": 5.0}]  # the holder's rounds are slow
    assert write() == {"version": 1, "publish": "pending"}
    reported[:] = [{**row, "applied_version": 9, "round_seconds": 0.01}]  # 2 is in 9
    assert write() == {"version": 2, "publish": "applied"}


def test_whoever_sees_a_written_version_sees_its_request_id(
    app_factory, stand_in: tuple[StandIn, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease holder looks at the versions and at `wanted` every few milliseconds. A look
    the moment the write commits must find the write's request id with its version: were
    `wanted` set after the commit, that look publishes the version under the previous id
    and the next one finds nothing left to send, so the id never reaches packet-service."""
    import sqlalchemy as sa
    from rookery_backend.db import sqlalchemy_url
    from rookery_backend.lease import PUBLISHER_LEASE, Lease, lease_engine
    from rookery_backend.publisher_share import worker_view

    _, address = stand_in
    monkeypatch.setattr(rules_api, "PUBLISH_WAIT_SECONDS", 0.0)
    app = app_factory(packet_service_targets=address)
    svc = app.extensions["rookery"]
    engine = lease_engine(svc.settings)
    lease = Lease(engine, PUBLISHER_LEASE, 30.0)
    assert lease.try_acquire()  # the row the holder keeps
    svc.packet_link.publisher = worker_view(
        svc.dal, lease, lambda: [Sensor(1, "sensor-1", address, 1)]
    )
    looks: list[tuple[int, str | None]] = []
    reader = sa.create_engine(sqlalchemy_url(svc.settings), poolclass=sa.pool.NullPool)
    database = svc.database
    commit = database.end_request

    def commit_then_look(ok: bool = True) -> None:
        commit(ok=ok)
        with reader.connect() as connection:  # the holder's look, on its own connection
            version = connection.execute(
                sa.text("SELECT version FROM packet_ruleset WHERE id = 1")
            ).scalar()
            looks.append((int(version or 0), lease.wanted()))

    monkeypatch.setattr(database, "end_request", commit_then_look)
    api = Api(app.test_client())
    admin = api.admin_token()
    body = {"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"]}
    try:
        for request_id in ("write-one", "write-two"):
            reply = api.call(
                "POST", "/api/v1/rules", admin, json=body, headers={"X-Request-ID": request_id}
            )
            assert reply.status_code == 201, reply.get_json()
            version = reply.get_json()["meta"]["version"]
            first_seen = next(wanted for seen, wanted in looks if seen == version)
            assert first_seen == request_id, looks
    finally:
        reader.dispose()
        lease.release()
        engine.dispose()


def test_the_worker_view_shows_the_sensors_of_the_set_as_the_database_has_them() -> None:
    """In an HTTP worker the sensors come from the database and their status from the lease
    holder's report: a sensor just moved counts for its new set only once the holder
    reports it there."""
    from rookery_backend.publisher_share import NOT_YET, SharedPublisherView

    reported = [
        {"target": "10.0.0.1:1", "sensor_id": 1, "name": "a", "ruleset_id": 1,
         "applied_version": 9, "breaker_state": "closed", "round_seconds": 0.01},
        {"target": "10.0.0.2:1", "sensor_id": 2, "name": "b", "ruleset_id": 2,
         "applied_version": 8, "breaker_state": "closed", "round_seconds": 0.01},
    ]  # fmt: skip
    sensors = [Sensor(1, "a", "10.0.0.1:1", 1), Sensor(2, "b", "10.0.0.2:1", 2)]
    wanted: list[str] = []
    view = SharedPublisherView(lambda: json.dumps(reported), wanted.append, lambda: sensors)
    assert view.status(9, 1)["state"] == "in_sync"
    assert [t["sensor_id"] for t in view.status(9, 1)["targets"]] == [1]
    assert view.status(8, 2)["state"] == "in_sync"
    sensors[1] = Sensor(2, "b", "10.0.0.2:1", 1)  # moved to set 1 (version 9 > its 8)
    status = view.status(9, 1)
    moved = status["targets"][1]
    assert moved["sensor_id"] == 2 and moved["applied_version"] is None
    assert moved["last_error"] == NOT_YET and status["state"] == "pending"
    assert view.notify(9, wait=0, ruleset_id=1) is False
    assert view.status(8, 2) == {"desired_version": 8, "state": "in_sync", "targets": []}
    assert view.notify(8, wait=0, ruleset_id=2) is True  # no sensor enforces set 2
    view.sensors_changed()
    assert wanted[0] == "version-9" and wanted[1].startswith("sensors-")
    reported[1]["ruleset_id"], reported[1]["applied_version"] = 1, 9  # the holder caught up
    assert view.notify(9, wait=FOREVER, ruleset_id=1) is True
