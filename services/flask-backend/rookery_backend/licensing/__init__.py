"""Release mode, offline-verifiable licences and licensed features (docs/LICENSING.md).

Route code never asks: the policy table marks a route `Gated(feature, ...)` and the guard
refuses it while the feature is off. Other code asks `feature_enabled(name)`; account
creation asks `ensure_seat_available()`. Both need an app context.
"""

from __future__ import annotations

from flask import current_app

from ..errors import ApiError
from ..policy import FEATURES, TIERS, lowest_tier
from .document import Claims, License, LicenseInvalid, decode, encode, load_public_key
from .state import LicenseManager, LicenseRefused, LicenseStatus

__all__ = [
    "FEATURES",
    "TIERS",
    "Claims",
    "License",
    "LicenseInvalid",
    "LicenseManager",
    "LicenseRefused",
    "LicenseStatus",
    "decode",
    "encode",
    "ensure_seat_available",
    "feature_enabled",
    "feature_refusal",
    "license_manager",
    "load_public_key",
    "takes_seat",
]

EXTENSION = "rookery_license"


def license_manager() -> LicenseManager:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def feature_enabled(feature: str) -> bool:
    """True when `feature` (policy.FEATURES) is on: always in development mode; in
    production while a licence that grants it is valid or in its grace period."""
    return license_manager().feature_enabled(feature)


def feature_refusal(feature: str) -> ApiError:
    tier = lowest_tier(feature)
    where = f"the {tier} tier or higher" if tier else "a licence that lists it"
    return ApiError(
        403,
        "feature_not_licensed",
        f"the feature '{feature}' ({FEATURES.get(feature, feature)}) is not licensed:"
        f" it needs a valid licence of {where}",
        {"feature": feature, "tier": tier},
    )


def ensure_seat_available(adding: int = 1) -> None:
    """ApiError 409 seat_limit_reached when `adding` more active people would pass the
    licence's seat limit (service accounts do not count). No-op in development mode and
    for an unlimited licence."""
    manager = license_manager()
    limit = manager.seat_limit()
    if limit is None:
        return
    used = manager.seats_used()
    if used + adding > limit:
        raise ApiError(
            409,
            "seat_limit_reached",
            f"the licence allows {limit} active users and {used} are active: deactivate"
            " one or install a licence with more seats",
            {"limit": limit, "used": used},
        )


def takes_seat(email: str, has_password: bool, active: bool) -> bool:
    """Whether an account counts against the seat limit: every active one but a built-in
    service account (which holds no password: one given a password is a person)."""
    from ..accounts import SERVICE_ACCOUNTS

    return active and (has_password or email not in SERVICE_ACCOUNTS)
