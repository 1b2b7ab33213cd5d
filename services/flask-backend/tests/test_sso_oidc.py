"""OpenID Connect single sign-on end to end: the real test OpenID Provider
(scripts/oidc-test-provider, oidc-provider on Node) on loopback, the real backend behind a
real HTTP server, and a requests.Session walking through the provider's login form like a
browser. Every refusal ends at PUBLIC_URL/login?sso_error=<code>, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from license_issuer import PRODUCTION_ADMIN_PASSWORD, Issuer
from oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    LiveApp,
    Provider,
    Relay,
    abort_form_action,
    login_form_action,
    oidc_provider,
    serve,
    sign_on,
    until_callback,
    walk,
)
from rookery_backend.sso import PENDING_COOKIE, SsoError, client_of
from rookery_common.testing import free_port

V1 = "/api/v1"
PASSWORD = "provider-pass"
ROLE_MAP = "rookery-admins:admin,netops:maintainer"


def person(sub: str, email: str, groups: list[str], verified: bool = True) -> dict[str, Any]:
    return {
        "sub": sub,
        "email": email,
        "email_verified": verified,
        "name": sub.title(),
        "groups": groups,
        "password": PASSWORD,
    }


USERS = [
    person("alice", "alice@example.com", ["netops"]),
    person("bob", "Bob@Example.com", ["rookery-admins", "staff"]),
    person("carol", "carol@example.com", ["netops"], verified=False),
    person("dave", "dave@example.com", ["marketing"]),
    person("mallory", "packet-publisher@rookery.internal", ["rookery-admins"]),
    person("root", ADMIN_EMAIL, ["staff"]),
]


@dataclass(slots=True)
class Rig:
    provider: Provider
    live: LiveApp
    admin_password: str = ADMIN_PASSWORD

    @property
    def base(self) -> str:
        return self.live.base

    @property
    def app(self) -> Any:
        return self.live.app

    def url(self, path: str) -> str:
        return self.base + path

    def browser(self) -> requests.Session:
        return requests.Session()

    def password_login(self, email: str, password: str) -> requests.Response:
        return requests.post(
            self.url(f"{V1}/auth/login"), json={"email": email, "password": password}, timeout=10
        )

    def admin_token(self) -> str:
        reply = self.password_login(ADMIN_EMAIL, self.admin_password)
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]["access_token"]

    def audit(self, event: str) -> list[dict[str, Any]]:
        reply = requests.get(
            self.url(f"{V1}/audit"),
            params={"event": event, "per_page": 100},
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    def users(self) -> dict[str, dict[str, Any]]:
        reply = requests.get(
            self.url(f"{V1}/users"),
            params={"per_page": 100},
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        return {u["email"]: u for u in reply.json()["data"]}

    def create_user(self, email: str, roles: list[str], password: str = "password-1") -> dict:
        reply = requests.post(
            self.url(f"{V1}/users"),
            json={"email": email, "password": password, "roles": roles},
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        return reply.json()["data"]


@pytest.fixture
def rig_factory(app_factory, tmp_path: Path) -> Iterator[Any]:
    with ExitStack() as stack:

        def build(
            users: list[dict[str, Any]] = USERS,
            id_token_ttl: int | None = None,
            extra_redirect: str | None = None,
            **overrides: Any,
        ) -> Rig:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            redirects = [f"{base}{V1}/auth/sso/callback"]
            if extra_redirect:
                redirects.append(extra_redirect)
            provider = stack.enter_context(
                oidc_provider(tmp_path, users, redirects, id_token_ttl=id_token_ttl)
            )
            settings = {
                "oidc_issuer": provider.issuer,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": CLIENT_SECRET,
                "oidc_role_map": ROLE_MAP,
                "oidc_http_timeout": 3.0,
                "public_url": base,
                **overrides,
            }
            live = serve(app_factory(**settings), port)
            stack.callback(live.stop)
            return Rig(provider, live, settings.get("admin_password", ADMIN_PASSWORD))

        yield build


@pytest.fixture
def rig(rig_factory) -> Rig:
    return rig_factory()


def refresh_with_cookie(rig: Rig, http: requests.Session) -> requests.Response:
    return http.post(rig.url(f"{V1}/auth/refresh"), json={}, timeout=10)


def me(rig: Rig, token: str) -> dict[str, Any]:
    reply = requests.get(
        rig.url(f"{V1}/auth/me"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def replace_pending(http: requests.Session, value: str) -> None:
    (cookie,) = [c for c in http.cookies if c.name == PENDING_COOKIE]
    http.cookies.set(PENDING_COOKIE, value, domain=cookie.domain, path=cookie.path)
    assert [c.value for c in http.cookies if c.name == PENDING_COOKIE] == [value]


def assert_refused(rig: Rig, outcome: Any, code: str, http: requests.Session) -> None:
    assert outcome.landed == rig.url(f"/login?sso_error={code}"), outcome.hops
    assert all(status < 500 for status, _ in outcome.hops), outcome.hops
    assert "rookery_refresh" not in http.cookies
    assert refresh_with_cookie(rig, http).status_code == 401


# -- success ----------------------------------------------------------------------------
@pytest.mark.single_database
def test_sso_info_reports_enabled_provider(rig: Rig) -> None:
    reply = requests.get(rig.url(f"{V1}/auth/sso"), timeout=10)
    assert reply.status_code == 200
    assert reply.json()["data"] == {
        "enabled": True,
        "provider_name": "SSO",
        "login_url": f"{V1}/auth/sso/login",
        "required": False,
    }


def test_first_sign_on_creates_the_account_with_the_mapped_role_and_a_session(rig: Rig) -> None:
    http = rig.browser()
    outcome = sign_on(http, rig.base, "alice@example.com", PASSWORD, next_path="/rules?x=1")
    assert outcome.landed == rig.url("/rules?x=1"), outcome.hops
    callback = [url for _, url in outcome.hops if "/sso/callback" in url]
    assert len(callback) == 1 and "code=" in callback[0] and "state=" in callback[0]
    # The pending-login cookie is spent; the refresh cookie a password login sets is there.
    assert PENDING_COOKIE not in http.cookies
    refresh_cookie = next(c for c in http.cookies if c.name == "rookery_refresh")
    assert refresh_cookie.path == f"{V1}/auth" and refresh_cookie.has_nonstandard_attr("HttpOnly")
    # The cookies' attributes as sent: the pending login Lax (it must come back on the
    # provider's redirect), the session Strict as after a password login.
    login_hop = http.get(rig.url(f"{V1}/auth/sso/login"), allow_redirects=False, timeout=10)
    pending_header = login_hop.headers["Set-Cookie"]
    assert pending_header.startswith(f"{PENDING_COOKIE}=") and "HttpOnly" in pending_header
    assert "SameSite=Lax" in pending_header and f"Path={V1}/auth/sso" in pending_header
    assert "Max-Age=600" in pending_header
    callback_hop = next(r for r in outcome.final.history if "/sso/callback" in r.url)
    set_cookies = callback_hop.raw.headers.getlist("Set-Cookie")
    session_header = next(h for h in set_cookies if h.startswith("rookery_refresh="))
    assert "HttpOnly" in session_header and "SameSite=Strict" in session_header
    assert any(h.startswith(f"{PENDING_COOKIE}=;") for h in set_cookies)  # spent

    refreshed = refresh_with_cookie(rig, http)
    assert refreshed.status_code == 200, refreshed.text
    token = refreshed.json()["data"]["access_token"]
    assert refreshed.json()["data"]["refresh_token"] is None  # stays in the cookie
    account = me(rig, token)
    assert account["email"] == "alice@example.com"
    assert account["roles"] == ["maintainer"]
    assert account["login_count"] == 1

    (row,) = rig.audit("login_sso")
    assert row["actor_email"] == "alice@example.com" and row["actor_id"] == account["id"]
    assert row["details"]["created"] is True and row["details"]["subject"] == "alice"
    assert row["details"]["roles"] == ["maintainer"]
    created = [r for r in rig.audit("user_created") if r["actor_email"] == "alice@example.com"]
    assert created and created[0]["details"]["by"] == "sso"

    # A second sign-on finds the same account (no second one) and counts the login.
    again = rig.browser()
    assert sign_on(again, rig.base, "alice", PASSWORD).landed == rig.url("/")
    token2 = refresh_with_cookie(rig, again).json()["data"]["access_token"]
    assert me(rig, token2)["id"] == account["id"] and me(rig, token2)["login_count"] == 2
    assert [r["details"]["created"] for r in rig.audit("login_sso")].count(False) == 1


def test_an_sso_only_account_has_no_usable_password(rig: Rig) -> None:
    sign_on(rig.browser(), rig.base, "alice@example.com", PASSWORD)
    wrong = rig.password_login("nobody@example.com", "whatever-1")
    for attempt in ("", "password", PASSWORD, "None"):
        reply = rig.password_login("alice@example.com", attempt or "x")
        assert reply.status_code == wrong.status_code == 401
        assert reply.json()["error"] == wrong.json()["error"]
    # /auth/forgot answers as for any address but sends no link: no password to set.
    forgot = requests.post(
        rig.url(f"{V1}/auth/forgot"), json={"email": "alice@example.com"}, timeout=10
    )
    unknown = requests.post(
        rig.url(f"{V1}/auth/forgot"), json={"email": "nobody@example.com"}, timeout=10
    )
    assert forgot.status_code == unknown.status_code == 202
    assert forgot.json() == unknown.json()
    assert rig.audit("password_reset_requested") == []


def test_an_existing_account_is_matched_by_verified_email_and_takes_the_mapped_roles(
    rig: Rig,
) -> None:
    existing = rig.create_user("bob@example.com", ["viewer"], password="bobs-password")
    http = rig.browser()
    assert sign_on(http, rig.base, "bob", PASSWORD).landed == rig.url("/")
    token = refresh_with_cookie(rig, http).json()["data"]["access_token"]
    account = me(rig, token)
    assert account["id"] == existing["id"]  # the provider's Bob@Example.com, lower-cased
    assert account["roles"] == ["admin"]  # rookery-admins → admin; "staff" maps to nothing
    (row,) = rig.audit("login_sso")
    assert row["details"]["created"] is False
    assert len([u for u in rig.users() if u.startswith("bob")]) == 1
    # Its own password still works: matching by e-mail does not take it away.
    assert rig.password_login("bob@example.com", "bobs-password").status_code == 200


def test_the_last_admin_keeps_the_admin_role_whatever_the_groups_say(rig: Rig) -> None:
    # "root" is the only admin; the provider's groups for it map to nothing → default viewer
    http = rig.browser()
    assert sign_on(http, rig.base, "root", PASSWORD).landed == rig.url("/")
    token = refresh_with_cookie(rig, http).json()["data"]["access_token"]
    assert sorted(me(rig, token)["roles"]) == ["admin", "viewer"]


# -- refusals -----------------------------------------------------------------------------
def test_an_unverified_email_is_refused_even_for_an_existing_account(rig: Rig) -> None:
    rig.create_user("carol@example.com", ["viewer"])
    http = rig.browser()
    outcome = sign_on(http, rig.base, "carol", PASSWORD)
    assert_refused(rig, outcome, "email_unverified", http)
    (row,) = rig.audit("login_sso_failed")
    assert row["details"]["code"] == "email_unverified"
    assert row["actor_email"] == "carol@example.com"
    assert rig.audit("login_sso") == []


def test_no_role_mapping_and_no_default_role_is_refused(rig_factory) -> None:
    rig = rig_factory(oidc_default_role="")
    http = rig.browser()
    assert_refused(rig, sign_on(http, rig.base, "dave", PASSWORD), "no_role", http)
    assert "dave@example.com" not in rig.users()
    # With the default role (viewer, the default) dave gets in as a viewer.
    rig2 = rig_factory()
    http2 = rig2.browser()
    assert sign_on(http2, rig2.base, "dave", PASSWORD).landed == rig2.url("/")
    token = refresh_with_cookie(rig2, http2).json()["data"]["access_token"]
    assert me(rig2, token)["roles"] == ["viewer"]


def test_without_jit_an_unknown_person_is_refused(rig_factory) -> None:
    rig = rig_factory(oidc_jit=False)
    http = rig.browser()
    assert_refused(rig, sign_on(http, rig.base, "alice", PASSWORD), "access_denied", http)
    assert "alice@example.com" not in rig.users()


def test_a_deactivated_account_is_refused(rig: Rig) -> None:
    created = rig.create_user("alice@example.com", ["viewer"])
    reply = requests.patch(
        rig.url(f"{V1}/users/{created['id']}"),
        json={"active": False},
        headers={"Authorization": f"Bearer {rig.admin_token()}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    http = rig.browser()
    assert_refused(rig, sign_on(http, rig.base, "alice", PASSWORD), "access_denied", http)


def test_a_provider_account_claiming_the_service_account_address_is_refused(rig: Rig) -> None:
    http = rig.browser()
    outcome = sign_on(http, rig.base, "mallory", PASSWORD)
    assert_refused(rig, outcome, "access_denied", http)
    assert "packet-publisher@rookery.internal" not in rig.users()


@pytest.mark.single_database
def test_the_user_denying_at_the_provider_is_access_denied(rig: Rig) -> None:
    http = rig.browser()
    page = http.get(rig.url(f"{V1}/auth/sso/login"), timeout=10)
    outcome = walk(http, abort_form_action(page), "POST")
    assert_refused(rig, outcome, "access_denied", http)
    (row,) = rig.audit("login_sso_failed")
    assert "access_denied" in row["details"]["reason"]


@pytest.mark.single_database
def test_state_mismatch_without_the_browsers_pending_login(rig: Rig) -> None:
    # The provider's answer arrives in a browser that did not start this sign-on (login
    # CSRF): the callback URL is valid, but the pending-login cookie is another's.
    victim = rig.browser()
    attacker = rig.browser()
    callback = until_callback(attacker, rig.base, "alice", PASSWORD)
    assert_refused(rig, walk(victim, callback), "state_mismatch", victim)
    # The victim's own sign-on in progress does not make the attacker's answer fit either.
    victim.get(rig.url(f"{V1}/auth/sso/login"), timeout=10)
    assert_refused(rig, walk(victim, callback), "state_mismatch", victim)
    assert "alice@example.com" not in rig.users()


@pytest.mark.single_database
def test_a_tampered_state_or_pending_cookie_is_state_mismatch(rig: Rig) -> None:
    http = rig.browser()
    callback = until_callback(http, rig.base, "alice", PASSWORD)
    query = parse_qs(urlsplit(callback).query)
    forged = rig.url(
        f"{V1}/auth/sso/callback?"
        + urlencode({"code": query["code"][0], "state": query["state"][0] + "x"})
    )
    assert_refused(rig, walk(http, forged), "state_mismatch", http)
    # The refusal spent the pending login: the genuine answer is refused now too.
    assert_refused(rig, walk(http, callback), "state_mismatch", http)

    http2 = rig.browser()
    callback2 = until_callback(http2, rig.base, "alice", PASSWORD)
    pending = http2.cookies.get(PENDING_COOKIE)
    assert pending
    replace_pending(http2, pending[:-2] + ("AA" if pending[-2:] != "AA" else "BB"))
    assert_refused(rig, walk(http2, callback2), "state_mismatch", http2)


def test_a_replayed_callback_is_refused(rig: Rig) -> None:
    http = rig.browser()
    callback = until_callback(http, rig.base, "alice", PASSWORD)
    pending = http.cookies.get(PENDING_COOKIE)
    assert walk(http, callback).landed == rig.url("/")
    # The same answer again, even with the pending cookie put back (stolen): the provider
    # refuses a spent code.
    thief = rig.browser()
    thief.cookies.set(PENDING_COOKIE, pending, domain="127.0.0.1", path=f"{V1}/auth/sso")
    assert_refused(rig, walk(thief, callback), "state_mismatch", thief)
    assert len(rig.audit("login_sso")) == 1


@pytest.mark.single_database
def test_an_expired_pending_login_is_state_mismatch(rig: Rig) -> None:
    http = rig.browser()
    callback = until_callback(http, rig.base, "alice", PASSWORD)
    # The provider's answer comes back eleven minutes after the sign-on started (the
    # backend's clock moved; a pending login lasts ten).
    client_of(rig.app).clock = lambda: time.time() + 660
    assert_refused(rig, walk(http, callback), "state_mismatch", http)
    (row,) = rig.audit("login_sso_failed")
    assert "expired" in row["details"]["reason"]


@pytest.mark.single_database
def test_an_expired_id_token_is_refused(rig_factory) -> None:
    rig = rig_factory(id_token_ttl=30)
    client = client_of(rig.app)
    # The backend's clock, 30 s of ID token life plus the 60 s leeway plus a little later.
    client.clock = lambda: time.time() + 100
    http = rig.browser()
    assert_refused(rig, sign_on(http, rig.base, "alice", PASSWORD), "invalid_id_token", http)
    (row,) = rig.audit("login_sso_failed")
    assert "exp" in row["details"]["reason"]
    # The same provider, the clock back: accepted (the refusal was the expiry).
    client.clock = time.time
    http2 = rig.browser()
    assert sign_on(http2, rig.base, "alice", PASSWORD).landed == rig.url("/")


def _other_clients_tokens(issuer: str, redirect_uri: str, nonce: str) -> dict[str, Any]:
    """Real tokens the provider issued to another client (aud=other-app), through the
    ordinary code flow with PKCE, carrying the nonce of the backend's sign-on."""
    http = requests.Session()
    metadata = http.get(f"{issuer}/.well-known/openid-configuration").json()
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    page = http.get(
        metadata["authorization_endpoint"],
        params={
            "client_id": OTHER_CLIENT_ID,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": redirect_uri,
            "state": "s",
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    response = http.post(
        login_form_action(page),
        data={"login": "alice", "password": PASSWORD},
        allow_redirects=False,
    )
    while not response.headers["Location"].startswith(redirect_uri):
        response = http.get(
            requests.compat.urljoin(response.url, response.headers["Location"]),
            allow_redirects=False,
        )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    return requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET),
        timeout=10,
    ).json()


def _other_clients_id_token(rig: Rig, nonce: str) -> str:
    redirect_uri = rig.url(f"{V1}/auth/sso/callback")
    return _other_clients_tokens(rig.provider.issuer, redirect_uri, nonce)["id_token"]


@pytest.mark.single_database
def test_a_token_answer_carrying_another_clients_id_token_is_refused(
    app_factory, tmp_path: Path
) -> None:
    """The whole flow with a token endpoint (or a man in the middle) that answers the
    backend's code with tokens the provider really issued to another client."""
    relay_port, backend_port = free_port(), free_port()
    base = f"http://127.0.0.1:{backend_port}"
    callback_uri = f"{base}{V1}/auth/sso/callback"
    relay_url = f"http://127.0.0.1:{relay_port}"
    with ExitStack() as stack:
        provider = stack.enter_context(
            oidc_provider(tmp_path, USERS, [callback_uri], issuer=relay_url)
        )
        relay = Relay(relay_port, provider.port)
        stack.callback(relay.stop)
        app = app_factory(
            oidc_issuer=relay_url,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            oidc_role_map=ROLE_MAP,
            public_url=base,
        )
        live = serve(app, backend_port)
        stack.callback(live.stop)
        rig = Rig(provider, live)
        # Through the relay, untouched, a sign-on works.
        assert sign_on(rig.browser(), base, "bob", PASSWORD).landed == f"{base}/"
        http = rig.browser()
        callback = until_callback(http, base, "alice", PASSWORD)
        nonce = client_of(app).pending(http.cookies.get(PENDING_COOKIE)).nonce
        relay.token_answer = _other_clients_tokens(relay_url, callback_uri, nonce)
        assert_refused(rig, walk(http, callback), "invalid_id_token", http)
        (row,) = rig.audit("login_sso_failed")
        assert "aud" in row["details"]["reason"]
        assert "alice@example.com" not in rig.users()


@pytest.mark.single_database
def test_an_id_token_for_another_audience_or_badly_signed_is_refused(rig: Rig) -> None:
    http = rig.browser()
    until_callback(http, rig.base, "alice", PASSWORD)
    client = client_of(rig.app)
    pending = client.pending(http.cookies.get(PENDING_COOKIE))
    foreign = _other_clients_id_token(rig, pending.nonce)
    claims = json.loads(base64.urlsafe_b64decode(foreign.split(".")[1] + "=="))
    assert claims["aud"] == OTHER_CLIENT_ID and claims["nonce"] == pending.nonce
    with app_context(rig):
        with pytest.raises(SsoError) as refused:
            client.verify_id_token(foreign, pending.nonce)
        assert refused.value.code == "invalid_id_token" and "aud" in refused.value.reason
        # A signature that does not verify: one bit of the signature changed.
        head, body, signature = foreign.split(".")
        flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
        with pytest.raises(SsoError) as bad:
            client.verify_id_token(f"{head}.{body}.{flipped}", pending.nonce)
        assert bad.value.code == "invalid_id_token"
        # A forged body under the real signature.
        forged_body = (
            base64.urlsafe_b64encode(json.dumps({**claims, "aud": CLIENT_ID}).encode())
            .rstrip(b"=")
            .decode()
        )
        with pytest.raises(SsoError) as forged:
            client.verify_id_token(f"{head}.{forged_body}.{signature}", pending.nonce)
        assert forged.value.code == "invalid_id_token" and "signature" in forged.value.reason
        # Unsigned ("alg": "none").
        none_head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        with pytest.raises(SsoError) as unsigned:
            client.verify_id_token(f"{none_head}.{forged_body}.", pending.nonce)
        assert unsigned.value.code == "invalid_id_token"
        # The wrong nonce (a token from another sign-on).
        with pytest.raises(SsoError):
            client.verify_id_token(foreign, "another-nonce")
        good_claims = {**claims, "aud": CLIENT_ID}
        # Signed with HS256 and the client secret (the algorithm confusion attack).
        hmac_token = jwt.encode(
            {"alg": "HS256", "kid": json.loads(_b64(head))["kid"]},
            good_claims,
            OctKey.import_key(CLIENT_SECRET),
        )
        with pytest.raises(SsoError) as confused:
            client.verify_id_token(hmac_token, pending.nonce)
        assert confused.value.code == "invalid_id_token"
        # Signed by another key that claims the provider's key id.
        impostor = jwt.encode(
            {"alg": "ES256", "kid": json.loads(_b64(head))["kid"]},
            good_claims,
            ECKey.generate_key("P-256", private=True),
        )
        with pytest.raises(SsoError) as wrong_key:
            client.verify_id_token(impostor, pending.nonce)
        assert wrong_key.value.code == "invalid_id_token"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.single_database
def test_another_clients_code_injected_into_the_callback_is_refused(rig: Rig) -> None:
    http = rig.browser()
    callback = until_callback(http, rig.base, "alice", PASSWORD)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    # An authorization code the provider gave the other client (same redirect URI).
    other = requests.Session()
    metadata = other.get(f"{rig.provider.issuer}/.well-known/openid-configuration").json()
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    page = other.get(
        metadata["authorization_endpoint"],
        params={
            "client_id": OTHER_CLIENT_ID,
            "response_type": "code",
            "scope": "openid email",
            "redirect_uri": rig.url(f"{V1}/auth/sso/callback"),
            "state": state,
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    response = other.post(
        login_form_action(page),
        data={"login": "bob", "password": PASSWORD},
        allow_redirects=False,
    )
    while "/sso/callback" not in response.headers["Location"]:
        response = other.get(
            requests.compat.urljoin(response.url, response.headers["Location"]),
            allow_redirects=False,
        )
    injected = response.headers["Location"]
    assert_refused(rig, walk(http, injected), "state_mismatch", http)
    assert "bob@example.com" not in rig.users()


@pytest.mark.single_database
def test_provider_unreachable_at_discovery_is_provider_unavailable(rig_factory) -> None:
    rig = rig_factory()
    rig.provider.stop()
    http = rig.browser()
    started = time.monotonic()
    outcome = walk(http, rig.url(f"{V1}/auth/sso/login"))
    assert outcome.landed == rig.url("/login?sso_error=provider_unavailable")
    assert time.monotonic() - started < 3.0
    assert all(status < 500 for status, _ in outcome.hops)


@pytest.mark.single_database
def test_a_provider_that_never_answers_times_out(rig_factory) -> None:
    # A socket that accepts connections and never says a word.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except TimeoutError:
                continue

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        port = silent.getsockname()[1]
        rig = rig_factory(oidc_issuer=f"http://127.0.0.1:{port}", oidc_http_timeout=0.5)
        http = rig.browser()
        started = time.monotonic()
        outcome = walk(http, rig.url(f"{V1}/auth/sso/login"))
        elapsed = time.monotonic() - started
        assert outcome.landed == rig.url("/login?sso_error=provider_unavailable")
        assert 0.4 < elapsed < 2.5, elapsed
        (row,) = rig.audit("login_sso_failed")
        assert "timed out" in row["details"]["reason"].lower()
    finally:
        stop.set()
        holder.join()
        for connection in accepted:
            connection.close()
        silent.close()


@pytest.mark.single_database
def test_token_endpoint_unreachable_at_the_callback_is_provider_unavailable(rig: Rig) -> None:
    http = rig.browser()
    callback = until_callback(http, rig.base, "alice", PASSWORD)
    rig.provider.stop()
    assert_refused(rig, walk(http, callback), "provider_unavailable", http)
    (row,) = rig.audit("login_sso_failed")
    assert "token endpoint" in row["details"]["reason"]


@pytest.mark.parametrize(
    "query",
    [
        {},  # nothing at all
        {"state": "{state}"},  # no code
        {"state": "{state}", "code": ""},
        {"state": "{state}", "code": "abc\x00def"},
        {"state": "{state}\x00", "code": "abc"},
        {"state": "{state}", "code": "x" * 20000},
        {"state": "s" * 20000, "code": "abc"},
        {"state": "{state}", "code": "abc", "iss": "https://evil.example"},
        {"state": "{state}", "error": "access_denied\x00<script>"},
        {"state": "{state}", "error": "temporarily_unavailable"},
        {"state": "{state}", "code": "abc", "state2": "ü" * 100},
        {"code": "abc", "state": ["{state}", "other"]},
    ],
)
@pytest.mark.single_database
def test_hostile_callback_queries_end_at_a_known_code(rig: Rig, query: dict[str, Any]) -> None:
    http = rig.browser()
    callback = until_callback(http, rig.base, "alice", PASSWORD)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    filled = {
        k: [x.replace("{state}", state) for x in v]
        if isinstance(v, list)
        else v.replace("{state}", state)
        for k, v in query.items()
    }
    outcome = walk(http, rig.url(f"{V1}/auth/sso/callback?" + urlencode(filled, doseq=True)))
    code = outcome.sso_error()
    assert code in (
        "state_mismatch",
        "invalid_id_token",
        "access_denied",
        "provider_unavailable",
    ), outcome.hops
    assert outcome.landed == rig.url(f"/login?sso_error={code}")
    assert all(status < 500 for status, _ in outcome.hops)
    assert "rookery_refresh" not in http.cookies
    assert "alice@example.com" not in rig.users()


@pytest.mark.parametrize(
    "next_path,lands",
    [
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/ok\x00", "/"),
        ("/" + "a" * 600, "/"),
        ("/rules", "/rules"),
    ],
)
@pytest.mark.single_database
def test_next_is_a_path_on_this_site_only(rig: Rig, next_path: str, lands: str) -> None:
    http = rig.browser()
    assert sign_on(http, rig.base, "alice", PASSWORD, next_path=next_path).landed == rig.url(lands)


@pytest.mark.single_database
def test_hostile_login_queries(rig: Rig) -> None:
    http = rig.browser()
    for params in ({"next": "x" * 50000}, {"next": "\x00"}, {"next": ["/a", "/b"]}):
        reply = http.get(
            rig.url(f"{V1}/auth/sso/login"), params=params, allow_redirects=False, timeout=10
        )
        assert reply.status_code in (302, 414, 431), reply.status_code
        if reply.status_code == 302:
            assert reply.headers["Location"].startswith(rig.provider.issuer)


def test_the_callback_may_land_on_another_replica(rig_factory, app_factory) -> None:
    """Login on one server, callback on another (same database and SECRET_KEY, nothing in
    process memory carries the sign-on)."""
    rig = rig_factory()
    other = serve(app_factory(**{**_rig_settings(rig)}), free_port())
    try:
        http = rig.browser()
        callback = until_callback(http, rig.base, "alice", PASSWORD)
        elsewhere = callback.replace(rig.base, other.base)
        outcome = walk(http, elsewhere)
        assert outcome.landed == rig.url("/"), outcome.hops  # PUBLIC_URL is the first's
        token = http.post(other.base + f"{V1}/auth/refresh", json={}, timeout=10)
        assert token.status_code == 200, token.text
        assert me(rig, token.json()["data"]["access_token"])["email"] == "alice@example.com"
    finally:
        other.stop()


def _rig_settings(rig: Rig) -> dict[str, Any]:
    settings = rig.app.extensions["rookery"].settings
    return {
        name: getattr(settings, name)
        for name in (
            "oidc_issuer",
            "oidc_client_id",
            "oidc_client_secret",
            "oidc_role_map",
            "oidc_http_timeout",
            "public_url",
        )
    }


# -- SSO_REQUIRED and break-glass -----------------------------------------------------------
def test_sso_required_leaves_password_login_to_the_break_glass_admin(rig_factory) -> None:
    rig = rig_factory(sso_required=True, sso_break_glass_emails=f" {ADMIN_EMAIL.upper()} ,")
    assert requests.get(rig.url(f"{V1}/auth/sso"), timeout=10).json()["data"]["required"]
    admin = rig.admin_token()  # the break-glass admin still signs in with a password
    for email, roles in (("viewer@example.com", ["viewer"]), ("boss@example.com", ["admin"])):
        reply = requests.post(
            rig.url(f"{V1}/users"),
            json={"email": email, "password": "password-1", "roles": roles},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
    for email, password in (
        ("viewer@example.com", "password-1"),  # right password
        ("boss@example.com", "password-1"),  # an admin, but not a break-glass one
        ("viewer@example.com", "wrong"),
        ("nobody@example.com", "whatever"),  # no account: the same answer
    ):
        refused = rig.password_login(email, password)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "sso_required"
        assert refused.json()["error"]["details"]["login_url"] == f"{V1}/auth/sso/login"
    assert rig.password_login(ADMIN_EMAIL, "wrong-password").status_code == 401
    reasons = [r["details"].get("reason") for r in rig.audit("login_failed")]
    assert reasons.count("sso_required") == 4
    # No reset link for anyone but the break-glass admin.
    forgot = requests.post(
        rig.url(f"{V1}/auth/forgot"), json={"email": "viewer@example.com"}, timeout=10
    )
    assert forgot.status_code == 202
    assert rig.audit("password_reset_requested") == []
    # Single sign-on works and gives a working session.
    http = rig.browser()
    assert sign_on(http, rig.base, "alice", PASSWORD).landed == rig.url("/")
    assert refresh_with_cookie(rig, http).status_code == 200


def test_a_break_glass_address_without_the_admin_role_is_refused(rig_factory) -> None:
    rig = rig_factory(sso_required=True, sso_break_glass_emails="helper@example.com")
    # Only the listed address may try a password; the admin is not listed here.
    assert rig.password_login(ADMIN_EMAIL, ADMIN_PASSWORD).json()["error"]["code"] == (
        "sso_required"
    )
    with app_context(rig):
        svc = rig.app.extensions["rookery"]
        from flask_security.utils import hash_password

        svc.datastore.create_user(
            email="helper@example.com", password=hash_password("password-1"), roles=["viewer"]
        )
        svc.database.end_request(ok=True)
    refused = rig.password_login("helper@example.com", "password-1")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "sso_required"


# -- licensing -----------------------------------------------------------------------------
def licensed(issuer: Issuer, tier: str, **claims: Any) -> dict[str, Any]:
    return {
        "release_mode": "production",
        "admin_password": PRODUCTION_ADMIN_PASSWORD,
        "license_public_key": issuer.public_pem,
        "license_key": issuer.issue(tier=tier, **claims),
    }


def test_a_licence_without_sso_turns_it_off_and_does_not_lock_anyone_out(rig_factory) -> None:
    issuer = Issuer()
    rig = rig_factory(sso_required=True, **licensed(issuer, "community"))
    info = requests.get(rig.url(f"{V1}/auth/sso"), timeout=10).json()["data"]
    assert info["enabled"] is False and info["required"] is False
    for path in ("/sso/login", "/sso/callback?code=a&state=b"):
        reply = requests.get(rig.url(f"{V1}/auth{path}"), allow_redirects=False, timeout=10)
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["code"] == "feature_not_licensed"
        assert "sso_oidc" in reply.json()["error"]["message"]
    # SSO_REQUIRED cannot bite while single sign-on is unusable: passwords still work.
    rig.create_user("viewer@example.com", ["viewer"])
    assert rig.password_login("viewer@example.com", "password-1").status_code == 200


def test_the_seat_limit_stops_just_in_time_accounts(rig_factory) -> None:
    issuer = Issuer()
    rig = rig_factory(**licensed(issuer, "professional", seats=3))
    rig.create_user("bob@example.com", ["viewer"])  # seat 2 (the admin holds seat 1)
    assert requests.get(rig.url(f"{V1}/auth/sso"), timeout=10).json()["data"]["enabled"]
    first = rig.browser()
    assert sign_on(first, rig.base, "alice", PASSWORD).landed == rig.url("/")  # seat 3
    second = rig.browser()
    assert_refused(rig, sign_on(second, rig.base, "dave", PASSWORD), "seat_limit_reached", second)
    assert "dave@example.com" not in rig.users()
    (row,) = rig.audit("login_sso_failed")
    assert row["details"]["code"] == "seat_limit_reached"
    # An existing account needs no new seat.
    third = rig.browser()
    assert sign_on(third, rig.base, "bob", PASSWORD).landed == rig.url("/")


# -- SSO off ---------------------------------------------------------------------------------
@pytest.mark.single_database
def test_without_an_issuer_sso_is_off(app_factory) -> None:
    app = app_factory(public_url="http://ui.example")
    client = app.test_client()
    assert client.get(f"{V1}/auth/sso").get_json()["data"] == {
        "enabled": False,
        "provider_name": "SSO",
        "login_url": f"{V1}/auth/sso/login",
        "required": False,
    }
    for path in ("/sso/login", "/sso/callback?code=a&state=b"):
        reply = client.get(f"{V1}/auth{path}")
        assert reply.status_code == 302
        assert reply.headers["Location"] == "http://ui.example/login?sso_error=sso_disabled"


class app_context:
    def __init__(self, rig: Rig) -> None:
        self.context = rig.app.app_context()

    def __enter__(self) -> None:
        self.context.push()
        self.rig_database = self.context.app.extensions["rookery"].database
        self.rig_database.begin_request()

    def __exit__(self, *exc: object) -> None:
        self.rig_database.end_request(ok=True)
        self.context.pop()
