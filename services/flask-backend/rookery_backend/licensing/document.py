"""The licence document: signed JSON claims in one line of text.

    rookery1.<base64url(claims JSON)>.<base64url(Ed25519 signature of those JSON bytes)>

(base64url without padding). The signature covers the claims bytes exactly as they travel;
they are parsed only once it verifies, and every claim is then checked for its type: a
correctly signed document with a wrong claim is as refused as a forged one. Nothing here
knows the time: whether a licence is in force is decided by the caller (state.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..policy import FEATURES, TIERS

PREFIX = "rookery1"
PRODUCT = "rookery"
MAX_TEXT = 8192  # characters; a real licence is a few hundred
MAX_SEATS = 10_000_000
MAX_TIME = 32503680000  # 3000-01-01T00:00:00Z: every date derived from it (grace) stays printable
# The form before anything is decoded: three dot-separated parts of base64url characters.
TEXT_FORM = re.compile(r"rookery1\.([A-Za-z0-9_-]{2,})\.([A-Za-z0-9_-]{2,})")
FEATURE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

# The key that verifies licences issued for the product (its private half is kept by
# whoever issues licences, never in this repository). LICENSE_PUBLIC_KEY may replace it.
BUILTIN_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAVWBMgzcLlg94sg4igMI5VnKeU+/nGv501k8RuvEe7oo=
-----END PUBLIC KEY-----
"""

# Why a licence is refused: the reason code and the sentence a person reads.
MALFORMED = "malformed"
BAD_SIGNATURE = "bad_signature"
WRONG_PRODUCT = "wrong_product"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"


class LicenseInvalid(Exception):
    """A licence refused, with `reason` (one of the codes above) and a one-line message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(slots=True, frozen=True)
class Claims:
    lid: str
    product: str
    customer: str
    tier: str
    features: tuple[str, ...]  # as listed by the licence (may name features unknown here)
    seats: int  # 0 = unlimited
    iat: int
    nbf: int
    exp: int

    @property
    def granted(self) -> frozenset[str]:
        """The features this licence turns on: its tier's plus the ones it lists, limited
        to the features this release knows."""
        return frozenset(TIERS[self.tier]) | (frozenset(self.features) & frozenset(FEATURES))

    def as_json(self) -> dict[str, Any]:
        return {
            "lid": self.lid,
            "product": self.product,
            "customer": self.customer,
            "tier": self.tier,
            "features": list(self.features),
            "seats": self.seats,
            "iat": self.iat,
            "nbf": self.nbf,
            "exp": self.exp,
        }


@dataclass(slots=True, frozen=True)
class License:
    text: str
    claims: Claims


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if len(text) % 4 == 1:
        raise ValueError("impossible base64 length")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(data) != text:  # spare bits set: another spelling of the same bytes
        raise ValueError("not the canonical base64url of its bytes")
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a key appears twice")
    return result


def _shown(text: str, limit: int = 80) -> str:
    """`text` for a one-line message: escaped, and cut short."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def load_public_key(source: str = "") -> Ed25519PublicKey:
    """The verifying key: `source` is PEM text or the path of a PEM file; empty = built in.
    ValueError with a one-line reason when it is not an Ed25519 public key."""
    source = source.strip().lstrip("\ufeff").strip()
    if not source:
        pem = BUILTIN_PUBLIC_KEY.encode()
        origin = "the built-in licence key"
    elif "-----BEGIN" in source or "\n" in source:
        # PEM text, also as environment files spell it: quoted, or with \n for newlines
        pem = source.strip("\"'").replace("\\n", "\n").strip().encode()
        origin = "LICENSE_PUBLIC_KEY"
    else:
        path = Path(source)
        try:
            if path.exists() and not path.is_file():
                raise IsADirectoryError(21, "not a regular file")
            with path.open("rb") as handle:
                pem = handle.read(64 * 1024)
        except (OSError, ValueError) as error:
            why = getattr(error, "strerror", None) or str(error)
            raise ValueError(
                f"LICENSE_PUBLIC_KEY: cannot read {_shown(source)}: {why}"
                " (it must be PEM text or the path of a PEM file)"
            ) from None
        origin = f"LICENSE_PUBLIC_KEY ({_shown(source)})"
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as error:
        detail = " ".join(str(error).split())[:160]
        raise ValueError(f"{origin} is not a PEM public key ({detail})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{origin} is not an Ed25519 public key")
    return key


def _text(claims: dict[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LicenseInvalid(MALFORMED, f"the licence's '{name}' claim must be a non-empty text")
    if len(value) > limit or not value.isprintable():
        raise LicenseInvalid(
            MALFORMED, f"the licence's '{name}' claim must be one printable line of at most {limit}"
        )
    return value


def _int(claims: dict[str, Any], name: str, low: int, high: int) -> int:
    value = claims.get(name)
    if type(value) is not int:  # bool is an int to Python, not to a licence
        raise LicenseInvalid(MALFORMED, f"the licence's '{name}' claim must be an integer")
    if not low <= value <= high:
        raise LicenseInvalid(
            MALFORMED, f"the licence's '{name}' claim must be between {low} and {high}"
        )
    return value


def parse_claims(raw: bytes) -> Claims:
    """The claims of verified bytes, every one checked for its type."""
    try:
        claims = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise LicenseInvalid(MALFORMED, "the licence's claims are not JSON") from None
    if not isinstance(claims, dict):
        raise LicenseInvalid(MALFORMED, "the licence's claims are not a JSON object")
    product = claims.get("product")
    if product != PRODUCT:
        shown = repr(product)[:60] if product is not None else "no product"
        raise LicenseInvalid(WRONG_PRODUCT, f"the licence is for {shown}, not for '{PRODUCT}'")
    tier = claims.get("tier")
    if not isinstance(tier, str) or tier not in TIERS:
        raise LicenseInvalid(
            MALFORMED, f"the licence's 'tier' claim must be one of {', '.join(TIERS)}"
        )
    features = claims.get("features", [])
    if not isinstance(features, list) or len(features) > 64:
        raise LicenseInvalid(MALFORMED, "the licence's 'features' claim must be a list of names")
    for feature in features:
        if not isinstance(feature, str) or not FEATURE_NAME.fullmatch(feature):
            raise LicenseInvalid(
                MALFORMED, "the licence's 'features' claim must be a list of names"
            )
    nbf = _int(claims, "nbf", 0, MAX_TIME)
    exp = _int(claims, "exp", 0, MAX_TIME)
    if exp <= nbf:
        raise LicenseInvalid(MALFORMED, "the licence expires before it becomes valid")
    return Claims(
        lid=_text(claims, "lid", 128),
        product=PRODUCT,
        customer=_text(claims, "customer", 200),
        tier=tier,
        features=tuple(dict.fromkeys(features)),
        seats=_int(claims, "seats", 0, MAX_SEATS),
        iat=_int(claims, "iat", 0, MAX_TIME),
        nbf=nbf,
        exp=exp,
    )


def decode(text: object, public_key: Ed25519PublicKey) -> License:
    """The licence `text` stands for, its signature verified and its claims checked
    (not its dates). LicenseInvalid otherwise."""
    if not isinstance(text, str):
        raise LicenseInvalid(MALFORMED, "a licence is a text")
    text = text.strip().lstrip("\ufeff").strip()  # an editor's byte order mark is no part of it
    if not text:
        raise LicenseInvalid(MALFORMED, "the licence is empty")
    if len(text) > MAX_TEXT:
        raise LicenseInvalid(MALFORMED, f"the licence is longer than {MAX_TEXT} characters")
    match = TEXT_FORM.fullmatch(text)
    if match is None:
        raise LicenseInvalid(
            MALFORMED, "the licence is not of the form rookery1.<claims>.<signature>"
        )
    try:
        raw = _b64decode(match.group(1))
        signature = _b64decode(match.group(2))
    except (ValueError, binascii.Error):
        raise LicenseInvalid(MALFORMED, "the licence is not valid base64url") from None
    if len(signature) != 64:
        raise LicenseInvalid(BAD_SIGNATURE, "the licence's signature has the wrong length")
    try:
        public_key.verify(signature, raw)
    except InvalidSignature:
        raise LicenseInvalid(
            BAD_SIGNATURE, "the licence's signature does not verify with the product's key"
        ) from None
    return License(text, parse_claims(raw))


def encode(claims: dict[str, Any], private_key: Ed25519PrivateKey) -> str:
    """Sign `claims` (issuing; scripts/license.py and tests)."""
    raw = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return f"{PREFIX}.{_b64encode(raw)}.{_b64encode(private_key.sign(raw))}"


def sign_raw(raw: bytes, private_key: Ed25519PrivateKey) -> str:
    """Sign arbitrary claim bytes as they are (tests of hostile documents)."""
    return f"{PREFIX}.{_b64encode(raw)}.{_b64encode(private_key.sign(raw))}"
