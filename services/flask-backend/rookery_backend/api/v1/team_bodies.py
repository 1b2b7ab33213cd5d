"""Request and response bodies of teams, team roles, rule-set grants and restricted API
keys (the access model: docs/TEAMS.md)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from ...errors import ApiError
from . import bodies
from .bodies import (
    Email,
    MultilineText,
    Query,
    Request,
    ScopeList,
    ScopeName,
    Text,
    Timestamp,
)

# Database ids: positive, and within a signed 64-bit column.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _trimmed(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or only spaces")
    return value


def _visible(value: str) -> str:
    """No invisible or direction-changing characters (Unicode format characters such as a
    zero-width space or a right-to-left override; line and paragraph separators): "Team B"
    followed by one would read as another team's name on every screen."""
    if any(unicodedata.category(c) in ("Cf", "Zl", "Zp") for c in value):
        raise ValueError("must not contain invisible or direction-changing characters")
    return value


# A team's name: 1-64 printable characters, trimmed.
TeamName = Annotated[
    Text, StringConstraints(max_length=64), AfterValidator(_trimmed), AfterValidator(_visible)
]
# Team role names: built-in (team-admin, ...) or custom; letters, digits, . _ -
RoleName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]


class PageQuery(Query):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=200)


# -- teams ---------------------------------------------------------------------------------
class TeamCreateIn(Request):
    name: TeamName
    description: MultilineText = Field(default="", max_length=1000)


class TeamPatchIn(Request):
    name: TeamName | None = None
    description: MultilineText | None = Field(default=None, max_length=1000)


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    created_at: Timestamp
    member_count: int
    my_role: str | None = Field(description="the caller's team role here, if a member")


def exactly_one(body: BaseModel, fields: tuple[str, ...]) -> str:
    """The one of `fields` the body gives; 422 naming the fields when it gives none or
    several (a model validator could only name the body as a whole)."""
    given = [name for name in fields if getattr(body, name) is not None]
    if len(given) == 1:
        return given[0]
    message = f"give exactly one of {', '.join(fields)}"
    named = given or list(fields)
    raise ApiError(422, "validation_error", message, {"fields": dict.fromkeys(named, message)})


class MemberIn(Request):
    """Who joins: by e-mail address (anyone managing the team's members), or by user id
    (only with the global users:read scope: ids are not to be walked)."""

    email: Email | None = Field(
        default=None,
        description="the account's e-mail address, matched as at log-in (case-insensitive)",
    )
    user_id: Id | None = Field(
        default=None, description="the account's id; needs the global 'users:read' scope"
    )
    role: RoleName

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "ana@example.com", "role": "team-viewer"},
                {"user_id": 7, "role": "team-viewer"},
            ]
        }
    )


class MemberPatchIn(Request):
    role: RoleName


class MemberOut(BaseModel):
    team_id: int
    user_id: int
    email: str
    role: str
    scopes: list[str] = Field(description="what the role holds on the team's resources")
    created_at: Timestamp


class TeamDeletedOut(BaseModel):
    id: int
    name: str
    members_removed: int
    grants_removed: int
    apikeys_revoked: int


# -- custom team roles ---------------------------------------------------------------------
class TeamRoleIn(Request):
    name: RoleName
    description: Text = Field(default="", max_length=255)
    scopes: list[ScopeName] = ScopeList


class TeamRoleOut(BaseModel):
    id: int | None = Field(description="absent for the built-in team roles")
    name: str
    description: str
    scopes: list[str]
    builtin: bool
    created_at: Timestamp = None


# -- grants on a rule set ------------------------------------------------------------------
GrantRole = Literal["owner", "editor", "viewer", "custom"]


class GrantIn(Request):
    """Who holds it: a user by e-mail address, or by user id (only with the global users:read
    scope), or a team the caller may see (global teams:read, or a member of it)."""

    email: Email | None = Field(
        default=None,
        description="a user's e-mail address, matched as at log-in (case-insensitive)",
    )
    user_id: Id | None = Field(
        default=None, description="a user's id; needs the global 'users:read' scope"
    )
    team_id: Id | None = Field(
        default=None,
        description="a team you may see (global 'teams:read', or a member of it)",
    )
    role: GrantRole
    scopes: list[ScopeName] | None = Field(default=None, max_length=16)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "ana@example.com", "role": "viewer"},
                {"user_id": 7, "role": "editor"},
                {"team_id": 3, "role": "custom", "scopes": ["rules:read", "stats:read"]},
            ]
        }
    )

    @model_validator(mode="after")
    def scopes_with_custom(self) -> GrantIn:
        if self.role == "custom" and not self.scopes:
            raise ValueError("a custom grant needs its scopes")
        if self.role != "custom" and self.scopes is not None:
            raise ValueError("scopes are only for a custom grant")
        return self


class GrantOut(BaseModel):
    id: int
    ruleset_id: int
    user_id: int | None
    team_id: int | None
    holder: str | None = Field(description="the user's e-mail or the team's name")
    role: str
    scopes: list[str]
    created_at: Timestamp
    created_by: str | None


# -- API keys with a restriction -----------------------------------------------------------
# The API-key bodies of bodies.py plus the restriction, under the same names (the OpenAPI
# document and the web UI's generated types keep calling them so).
class ApiKeyCreateIn(bodies.ApiKeyCreateIn):
    team_id: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        strict=True,
        description="act only on this team's resources",
    )
    ruleset_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, strict=True, description="act only on this rule set"
    )

    @model_validator(mode="after")
    def one_restriction(self) -> ApiKeyCreateIn:
        if self.team_id is not None and self.ruleset_id is not None:
            raise ValueError("restrict a key to a team or to a rule set, not both")
        return self


class ApiKeyOut(bodies.ApiKeyOut):
    team_id: int | None = Field(default=None, description="acts only on this team's resources")
    ruleset_id: int | None = Field(default=None, description="acts only on this rule set")


class ApiKeyCreatedOut(ApiKeyOut):
    key: str
