"""A throwaway licence issuer for tests: its own Ed25519 key pair (never the product's),
licences with any claims, and production settings that trust it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rookery_backend.licensing.document import encode, sign_raw

DAY = 86400
PRODUCTION_ADMIN_PASSWORD = "Correct-Horse-Battery-9"


@dataclass(slots=True)
class Issuer:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(changes.pop("now", time.time()))
        claims: dict[str, Any] = {
            "lid": "lic-test-1",
            "product": "rookery",
            "customer": "Example Corp",
            "tier": "enterprise",
            "features": [],
            "seats": 0,
            "iat": now - DAY,
            "nbf": now - DAY,
            "exp": now + 365 * DAY,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not DROP}

    def issue(self, **changes: Any) -> str:
        return encode(self.claims(**changes), self.key)

    def sign_raw(self, raw: bytes) -> str:
        return sign_raw(raw, self.key)


DROP = object()  # issue(exp=DROP): a licence without that claim


def production(settings: Any, issuer: Issuer, license_text: str = "", **overrides: Any) -> Any:
    """`settings` in production mode, trusting `issuer`, with `license_text` as LICENSE_KEY."""
    return settings.with_overrides(
        release_mode="production",
        admin_password=PRODUCTION_ADMIN_PASSWORD,
        license_public_key=issuer.public_pem,
        license_key=license_text,
        **overrides,
    )
