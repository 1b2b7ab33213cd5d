"""Login throttling: per address, per (account, address), and an account-wide back-off
that slows guessing down without ever locking the owner out; kept in the database (shared
by every worker and replica) or in memory. Clocks are injected."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, settings_for
from rookery_backend.config import RateLimit
from rookery_backend.db import create_schema, sqlalchemy_url
from rookery_backend.ratelimit import (
    ADDRESS_FACTOR,
    BACKOFF_CAP,
    DatabaseThrottleStore,
    LoginRateLimiter,
    LoginThrottle,
    MemoryThrottleStore,
    address_key,
    throttle_engine,
)

LOGIN = "/api/v1/auth/login"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["database", "memory"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_throttled(app_factory, store_kind: str):
    def build(count: int = 3):
        app = app_factory(login_rate_limit=RateLimit(count, 60))
        clock = FakeClock()
        svc = app.extensions["rookery"]
        store = svc.login_throttle.store if store_kind == "database" else None
        if store is not None:
            assert isinstance(store, DatabaseThrottleStore)  # the default
            store.reset()
        svc.login_throttle = LoginThrottle(RateLimit(count, 60), clock=clock, store=store)
        return Api(app.test_client()), clock

    return build


def attempt(api: Api, address: str, email: str = ADMIN_EMAIL, password: str = "guess"):
    return api.call(
        "POST",
        LOGIN,
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_one_address_is_limited_on_an_account_with_retry_after(make_throttled) -> None:
    api, _ = make_throttled()
    for _ in range(3):
        assert attempt(api, "10.0.0.1").status_code == 401
    limited = attempt(api, "10.0.0.1")
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    error = limited.get_json()["error"]
    assert error["code"] == "rate_limited" and error["details"]["retry_after"] == retry_after


def test_the_owner_from_a_fresh_address_gets_in_while_others_guess(make_throttled) -> None:
    # Many addresses guessing the admin's password must not lock the admin out.
    api, clock = make_throttled()
    for n in range(30):
        for _ in range(3):
            attempt(api, f"198.51.100.{n}")
        clock.now += 1
    assert attempt(api, "198.51.100.1").status_code == 429  # a guesser is held back
    owner = attempt(api, "192.0.2.10", password=ADMIN_PASSWORD)
    assert owner.status_code == 200, owner.get_json()


def test_account_backoff_slows_an_address_that_failed(make_throttled) -> None:
    api, clock = make_throttled(count=3)
    # Three failures from three addresses: the account's failure count reaches the limit.
    for address in ("10.1.0.1", "10.1.0.2", "10.1.0.3"):
        assert attempt(api, address).status_code == 401
    clock.now += 61  # the per-(account, address) windows are empty again
    # One more failure from an address that failed before: back-off of 2^1 s starts.
    assert attempt(api, "10.1.0.1").status_code == 401
    held = attempt(api, "10.1.0.2")
    assert held.status_code == 429
    assert 1 <= int(held.headers["Retry-After"]) <= BACKOFF_CAP
    clock.now += BACKOFF_CAP
    assert attempt(api, "10.1.0.2").status_code == 401  # slowed down, not locked out
    # The right password from one of those addresses also works once the wait is over.
    clock.now += BACKOFF_CAP
    assert attempt(api, "10.1.0.3", password=ADMIN_PASSWORD).status_code == 200


def test_one_address_guessing_many_accounts_is_limited(make_throttled) -> None:
    api, _ = make_throttled(count=2)
    codes = [
        attempt(api, "10.2.0.1", email=f"user{n}@example.com").status_code
        for n in range(2 * ADDRESS_FACTOR + 1)
    ]
    assert codes[:-1] == [401] * (2 * ADDRESS_FACTOR) and codes[-1] == 429


def test_ipv6_addresses_of_one_slash_64_count_as_one_client(make_throttled) -> None:
    """A host given a /64 can pick a new address for every guess: the per-address limit
    counts the /64, while another /64 and IPv4 (also written IPv4-mapped) stay apart."""
    api, _ = make_throttled(count=2)
    codes = [
        attempt(api, f"2001:db8:1:2::{n:x}", email=f"user{n}@example.com").status_code
        for n in range(1, 2 * ADDRESS_FACTOR + 2)
    ]
    assert codes[:-1] == [401] * (2 * ADDRESS_FACTOR) and codes[-1] == 429
    assert attempt(api, "2001:db8:1:3::1", email="other@example.com").status_code == 401
    for n in range(2 * ADDRESS_FACTOR):
        attempt(api, "10.9.0.1" if n % 2 else "::ffff:10.9.0.1", email=f"v4-{n}@example.com")
    assert attempt(api, "10.9.0.1", email="v4-last@example.com").status_code == 429
    assert address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.7") == "192.0.2.7" and address_key("unknown") == "unknown"


def test_password_recovery_counts_an_ipv6_slash_64_as_one_client(app_factory) -> None:
    app = app_factory(login_rate_limit=RateLimit(2, 60))
    api = Api(app.test_client())

    def forgot(address: str, n: int) -> int:
        return api.call(
            "POST",
            "/api/v1/auth/forgot",
            json={"email": f"someone{n}@example.com"},
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    # a new address of one /64 (and a new account) every time: still one client
    assert [forgot(f"2001:db8:7:7::{n:x}", n) for n in range(1, 4)] == [202, 202, 429]
    assert forgot("2001:db8:7:8::1", 9) == 202  # the next /64 is someone else


@pytest.fixture
def store(backend: str, store_kind: str, tmp_path: Path):
    if store_kind == "memory":
        yield MemoryThrottleStore()
        return
    settings = settings_for(backend, tmp_path)
    if backend == "sqlite":
        create_schema(settings)
    engine = throttle_engine(sqlalchemy_url(settings), backend == "sqlite")
    database = DatabaseThrottleStore(engine)
    database.reset()
    yield database
    database.reset()
    engine.dispose()


def test_limiter_window_slides(store) -> None:
    clock = FakeClock()
    limiter = LoginRateLimiter(RateLimit(2, 1), clock=clock, store=store)
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") >= 1
    assert limiter.hit("b") == 0  # keys are independent
    clock.now += 1.05
    assert limiter.hit("a") == 0


def test_two_limiters_on_one_store_count_together(store) -> None:
    # Two workers (or replicas) each with their own limiter object, one database.
    clock = FakeClock()
    first = LoginThrottle(RateLimit(3, 60), clock=clock, store=store)
    second = LoginThrottle(RateLimit(3, 60), clock=clock, store=store)
    assert first.check("a@example.com", "10.0.0.1") == 0
    assert second.check("a@example.com", "10.0.0.1") == 0
    assert first.check("a@example.com", "10.0.0.1") == 0
    assert second.check("a@example.com", "10.0.0.1") >= 1
    first.failed("b@example.com", "10.0.0.2")
    last_own, count, _ = store.failures("b@example.com", "10.0.0.2", clock.now - 900)
    assert last_own == clock.now and count == 1
    second.succeeded("b@example.com", "10.0.0.3")
    assert store.failures("b@example.com", "10.0.0.2", clock.now - 900) == (None, 0, None)


def test_racing_attempts_never_exceed_the_limit(store, store_kind: str) -> None:
    clock = FakeClock()
    limiters = [LoginRateLimiter(RateLimit(5, 60), clock=clock, store=store) for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda n: limiters[n % 4].hit("k"), range(24)))
    allowed = waits.count(0)
    # At the limit exactly in memory (one lock); in the database racing attempts may both
    # be refused, never both let through.
    assert allowed == 5 if store_kind == "memory" else 1 <= allowed <= 5
    assert all(w >= 1 for w in waits if w)


def test_a_refused_flood_writes_nothing(store, store_kind: str) -> None:
    """Past the limit an attempt is refused by a read alone: a flood from one address does
    not turn into two write transactions a request."""
    if store_kind == "memory":
        pytest.skip("the memory store has no writes to count")
    import sqlalchemy as sa
    from rookery_backend.ratelimit import EVENTS

    clock = FakeClock()
    limiter = LoginRateLimiter(RateLimit(3, 60), clock=clock, store=store)
    assert [limiter.hit("flood") for _ in range(3)] == [0, 0, 0]
    statements: list[str] = []

    def spy(conn, cursor, statement, *args) -> None:
        statements.append(statement.split()[0].upper())

    sa.event.listen(store.engine, "before_cursor_execute", spy)
    try:
        waits = [limiter.hit("flood") for _ in range(20)]
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", spy)
    assert all(w >= 1 for w in waits)
    assert not {"INSERT", "DELETE", "UPDATE"} & set(statements), statements
    with store.engine.begin() as connection:
        rows = connection.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar()
    assert rows == 3
