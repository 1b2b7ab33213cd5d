"""Login throttling: per address, per (account, address), and an account-wide back-off
that slows guessing down without ever locking the owner out. Clocks are injected."""

from __future__ import annotations

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from rookery_backend.config import RateLimit
from rookery_backend.ratelimit import ADDRESS_FACTOR, BACKOFF_CAP, LoginRateLimiter, LoginThrottle

LOGIN = "/api/v1/auth/login"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttled_app(app_factory, count: int = 3):
    app = app_factory(login_rate_limit=RateLimit(count, 60))
    clock = FakeClock()
    app.extensions["rookery"].login_throttle = LoginThrottle(RateLimit(count, 60), clock=clock)
    return Api(app.test_client()), clock


def attempt(api: Api, address: str, email: str = ADMIN_EMAIL, password: str = "guess"):
    return api.call(
        "POST",
        LOGIN,
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_one_address_is_limited_on_an_account_with_retry_after(app_factory) -> None:
    api, _ = throttled_app(app_factory)
    for _ in range(3):
        assert attempt(api, "10.0.0.1").status_code == 401
    limited = attempt(api, "10.0.0.1")
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    error = limited.get_json()["error"]
    assert error["code"] == "rate_limited" and error["details"]["retry_after"] == retry_after


def test_the_owner_from_a_fresh_address_gets_in_while_others_guess(app_factory) -> None:
    # Many addresses guessing the admin's password must not lock the admin out.
    api, clock = throttled_app(app_factory)
    for n in range(30):
        for _ in range(3):
            attempt(api, f"198.51.100.{n}")
        clock.now += 1
    assert attempt(api, "198.51.100.1").status_code == 429  # a guesser is held back
    owner = attempt(api, "192.0.2.10", password=ADMIN_PASSWORD)
    assert owner.status_code == 200, owner.get_json()


def test_account_backoff_slows_an_address_that_failed(app_factory) -> None:
    api, clock = throttled_app(app_factory, count=3)
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


def test_one_address_guessing_many_accounts_is_limited(app_factory) -> None:
    api, _ = throttled_app(app_factory, count=2)
    codes = [
        attempt(api, "10.2.0.1", email=f"user{n}@example.com").status_code
        for n in range(2 * ADDRESS_FACTOR + 1)
    ]
    assert codes[:-1] == [401] * (2 * ADDRESS_FACTOR) and codes[-1] == 429


def test_limiter_window_slides() -> None:
    clock = FakeClock()
    limiter = LoginRateLimiter(RateLimit(2, 1), clock=clock)
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") >= 1
    assert limiter.hit("b") == 0  # keys are independent
    clock.now += 1.05
    assert limiter.hit("a") == 0
