"""The caller's signed-in sessions (refresh-token families): list them, end one, end
all the others."""

from __future__ import annotations

from typing import Any

from .... import audit
from ....errors import ApiError
from ....guard import current_principal
from ....runtime import runtime
from ... import endpoint, respond
from ..bodies import SessionOut, SessionsEndedOut
from . import bp, client_ip


@endpoint(bp, "/sessions", "GET", "The caller's signed-in sessions", response=SessionOut, many=True)
def list_sessions() -> Any:
    svc = runtime()
    principal = current_principal()
    rows = svc.refresh_tokens.sessions(principal.user.id)
    return respond(
        [
            {
                "id": info.id,
                "created_at": info.created_at,
                "last_used_at": info.last_used_at,
                "expires_at": info.expires_at,
                "ip": info.ip,
                "user_agent": info.user_agent,
                "current": info.id == principal.token_family,
            }
            for info in rows
        ],
        SessionOut,
    )


@endpoint(
    bp,
    "/sessions",
    "DELETE",
    "Sign out every other session of the caller",
    response=SessionsEndedOut,
)
def end_other_sessions() -> Any:
    svc = runtime()
    principal = current_principal()
    others = [
        info.id
        for info in svc.refresh_tokens.sessions(principal.user.id)
        if info.id != principal.token_family
    ]
    # Families are ended one by one (not "all but mine") so the count is what the user saw.
    ended = sum(svc.refresh_tokens.revoke_session(principal.user.id, f) for f in others)
    audit.record(
        svc.dal,
        "sessions_ended",
        actor_id=principal.user.id,
        actor_email=principal.user.email,
        target=f"user:{principal.user.id}",
        ip=client_ip(),
        details={"ended": ended},
    )
    return respond({"ended": ended}, SessionsEndedOut)


@endpoint(
    bp,
    "/sessions/<session_id>",
    "DELETE",
    "Sign out one session of the caller",
    response=SessionsEndedOut,
)
def end_session(session_id: str) -> Any:
    svc = runtime()
    principal = current_principal()
    if len(session_id) > 64 or not session_id.isalnum() or not session_id.isascii():
        raise ApiError(404, "not_found", "no such session")
    if not svc.refresh_tokens.revoke_session(principal.user.id, session_id):
        raise ApiError(404, "not_found", "no such session")
    audit.record(
        svc.dal,
        "session_ended",
        actor_id=principal.user.id,
        actor_email=principal.user.email,
        target=f"user:{principal.user.id}",
        ip=client_ip(),
        details={"session": session_id, "current": session_id == principal.token_family},
    )
    return respond({"ended": 1}, SessionsEndedOut)
