"""/api/v1/license: where the product licence stands, and installing a new one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from ... import audit
from ...errors import ApiError
from ...guard import current_principal
from ...licensing import LicenseInvalid, LicenseStatus, license_manager
from .. import endpoint, parse_body, respond
from .bodies import Text

bp = Blueprint("license", __name__, url_prefix="/api/v1/license")


class LicenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license: Text = Field(description="the licence text: rookery1.<claims>.<signature>")


class SeatsOut(BaseModel):
    used: int = Field(description="active users, service accounts not counted")
    limit: int | None = Field(description="the licence's seat limit; null = no limit")


class LicenseOut(BaseModel):
    mode: Literal["development", "production"]
    status: Literal["unlicensed", "valid", "grace", "expired", "not_yet_valid", "development"]
    id: str | None
    customer: str | None
    tier: str | None
    features: list[str] = Field(description="the features the licence grants (tier and list)")
    features_active: list[str] = Field(description="the features on now")
    seats: SeatsOut
    issued_at: datetime | None
    not_before: datetime | None
    expires_at: datetime | None
    grace_ends_at: datetime | None
    days_left: int | None
    warnings: list[str]
    source: str | None = Field(description="database, LICENSE_KEY or LICENSE_FILE <path>")


def _moment(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def status_json(status: LicenseStatus) -> dict[str, Any]:
    manager = license_manager()
    lic = status.license
    claims = lic.claims if lic else None
    limit = claims.seats if claims and claims.seats else None
    return {
        "mode": status.mode,
        "status": status.status,
        "id": claims.lid if claims else None,
        "customer": claims.customer if claims else None,
        "tier": claims.tier if claims else None,
        "features": sorted(claims.granted) if claims else [],
        "features_active": sorted(status.features_active),
        "seats": {"used": manager.seats_used(), "limit": limit},
        "issued_at": _moment(claims.iat) if claims else None,
        "not_before": _moment(claims.nbf) if claims else None,
        "expires_at": _moment(claims.exp) if claims else None,
        "grace_ends_at": _moment(status.grace_ends_at),
        "days_left": status.days_left,
        "warnings": list(status.warnings),
        "source": status.origin,
    }


@endpoint(bp, "", "GET", "The product licence: mode, state, features, seats", response=LicenseOut)
def get_license() -> Any:
    return respond(status_json(license_manager().status()), LicenseOut)


@endpoint(
    bp,
    "",
    "PUT",
    "Install a product licence (verified; in force at once for every process)",
    body=LicenseIn,
    response=LicenseOut,
    errors=((400, "license_invalid: the licence is refused (details.reason says why)"),),
)
def put_license() -> Any:
    manager = license_manager()
    # A body that is not {"license": <one line of text>} is refused like any other body
    # (422 naming the field); a text that is no licence for this product is license_invalid.
    payload = parse_body(LicenseIn)
    try:
        lic = manager.validate(payload.license)
    except LicenseInvalid as error:
        raise ApiError(400, "license_invalid", error.message, {"reason": error.reason}) from None
    claims = lic.claims
    manager.install(lic, current_principal().user.email)
    audit.record_caller_action(
        "license_installed",
        f"license:{claims.lid}",
        {
            "customer": claims.customer,
            "tier": claims.tier,
            "features": sorted(claims.granted),
            "seats": claims.seats,
            "expires_at": _moment(claims.exp),
        },
    )
    return respond(status_json(manager.status()), LicenseOut)
