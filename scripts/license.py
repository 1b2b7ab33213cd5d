"""Rookery licences: make the issuer's key pair, issue licences, check one (docs/LICENSING.md).

    license.py keygen --out DIR
    license.py issue --key DIR/license-private.pem --customer NAME --tier T [--features a,b]
                     [--seats N] [--days D | --expires ISO] [--not-before ISO] [--id ID]
    license.py verify [--public-key PEM] (TEXT | --file F)

`issue` prints the licence text on stdout (for LICENSE_KEY, LICENSE_FILE or the web UI's
licence page). Bad input: exit status 2 and one line on stderr. The private key never goes
into the repository: it signs every licence the product will accept.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "services" / "flask-backend"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from rookery_backend.licensing.document import (  # noqa: E402
    PRODUCT,
    LicenseInvalid,
    decode,
    encode,
    load_public_key,
)
from rookery_backend.licensing.state import check_dates, when  # noqa: E402
from rookery_backend.policy import FEATURES, TIERS  # noqa: E402

PRIVATE_NAME = "license-private.pem"
PUBLIC_NAME = "license-public.pem"


class BadInput(Exception):
    """One line for the person at the terminal; exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(message)


def _moment(text: str, name: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{name}: expected an ISO date or time like 2027-01-31, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / PRIVATE_NAME, out / PUBLIC_NAME
    for path in (private, public):
        if path.exists():
            raise BadInput(f"{path} exists: refusing to replace a key (move it away first)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    print(f"wrote {private} (keep it secret, never commit it) and {public}")
    return 0


def _read_small(path: str, option: str) -> bytes:
    """A regular file's first 64 KiB (a device or a pipe may never end)."""
    try:
        if Path(path).exists() and not Path(path).is_file():
            raise IsADirectoryError(21, "not a regular file")
        with open(path, "rb") as handle:
            return handle.read(64 * 1024)
    except OSError as error:
        raise BadInput(f"{option}: cannot read {path}: {error.strerror}") from None


def _private_key(path: str) -> Ed25519PrivateKey:
    data = _read_small(path, "--key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise BadInput(f"--key: {path} is not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"--key: {path} is not an Ed25519 private key")
    return key


def issue(args: argparse.Namespace) -> int:
    key = _private_key(args.key)
    customer = args.customer.strip()
    if not customer or not customer.isprintable() or len(customer) > 200:
        raise BadInput("--customer: one printable line of 1 to 200 characters")
    if args.tier not in TIERS:
        raise BadInput(f"--tier: one of {', '.join(TIERS)}, got {args.tier!r}")
    features = [f.strip() for f in (args.features or "").split(",") if f.strip()]
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise BadInput(f"--features: unknown {', '.join(unknown)} (known: {', '.join(FEATURES)})")
    if args.seats < 0:
        raise BadInput("--seats: 0 (unlimited) or more")
    now = int(time.time())
    nbf = _moment(args.not_before, "--not-before") if args.not_before else now
    if args.expires:
        exp = _moment(args.expires, "--expires")
    else:
        if args.days is not None and args.days < 1:
            raise BadInput("--days: at least 1")
        exp = nbf + 86400 * (args.days if args.days is not None else 365)
    if exp <= nbf:
        raise BadInput("the licence would expire before it becomes valid")
    lid = args.id or f"lic-{secrets.token_hex(8)}"
    claims: dict[str, Any] = {
        "lid": lid,
        "product": PRODUCT,
        "customer": customer,
        "tier": args.tier,
        "features": features,
        "seats": args.seats,
        "iat": now,
        "nbf": nbf,
        "exp": exp,
    }
    text = encode(claims, key)
    try:  # what the product will check, before anyone receives it
        decode(text, key.public_key())
    except LicenseInvalid as error:
        raise BadInput(error.message) from None
    print(text)
    return 0


def verify(args: argparse.Namespace) -> int:
    if (args.text is None) == (args.file is None):
        raise BadInput("give the licence text or --file, one of them")
    if args.file is not None:
        text = _read_small(args.file, "--file").decode("utf-8-sig", errors="replace")
    else:
        text = args.text
    try:
        public_key = load_public_key(args.public_key or "")
    except ValueError as error:
        raise BadInput(str(error)) from None
    try:
        lic = decode(text, public_key)
        check_dates(lic, time.time())
    except LicenseInvalid as error:
        raise BadInput(f"{error.reason}: {error.message}") from None
    claims = lic.claims.as_json()
    claims["features_granted"] = sorted(lic.claims.granted)
    claims["expires"] = when(lic.claims.exp)
    print(json.dumps(claims, indent=2))
    return 0


def build_parser() -> Parser:
    parser = Parser(prog="license.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    make = commands.add_parser("keygen", help="create the issuer's Ed25519 key pair")
    make.add_argument("--out", required=True, help="directory for the two PEM files")
    make.set_defaults(run=keygen)
    give = commands.add_parser("issue", help="print a signed licence")
    give.add_argument("--key", required=True, help="the issuer's private key (PEM)")
    give.add_argument("--customer", required=True)
    give.add_argument("--tier", required=True, help=", ".join(TIERS))
    give.add_argument("--features", help="features beyond the tier's, comma-separated")
    give.add_argument("--seats", type=int, default=0, help="active users allowed; 0 = unlimited")
    until = give.add_mutually_exclusive_group()
    until.add_argument("--days", type=int, help="valid for this many days (default 365)")
    until.add_argument("--expires", help="expiry, ISO 8601 (UTC unless it says otherwise)")
    give.add_argument("--not-before", help="start of validity, ISO 8601 (default now)")
    give.add_argument("--id", help="licence id (default: random)")
    give.set_defaults(run=issue)
    check = commands.add_parser("verify", help="check a licence and print its claims")
    check.add_argument("text", nargs="?", help="the licence text")
    check.add_argument("--file", help="a file holding the licence text")
    check.add_argument("--public-key", help="PEM text or file (default: the built-in key)")
    check.set_defaults(run=verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except BadInput as error:
        print(f"license.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
