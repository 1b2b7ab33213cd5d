"""Request and response bodies of /api/v1. They validate input (strict types: a number where
a string belongs is refused, naming the field; unknown fields are ignored) and drive the
OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from ...utils import iso

# A deliberately plain check: local@domain, no spaces. Deliverability is not judged here
# (the default admin lives at localhost.local, which strict validators refuse).
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$"),
]


# The database keeps naive UTC; the API always says so ("...Z"), so browsers do not read
# the times as local.
Timestamp = Annotated[
    datetime | None, PlainSerializer(iso, return_type=str | None, when_used="always")
]


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Query(BaseModel):
    # Query strings are text; numbers are converted, and unknown parameters ignored.
    model_config = ConfigDict(extra="ignore")


Password = Field(min_length=1, max_length=256)
NewPassword = Field(min_length=8, max_length=256)
ScopeList = Field(default_factory=list, max_length=64)


# -- auth ----------------------------------------------------------------------------------
class LoginIn(Request):
    email: str = Field(min_length=1, max_length=255)
    password: str = Password
    totp: str | None = Field(default=None, max_length=64)
    refresh_cookie: bool = False


class RefreshIn(Request):
    refresh_token: str | None = Field(default=None, max_length=256)


class LogoutIn(Request):
    refresh_token: str | None = Field(default=None, max_length=256)


class MePatchIn(Request):
    email: Email | None = None


class PasswordChangeIn(Request):
    current_password: str = Password
    new_password: str = NewPassword


class ForgotIn(Request):
    email: str = Field(min_length=1, max_length=255)


class ResetIn(Request):
    token: str = Field(min_length=1, max_length=1024)
    password: str = NewPassword


class TwoFactorConfirmIn(Request):
    code: str = Field(min_length=6, max_length=16)


class TwoFactorDisableIn(Request):
    password: str = Password


class UserOut(BaseModel):
    id: int
    email: str
    active: bool
    roles: list[str]
    scopes: list[str]
    tf_enabled: bool
    created_at: Timestamp
    last_login_at: Timestamp
    login_count: int


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str | None
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user: UserOut


class MessageOut(BaseModel):
    message: str


class ForgotOut(BaseModel):
    message: str
    mail_delivery: Literal["smtp", "logged", "disabled"]


class TwoFactorSetupOut(BaseModel):
    secret: str
    otpauth_uri: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


# -- users ---------------------------------------------------------------------------------
class UserListQuery(Query):
    status: Literal["active", "inactive"] | None = None
    role: str | None = Field(default=None, max_length=80)
    q: str | None = Field(default=None, max_length=255)
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=200)


class UserCreateIn(Request):
    email: Email
    password: str = NewPassword
    roles: list[str] = Field(default_factory=list, max_length=32)
    active: bool = True


class UserPatchIn(Request):
    email: Email | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    roles: list[str] | None = Field(default=None, max_length=32)
    active: bool | None = None


# -- roles and scopes ----------------------------------------------------------------------
RoleName = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")


class RoleOut(BaseModel):
    id: int
    name: str
    description: str
    scopes: list[str]
    builtin: bool


class RoleCreateIn(Request):
    name: str = RoleName
    description: str = Field(default="", max_length=255)
    scopes: list[str] = ScopeList


class RolePatchIn(Request):
    name: str | None = Field(
        default=None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    description: str | None = Field(default=None, max_length=255)
    scopes: list[str] | None = Field(default=None, max_length=64)


class ScopeOut(BaseModel):
    name: str
    description: str


# -- API keys ------------------------------------------------------------------------------
class ApiKeyCreateIn(BaseModel):
    # Not strict: expires_at arrives as an ISO-8601 string.
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=64)
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    user_id: int
    created_at: Timestamp
    expires_at: Timestamp
    last_used_at: Timestamp
    revoked: bool


class ApiKeyCreatedOut(ApiKeyOut):
    key: str


class ApiKeyListQuery(Query):
    all: bool = False


# -- audit ---------------------------------------------------------------------------------
class AuditQuery(Query):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=500)
    event: str | None = Field(default=None, max_length=64)


class AuditOut(BaseModel):
    id: int
    event: str
    actor_id: int | None
    actor_email: str | None
    target: str | None
    ip: str | None
    details: dict
    created_at: Timestamp


class ListMeta(BaseModel):
    total: int
    page: int
    per_page: int


class HealthOut(BaseModel):
    status: str
    service: str
    version: str


class ReadyOut(BaseModel):
    status: str
    database: str
