"""Keys derived from SECRET_KEY, one per purpose, and the production check of the secret.

One leaked derived key must not give away another: the JWT signing key, Flask's own key
(reset tokens, signed cookies) and the key that encrypts TOTP secrets at rest are each
HKDF-SHA256 outputs of SECRET_KEY with their own label, never the secret itself."""

from __future__ import annotations

import math
from collections import Counter

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

JWT_LABEL = b"rookery/jwt-hs256/v1"
FLASK_LABEL = b"rookery/flask-secret/v1"  # reset tokens and anything Flask signs
TOTP_LABEL = b"rookery/totp-encryption/v1"
SUCCESSOR_LABEL = b"rookery/refresh-successor/v1"

# Fragments of the example values shipped in this repository (Kubernetes secret template,
# compose file, docs) and of the usual "change me" texts: a production secret containing
# one was copied, not generated.
PLACEHOLDER_FRAGMENTS = (
    "replace",
    "change-me",
    "changeme",
    "change_me",
    "dev-only",
    "example",
    "placeholder",
)
MIN_SECRET_BITS = 128


def derive_key(secret: str | bytes, label: bytes, length: int = 32) -> bytes:
    material = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(material)


def estimated_bits(secret: str) -> float:
    """Shannon entropy of the secret's characters times its length: a generous upper
    bound of its strength (a random 32-byte token_urlsafe scores ≈ 220)."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    total = len(secret)
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_char * total


def production_secret_problem(secret: str) -> str | None:
    """Why SECRET_KEY is unfit for production, or None when it is fine."""
    lowered = secret.lower()
    for fragment in PLACEHOLDER_FRAGMENTS:
        if fragment in lowered:
            return (
                f"SECRET_KEY looks like a placeholder (contains '{fragment}'); generate one"
                " with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    if len(secret) < 32:
        return "SECRET_KEY must be at least 32 characters in production"
    bits = estimated_bits(secret)
    if bits < MIN_SECRET_BITS:
        return (
            f"SECRET_KEY is too predictable (about {bits:.0f} bits, needs {MIN_SECRET_BITS});"
            " generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return None
