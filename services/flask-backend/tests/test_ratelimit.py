"""Login attempts are limited per client address and per account: 429 with Retry-After."""

from __future__ import annotations

from conftest import Api
from rookery_backend.config import RateLimit
from rookery_backend.ratelimit import LoginRateLimiter


def test_login_rate_limit_answers_429_with_retry_after(app_factory) -> None:
    app = app_factory(login_rate_limit=RateLimit(3, 60))
    api = Api(app.test_client())
    body = {"email": "victim@example.com", "password": "guess"}
    for _ in range(3):
        assert api.call("POST", "/api/v1/auth/login", json=body).status_code == 401
    limited = api.call("POST", "/api/v1/auth/login", json=body)
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    error = limited.get_json()["error"]
    assert error["code"] == "rate_limited" and error["details"]["retry_after"] == retry_after
    # The same account from another address is limited too (per-account window).
    other = api.call(
        "POST", "/api/v1/auth/login", json=body, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert other.status_code == 429


def test_limiter_window_slides() -> None:
    limiter = LoginRateLimiter(RateLimit(2, 1))
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") >= 1
    assert limiter.hit("b") == 0  # keys are independent
    import time

    time.sleep(1.05)
    assert limiter.hit("a") == 0
