"""Request and response bodies of /api/v1. They validate input (strict types: a number where
a string belongs is refused, naming the field; unknown fields are ignored) and drive the
OpenAPI document."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from ...utils import iso

# -- text ----------------------------------------------------------------------------------
# Every text field of every request (body, query and path) is `Text` (one line) or
# `MultilineText` (free text that may hold tabs and line breaks). Both refuse the C0 control
# characters (NUL included), DEL, the C1 controls and lone surrogates: 422 naming the field,
# before any of it reaches a database driver (NUL in SQL text is a driver error) or a log
# line. The JSON-schema pattern says the same thing to clients and to the OpenAPI document.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROLS_BUT_LAYOUT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
MULTILINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def _refuse(controls: re.Pattern[str], value: Any) -> Any:
    # Runs before pydantic's own str checks (and before any whitespace stripping, which
    # would otherwise quietly accept a trailing "\x1f"); other types are refused there.
    if isinstance(value, str):
        found = controls.search(value)
        if found:
            raise ValueError(
                f"must not contain control characters (U+{ord(found.group()):04X} at "
                f"position {found.start()})"
            )
    return value


def single_line(value: Any) -> Any:
    return _refuse(_CONTROLS, value)


def multiline(value: Any) -> Any:
    return _refuse(_CONTROLS_BUT_LAYOUT, value)


# Lengths go on the field: `name: Text = Field(min_length=1, max_length=100)`.
Text = Annotated[
    str, BeforeValidator(single_line), Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN})
]
MultilineText = Annotated[
    str, BeforeValidator(multiline), Field(json_schema_extra={"pattern": MULTILINE_PATTERN})
]


def text(max_length: int, *, min_length: int = 0) -> Any:
    """`Text` with its lengths built in, for list items (where no Field can carry them)."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        BeforeValidator(single_line),
        Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN}),
    ]


# -- e-mail addresses ----------------------------------------------------------------------
# email-validator refuses the special-use names of RFC 6761/6762 by default. ".local" is
# taken off that list (the documented, process-wide switch): the default admin lives at
# admin@localhost.local and on-premises installations name internal mail domains so; the
# other reserved names (localhost, invalid, test, onion, arpa) stay refused. Deliverability
# (DNS) is never checked: an API call must not wait on a resolver.
if "local" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
    email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("local")


def normalise_email(value: str) -> str:
    """A real address check (syntax, IDNA, unsafe characters), normalised the one way every
    lookup uses: NFC and lower case, domain and local part alike."""
    try:
        address = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValueError(f"not a valid e-mail address: {error}") from None
    return unicodedata.normalize("NFC", address.normalized.lower())


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=255),
    BeforeValidator(single_line),
    AfterValidator(normalise_email),
    Field(json_schema_extra={"format": "email"}),
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
ScopeName = text(64, min_length=1)
RoleRef = text(80, min_length=1)


# -- auth ----------------------------------------------------------------------------------
class LoginIn(Request):
    # The address's form is checked (422) before any lookup; whether it has an account
    # is never said (the same 401 either way).
    email: Email
    password: Text = Password
    totp: Text | None = Field(default=None, max_length=64)
    refresh_cookie: bool = False


class RefreshIn(Request):
    refresh_token: Text | None = Field(default=None, max_length=256)


class LogoutIn(Request):
    refresh_token: Text | None = Field(default=None, max_length=256)


class MePatchIn(Request):
    email: Email | None = None


class PasswordChangeIn(Request):
    current_password: Text = Password
    new_password: Text = NewPassword


class ForgotIn(Request):
    email: Email


class ResetIn(Request):
    token: Text = Field(min_length=1, max_length=1024)
    password: Text = NewPassword


class TwoFactorConfirmIn(Request):
    code: Text = Field(min_length=6, max_length=16)


class TwoFactorDisableIn(Request):
    password: Text = Password


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
    role: Text | None = Field(default=None, max_length=80)
    q: Text | None = Field(default=None, max_length=255)
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=200)


class UserCreateIn(Request):
    email: Email
    password: Text = NewPassword
    roles: list[RoleRef] = Field(default_factory=list, max_length=32)
    active: bool = True


class UserPatchIn(Request):
    email: Email | None = None
    password: Text | None = Field(default=None, min_length=8, max_length=256)
    roles: list[RoleRef] | None = Field(default=None, max_length=32)
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
    description: MultilineText = Field(default="", max_length=255)
    scopes: list[ScopeName] = ScopeList


class RolePatchIn(Request):
    name: str | None = Field(
        default=None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    description: MultilineText | None = Field(default=None, max_length=255)
    scopes: list[ScopeName] | None = Field(default=None, max_length=64)


class ScopeOut(BaseModel):
    name: str
    description: str


# -- API keys ------------------------------------------------------------------------------
class ApiKeyCreateIn(BaseModel):
    # Not strict: expires_at arrives as an ISO-8601 string.
    model_config = ConfigDict(extra="ignore")
    name: Text = Field(min_length=1, max_length=100)
    scopes: list[ScopeName] = Field(min_length=1, max_length=64)
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
    event: Text | None = Field(default=None, max_length=64)


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
