"""/api/v1/apikeys: scoped machine credentials, shown once, stored hashed."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint

from ... import access, audit, row_locks
from ...accounts import check_grantable, check_scopes_known, guard_service_account
from ...errors import ApiError
from ...guard import current_principal
from ...policy import ALL_KEYS_SCOPE
from ...runtime import runtime
from ...security import new_api_key
from ...utils import sha256_hex, utcnow
from .. import endpoint, parse_body, parse_query, respond
from .bodies import ApiKeyListQuery, ForceQuery
from .team_bodies import ApiKeyCreatedOut, ApiKeyCreateIn, ApiKeyOut

bp = Blueprint("apikeys", __name__, url_prefix="/api/v1/apikeys")


def key_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": sorted(row.scopes or []),
        "user_id": row.user_id,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "last_used_at": row.last_used_at,
        "revoked": row.revoked_at is not None,
        "team_id": row.team_id,
        "ruleset_id": row.ruleset_id,
    }


def _check_restriction(payload: ApiKeyCreateIn) -> None:
    """A key restricted to a team or a rule set: it exists, and the caller holds every scope
    of the key there (their global scopes, their team role's, their grants')."""
    dal = runtime().dal
    if payload.team_id is not None:
        kind, rid, table = "team", payload.team_id, "team"
    elif payload.ruleset_id is not None:
        kind, rid, table = "ruleset", payload.ruleset_id, "packet_ruleset"
    else:
        check_grantable(set(payload.scopes), current_principal().scopes)
        return
    # kept until the key is written: a deletion (which revokes the keys restricted to the
    # row) waits for it, or went first and this answers 404
    if not row_locks.keep(dal, table, rid):
        raise ApiError(404, "not_found", f"no {'team' if kind == 'team' else 'rule set'} {rid}")
    check_grantable(set(payload.scopes), access.effective_scopes(current_principal(), kind, rid))


def _load_own(key_id: int, others_too: bool = False) -> Any:
    """The caller's key; with others_too, also another user's key for a holder of
    users:admin (revoking only: a key's secret is only ever shown to its owner)."""
    dal = runtime().dal
    principal = current_principal()
    row = dal(dal.api_key.id == key_id).select(limitby=(0, 1)).first()
    mine = row is not None and row.user_id == principal.user.id
    if row is None or (not mine and not (others_too and ALL_KEYS_SCOPE in principal.scopes)):
        raise ApiError(404, "not_found", f"no API key with id {key_id}")
    if row.revoked_at is not None:
        raise ApiError(409, "revoked", "this API key is revoked")
    return row


def _audit(event: str, row: Any, forced: bool = False) -> None:
    runtime().datastore.changed()  # a revoked or rotated key must stop working at once
    details: dict[str, Any] = {"name": row.name, "prefix": row.prefix, "owner_id": row.user_id}
    if row.team_id is not None:
        details["team_id"] = row.team_id
    if row.ruleset_id is not None:
        details["ruleset_id"] = row.ruleset_id
    if forced:
        details["forced"] = True
    audit.record_caller_action(event, f"apikey:{row.id}", details)


@endpoint(
    bp,
    "",
    "POST",
    "Create an API key (its scopes within your own)",
    body=ApiKeyCreateIn,
    response=ApiKeyCreatedOut,
    status=201,
)
def create_key() -> Any:
    svc = runtime()
    principal = current_principal()
    payload = parse_body(ApiKeyCreateIn)
    check_scopes_known(payload.scopes)
    _check_restriction(payload)
    expires_at = None
    if payload.expires_at is not None:
        moment = payload.expires_at
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        if moment <= utcnow():
            raise ApiError(
                422,
                "validation_error",
                "expires_at is in the past",
                {"fields": {"expires_at": "must be in the future"}},
            )
        expires_at = moment.replace(microsecond=0)
    key, prefix = new_api_key()
    dal = svc.dal
    key_id = dal.api_key.insert(
        user_id=principal.user.id,
        name=payload.name,
        prefix=prefix,
        key_hash=sha256_hex(key),
        scopes=sorted(set(payload.scopes)),
        created_at=utcnow(),
        expires_at=expires_at,
        team_id=payload.team_id,
        ruleset_id=payload.ruleset_id,
    )
    row = dal.api_key[key_id]
    _audit("apikey_created", row)
    return respond({**key_json(row), "key": key}, ApiKeyCreatedOut, status=201)


@endpoint(
    bp,
    "",
    "GET",
    "List your API keys (?all=true: everyone's, needs users:admin)",
    query=ApiKeyListQuery,
    response=ApiKeyOut,
    many=True,
)
def list_keys() -> Any:
    dal = runtime().dal
    principal = current_principal()
    query = parse_query(ApiKeyListQuery)
    condition = dal.api_key.id > 0
    if query.all:
        if ALL_KEYS_SCOPE not in principal.scopes:
            raise ApiError(
                403,
                "insufficient_scope",
                f"all=true needs '{ALL_KEYS_SCOPE}'",
                {"required": ALL_KEYS_SCOPE},
            )
    else:
        condition = dal.api_key.user_id == principal.user.id
    rows = dal(condition).select(orderby=dal.api_key.id)
    return respond([key_json(r) for r in rows], ApiKeyOut)


@endpoint(
    bp,
    "/<int:key_id>",
    "DELETE",
    "Revoke an API key (yours; anyone's with users:admin)",
    query=ForceQuery,
    response=ApiKeyOut,
)
def revoke_key(key_id: int) -> Any:
    svc = runtime()
    dal = svc.dal
    query = parse_query(ForceQuery)
    row = _load_own(key_id, others_too=True)
    owner = svc.datastore.find_user(id=row.user_id)
    forced = guard_service_account(owner.email if owner else "", query.force, "revoking its key")
    dal(dal.api_key.id == row.id).update(revoked_at=utcnow())
    row = dal.api_key[row.id]
    _audit("apikey_revoked", row, forced=forced)
    return respond(key_json(row), ApiKeyOut)


@endpoint(
    bp,
    "/<int:key_id>/rotate",
    "POST",
    "Replace the secret of one of your API keys (shown once)",
    response=ApiKeyCreatedOut,
)
def rotate_key(key_id: int) -> Any:
    dal = runtime().dal
    row = _load_own(key_id)
    key, prefix = new_api_key()
    dal(dal.api_key.id == row.id).update(prefix=prefix, key_hash=sha256_hex(key), last_used_at=None)
    row = dal.api_key[row.id]
    _audit("apikey_rotated", row)
    return respond({**key_json(row), "key": key}, ApiKeyCreatedOut)
