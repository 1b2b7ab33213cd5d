"""The short principal cache never serves a credential past its expiry or past a change
made in this process, and the API behaves the same with the cache off."""

from __future__ import annotations

from rookery_backend.credentials import Principal, PrincipalCache
from rookery_backend.models import User


def principal(expires_at: int) -> Principal:
    return Principal("user", User(id=1, email="a@b.c", roles=[]), frozenset({"x"}), expires_at)


class FakeClock:
    """Monotonic and wall time that move only when the test says so."""

    def __init__(self) -> None:
        self.monotonic = 1000.0
        self.wall = 1_800_000_000.0

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += seconds


def test_cache_honours_ttl_and_token_expiry() -> None:
    clock = FakeClock()
    cache = PrincipalCache(
        ttl_seconds=0.2, clock=lambda: clock.monotonic, wall_clock=lambda: clock.wall
    )
    cache.put("live", principal(int(clock.wall) + 60))
    cache.put("dead", principal(int(clock.wall) - 1))
    assert cache.get("live") is not None
    assert cache.get("dead") is None
    clock.advance(0.15)
    assert cache.get("live") is not None
    clock.advance(0.1)
    assert cache.get("live") is None


def test_credentials_never_seen_again_leave_the_cache_after_the_ttl() -> None:
    """Clients sign in again and never present their old token: those entries must not
    pile up until the size limit (a worker's memory grew for the whole soak)."""
    clock = FakeClock()
    cache = PrincipalCache(
        ttl_seconds=2, clock=lambda: clock.monotonic, wall_clock=lambda: clock.wall
    )
    for n in range(500):  # a sign-in every 0.1 s, each token used once
        cache.put(f"token-{n}", principal(int(clock.wall) + 900))
        clock.advance(0.1)
    assert len(cache) <= 2 / 0.1 * 2  # about one TTL's worth, never the 500
    assert cache.get("token-499") is not None  # a live entry stays


def test_a_cached_credential_ends_at_its_own_expiry() -> None:
    clock = FakeClock()
    cache = PrincipalCache(
        ttl_seconds=60, clock=lambda: clock.monotonic, wall_clock=lambda: clock.wall
    )
    cache.put("t", principal(int(clock.wall) + 5))
    clock.advance(4)
    assert cache.get("t") is not None
    clock.advance(1)
    assert cache.get("t") is None  # well within the TTL, but the token itself expired


def test_cache_hands_out_private_copies() -> None:
    cache = PrincipalCache(ttl_seconds=5)
    cache.put("t", principal(0))
    first = cache.get("t")
    first.user.email = "changed@example.com"
    first.user.roles.append("role")
    second = cache.get("t")
    assert second.user.email == "a@b.c" and second.user.roles == []


def test_off_when_ttl_is_zero() -> None:
    cache = PrincipalCache(ttl_seconds=0)
    cache.put("t", principal(0))
    assert cache.get("t") is None


def test_api_without_cache(app_factory) -> None:
    from conftest import Api

    api = Api(app_factory(principal_cache_ttl=0.0).test_client())
    admin = api.admin_token()
    token = api.user_token(admin, "nocache@example.com", ["viewer"])
    me = api.call("GET", "/api/v1/auth/me", token).get_json()["data"]
    api.call("PATCH", f"/api/v1/users/{me['id']}", admin, json={"active": False})
    assert api.call("GET", "/api/v1/auth/me", token).status_code == 401


def test_cached_key_stops_at_revocation(api) -> None:
    admin = api.admin_token()
    created = api.call(
        "POST", "/api/v1/apikeys", admin, json={"name": "hot", "scopes": ["users:read"]}
    ).get_json()["data"]
    for _ in range(3):  # warm the cache
        assert api.call("GET", "/api/v1/users", created["key"]).status_code == 200
    api.call("DELETE", f"/api/v1/apikeys/{created['id']}", admin)
    assert api.call("GET", "/api/v1/users", created["key"]).status_code == 401


def test_one_caller_refreshes_ahead_of_the_ttl_the_others_keep_the_entry() -> None:
    clock = FakeClock()
    cache = PrincipalCache(
        ttl_seconds=2, clock=lambda: clock.monotonic, wall_clock=lambda: clock.wall
    )
    cache.put("t", principal(int(clock.wall) + 60))
    clock.advance(1.5)
    assert cache.get("t") is not None  # before REFRESH_AHEAD of the TTL: a plain hit
    clock.advance(0.2)  # 1.7 s: past 80 %
    assert cache.get("t") is None  # this caller checks the credential again...
    assert cache.get("t") is not None  # ...the next ones keep the entry meanwhile
    assert cache.get("t") is not None
    clock.advance(0.31)  # 2.01 s: never past the TTL, refreshed or not
    assert cache.get("t") is None
    assert cache.get("t") is None

    cache.put("u", principal(int(clock.wall) + 60))
    clock.advance(1.7)
    assert cache.get("u") is None  # the refresher...
    cache.put("u", principal(int(clock.wall) + 60))  # ...put a fresh entry
    clock.advance(1.5)
    assert cache.get("u") is not None  # 3.2 s after the first put, 1.5 s after the second
    clock.advance(0.2)
    assert cache.get("u") is None  # and the next refresh is due again
