"""Request and response bodies of /api/v1. They validate input (strict types: a number where
a string belongs is refused, naming the field; unknown fields are ignored) and drive the
OpenAPI document."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Literal

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

from ...packet_link.stats_view import SERIES_METRICS, decode_page_token
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


class Reauthentication(Request):
    """Proof that the account's owner is at the keyboard: the current password, or where
    two-factor is on, a code from the authenticator instead."""

    current_password: Text | None = Field(default=None, max_length=256)
    totp: Text | None = Field(default=None, max_length=64)


class MePatchIn(Reauthentication):
    email: Email | None = None


class PasswordChangeIn(Request):
    current_password: Text = Password
    new_password: Text = NewPassword


class ForgotIn(Request):
    email: Email


class ResetIn(Request):
    token: Text = Field(min_length=1, max_length=1024)
    password: Text = NewPassword
    # Whoever could reset the password may also have made keys: revoked unless kept.
    revoke_api_keys: bool = True


class ResetOut(BaseModel):
    message: str
    api_keys_revoked: int
    sessions_revoked: int


class TwoFactorConfirmIn(Request):
    code: Text = Field(min_length=6, max_length=16)


class TwoFactorDisableIn(Request):
    password: Text = Password
    # A current authenticator code or an unused recovery code.
    totp: Text | None = Field(default=None, max_length=64)


class TwoFactorSetupIn(Request):
    password: Text = Password


class SessionOut(BaseModel):
    id: str
    created_at: Timestamp
    last_used_at: Timestamp
    expires_at: Timestamp
    ip: str | None
    user_agent: str | None
    current: bool


class SessionsEndedOut(BaseModel):
    ended: int


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
    # The built-in account flask-backend publishes rules with: protected from changes
    # that would stop publishing unless forced.
    service_account: bool = False


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
    # Needed to deactivate or re-role the built-in service account (rule publishing stops).
    force: bool = False


class ForceQuery(Query):
    # Needed to delete the built-in service account or revoke its key (publishing stops).
    force: bool = False


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
AuditSort = Literal["created_at", "-created_at", "event", "-event", "actor", "-actor"]


def _day_or_instant(value: Any) -> date | datetime:
    """ "2024-05-01" is a whole day; anything longer is an instant (ISO 8601)."""
    if isinstance(value, date):
        return value
    text = value.strip() if isinstance(value, str) else ""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    raise ValueError("must be a date (2024-05-01) or a date and time (2024-05-01T13:30:00Z)")


DayOrInstant = Annotated[
    date | datetime,
    PlainValidator(_day_or_instant),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    ),
]


class AuditFilterQuery(Query):
    """What GET /audit and its CSV export select: every filter narrows the result."""

    event: Text | None = Field(default=None, max_length=64)
    actor: Text | None = Field(
        default=None, max_length=255, description="the actor's e-mail (part of it) or user id"
    )
    target: Text | None = Field(
        default=None,
        max_length=255,
        description="raw target (user:7, rule:ab12) or part of its readable name",
    )
    from_: DayOrInstant | None = Field(
        default=None, alias="from", description="on or after (a date: from its start, UTC)"
    )
    to: DayOrInstant | None = Field(
        default=None, description="on or before (a date: to its end, UTC)"
    )
    q: Text | None = Field(
        default=None, max_length=200, description="free text in event, actor, target, details"
    )
    sort: AuditSort = "-created_at"


class AuditQuery(AuditFilterQuery):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=500)


class AuditOut(BaseModel):
    id: int
    event: str
    actor_id: int | None
    actor_email: str | None
    target: str | None
    target_label: str | None = Field(
        description="the target as a person reads it: the user's e-mail, the rule's name"
    )
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


# -- stats: packet statistics (api/v1/stats.py) --------------------------------------------
# Rates are never computed between two callers: they come from packet-service's per-second
# history (or Prometheus), the same for everyone.
RANGE_PRESETS = ("5m", "15m", "1h", "6h", "24h")
RANGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SERIES_RANGE_MAX = 7 * 86400
SERIES_POINTS_MAX = 10_000  # per series, as packet-service's GetSeries
SERIES_POINTS_AUTO = 300  # the step chosen when none is given: about this many points


def _series_metrics(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not names:
        raise ValueError("name at least one metric")
    unknown = [name for name in names if name not in SERIES_METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; expected {', '.join(SERIES_METRICS)}")
    return names


def _range_seconds(value: str) -> int:
    match = re.fullmatch(r"\s*(\d{1,7})\s*([smhd]?)\s*", value)
    if not match:
        raise ValueError("expected seconds or a duration like 5m, 15m, 1h, 6h, 24h")
    seconds = int(match.group(1)) * RANGE_UNITS[match.group(2) or "s"]
    if not 10 <= seconds <= SERIES_RANGE_MAX:
        raise ValueError(f"{seconds} s is out of range (10 s to {SERIES_RANGE_MAX // 86400} days)")
    return seconds


class TopFlowsQuery(Query):
    n: int = Field(default=10, ge=1, le=1000, description="flows per page, 1-1000")
    order_by: Literal["packets", "bytes"] = "packets"
    page_token: (
        Annotated[Text, StringConstraints(max_length=64), AfterValidator(decode_page_token)] | None
    ) = Field(
        default=None,
        description="meta.next_page_token of the previous page; absent for the first page. "
        "Pages reach at most 10000 flows deep into each packet-service's ordering.",
    )


class SeriesQuery(Query):
    metric: Annotated[Text, StringConstraints(max_length=200), AfterValidator(_series_metrics)] = (
        Field(
            description="comma-separated: packets, bytes, bytes_wire, allow, drop, malformed, "
            "parse_errors, rule_hits (one series per rule of the rule set in force)",
        )
    )
    range_seconds: Annotated[
        Text, StringConstraints(max_length=16), AfterValidator(_range_seconds)
    ] = Field(
        default="15m",
        validate_default=True,
        alias="range",
        description="the window ending now: seconds, or 5m, 15m, 1h, 6h, 24h (at most 7d)",
    )
    step: int | None = Field(
        default=None,
        ge=1,
        le=86400,
        description="seconds per point; default: about 300 points over the range; at most "
        "10000 points",
    )


class StatsRatesOut(BaseModel):
    packets: float
    bytes: float
    bytes_wire: float
    allow: float
    drop: float
    malformed: float


class StatsSummaryOut(BaseModel):
    packets_per_second: float = Field(description="= rates.packets")
    rates: StatsRatesOut = Field(
        description="per second, the mean of the last rate_window_seconds complete seconds "
        "of packet-service's history, summed over targets"
    )
    rate_window_seconds: int
    packets_total: int
    bytes_total: int = Field(description="bytes as captured")
    bytes_wire_total: int = Field(description="bytes as they were on the wire")
    verdicts: dict[str, int]
    parse_errors: dict[str, int]
    flows_active: int
    flows_evicted_total: int
    ruleset_version: int
    targets_answered: int
    targets_total: int


class StaleMeta(BaseModel):
    stale: bool = Field(description="true: the last good answer, packet-service is out of reach")
    age_seconds: float
    reasons: dict[str, str] = Field(description="target → why it did not answer")


class FlowOut(BaseModel):
    vlan: int | None
    src: str
    dst: str
    src_port: int
    dst_port: int
    protocol: int
    packets: int
    bytes: int
    first_seen: float
    last_seen: float
    tcp_flags: int


class FlowsMeta(StaleMeta):
    flows_active: int
    next_page_token: str | None = Field(description="absent on the last page")


class RuleHitsOut(BaseModel):
    rule_id: str
    name: str
    hits: int


class RuleHitsMeta(StaleMeta):
    ruleset_version: int = Field(description="hits count since this rule set was loaded")
    since: float | None = Field(description="Unix seconds the rule set was loaded")


class SeriesLineOut(BaseModel):
    metric: str
    rule_id: str | None = None
    rule_name: str | None = None
    values: list[float | None] = Field(
        description="the counter's increase within each step (rate = value / step_seconds); "
        "null where no source covers the step"
    )


class SeriesOut(BaseModel):
    source: Literal["packet-service", "prometheus"]
    start: float = Field(description="Unix seconds the first step starts")
    step_seconds: int
    points: int
    range_seconds: int
    history_start: float | None = Field(description="the oldest second packet-service holds")
    ruleset_version: int | None
    rule_hits_since: float | None
    series: list[SeriesLineOut]


class SeriesTargetOut(BaseModel):
    target: str
    stale: bool = Field(description="true: it did not answer; its last good answer is used")
    age_seconds: float
    error: str | None


class SeriesMeta(BaseModel):
    source: Literal["packet-service", "prometheus"]
    stale: bool = Field(description="true when any target is stale")
    age_seconds: float
    targets: list[SeriesTargetOut]


# -- CSV exports -----------------------------------------------------------------------------
class UserExportQuery(Query):
    """GET /users/export: the user list's filters, without pagination."""

    status: Literal["active", "inactive"] | None = None
    role: Text | None = Field(default=None, max_length=80)
    q: Text | None = Field(default=None, max_length=255)
