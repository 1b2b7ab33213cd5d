"""THE table definitions. Written once here; both the SQLAlchemy Core `Table`s (which create
the schema at initialisation) and PyDAL's `define_table` calls (which do every runtime query)
are derived from them, so a column is never typed twice.

Column kinds use PyDAL's vocabulary. Storage follows PyDAL's plain adapters on every
backend: booleans are CHAR(1) holding 'T'/'F', string lists are TEXT holding '|a|b|'.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from pydal import DAL, Field


@dataclass(slots=True, frozen=True)
class Column:
    name: str
    kind: str  # string | text | integer | double | boolean | datetime | list:string | reference <t>
    length: int = 255
    unique: bool = False
    notnull: bool = False
    index: bool = False
    default: object = None


@dataclass(slots=True, frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    # Column groups no two rows may share (a unique index each; rows holding NULL in one of
    # the columns are not compared). migrations.py removes older duplicates first.
    unique_together: tuple[tuple[str, ...], ...] = ()


def unique_index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


C = Column

USERS = TableSpec(
    "auth_user",
    (
        C("email", "string", 255, unique=True, notnull=True),
        C("password", "string", 255),
        C("active", "boolean", default=True),
        C("fs_uniquifier", "string", 64, unique=True, notnull=True),
        C("confirmed_at", "datetime"),
        C("created_at", "datetime"),
        C("last_login_at", "datetime"),
        C("current_login_at", "datetime"),
        C("last_login_ip", "string", 64),
        C("current_login_ip", "string", 64),
        C("login_count", "integer", default=0),
        C("tf_primary_method", "string", 64),
        C("tf_totp_secret", "string", 255),
        C("tf_phone_number", "string", 128),
        C("tf_totp_last_counter", "integer"),
        C("mf_recovery_codes", "list:string"),
    ),
)

ROLES = TableSpec(
    "auth_role",
    (
        C("name", "string", 80, unique=True, notnull=True),
        C("description", "string", 255),
        C("permissions", "list:string"),
        C("builtin", "boolean", default=False),
        C("created_at", "datetime"),
    ),
)

USER_ROLES = TableSpec(
    "auth_user_role",
    (
        C("user_id", "reference auth_user", notnull=True, index=True),
        C("role_id", "reference auth_role", notnull=True),
    ),
)

REFRESH_TOKENS = TableSpec(
    "refresh_token",
    (
        C("user_id", "reference auth_user", notnull=True, index=True),
        C("family", "string", 64, notnull=True, index=True),
        C("token_hash", "string", 64, unique=True, notnull=True),
        C("created_at", "datetime"),
        C("expires_at", "datetime"),
        C("used_at", "datetime"),
        C("revoked_at", "datetime"),
        # The token that replaced this one, encrypted with a key derived from this token
        # itself: a second tab presenting it within the grace window gets the same
        # successor, and nobody reading the database learns a usable token.
        C("successor", "text"),
        # Where the session was used from when this token was issued (sessions list).
        C("ip", "string", 64),
        C("user_agent", "string", 255),
    ),
)

API_KEYS = TableSpec(
    "api_key",
    (
        C("user_id", "reference auth_user", notnull=True, index=True),
        C("name", "string", 100, notnull=True),
        C("prefix", "string", 16, unique=True, notnull=True),
        C("key_hash", "string", 64, notnull=True),
        C("scopes", "list:string"),
        C("created_at", "datetime"),
        C("expires_at", "datetime"),
        C("last_used_at", "datetime"),
        C("revoked_at", "datetime"),
        # An optional restriction: the key acts only on this team's resources, or only on
        # this rule set (access.py); NULL = wherever its owner may act.
        C("team_id", "integer"),
        C("ruleset_id", "integer"),
    ),
)

AUDIT_EVENTS = TableSpec(
    "audit_event",
    (
        C("event", "string", 64, notnull=True, index=True),
        C("actor_id", "integer"),
        C("actor_email", "string", 255),
        C("target", "string", 255),
        C("ip", "string", 64),
        C("details", "text"),
        C("created_at", "datetime", index=True),
    ),
)

# Packet-filter rules (the rule model: rules/model.py); `position` is the evaluation order.
PACKET_RULES = TableSpec(
    "packet_rule",
    (
        C("rule_id", "string", 32, unique=True, notnull=True),
        C("position", "integer", notnull=True, index=True),
        C("name", "string", 100, notnull=True),
        C("action", "string", 8, notnull=True),
        C("protocol", "string", 8, notnull=True),
        C("src", "list:string"),
        C("dst", "list:string"),
        C("src_ports", "list:string"),
        C("dst_ports", "list:string"),
        C("vlan", "integer"),
        C("enabled", "boolean", default=True),
        C("description", "text"),
        C("created_at", "datetime"),
        C("updated_at", "datetime"),
        # The rule set holding the rule; NULL (rows written before there were several) is
        # the default set, row 1 of packet_ruleset.
        C("ruleset_id", "integer", index=True),
    ),
)

# The rule sets. Row 1 is the default set (the one /api/v1/rules acts on, and the only one
# before there were several: its name is NULL until the start-up migration names it).
# `version` grows with every change of the set, in the transaction of the change; its
# values come from the deployment-wide counter `ruleset_version` (table counter), so a
# version number names one state of one set and a sensor moved to another set always
# sees a different version.
PACKET_RULESET = TableSpec(
    "packet_ruleset",
    (
        C("version", "integer", notnull=True, default=0),
        C("default_action", "string", 8, notnull=True, default="allow"),
        C("updated_at", "datetime"),
        C("name", "string", 64),
        C("description", "text"),
        C("team_id", "integer", index=True),  # the owning team; NULL = global
        C("created_at", "datetime"),
    ),
)

# Named counters shared by every process and replica (`value = value + 1` in SQL, read back
# in the same transaction).
COUNTERS = TableSpec(
    "counter",
    (
        C("name", "string", 64, unique=True, notnull=True),
        C("value", "integer", notnull=True, default=0),
    ),
)

# Teams: a name, members with a team role (built-in in policy.TEAM_ROLES, or custom in
# team_role), and the resources they own (rule sets, sensors).
TEAMS = TableSpec(
    "team",
    (
        C("name", "string", 64, unique=True, notnull=True),
        C("description", "text"),
        C("created_at", "datetime"),
    ),
)

TEAM_MEMBERS = TableSpec(
    "team_member",
    (
        C("team_id", "reference team", notnull=True, index=True),
        C("user_id", "reference auth_user", notnull=True, index=True),
        C("role", "string", 64, notnull=True),
        C("created_at", "datetime"),
    ),
    # one membership per person and team: two requests adding them at once cannot leave a
    # second row that removing the first does not end
    unique_together=(("team_id", "user_id"),),
)

# Custom team roles: a name and a subset of policy.RESOURCE_SCOPES.
TEAM_ROLES = TableSpec(
    "team_role",
    (
        C("name", "string", 64, unique=True, notnull=True),
        C("description", "string", 255),
        C("scopes", "list:string"),
        C("created_at", "datetime"),
    ),
)

# Grants on one rule set, to a user or to a team (exactly one of user_id, team_id): a
# built-in grant role (policy.GRANT_ROLES) or "custom" with its own `scopes`.
RULESET_GRANTS = TableSpec(
    "ruleset_grant",
    (
        C("ruleset_id", "reference packet_ruleset", notnull=True, index=True),
        C("user_id", "reference auth_user", index=True),
        C("team_id", "reference team", index=True),
        C("role", "string", 64, notnull=True),
        C("scopes", "list:string"),
        C("created_at", "datetime"),
        C("created_by", "string", 255),
    ),
    unique_together=(("ruleset_id", "user_id"), ("ruleset_id", "team_id")),
)

# Sensors: the packet-service instances, each enforcing one rule set.
SENSORS = TableSpec(
    "sensor",
    (
        C("name", "string", 64, unique=True, notnull=True),
        C("address", "string", 255, unique=True, notnull=True),
        C("ruleset_id", "integer", notnull=True, index=True),
        C("team_id", "integer", index=True),  # the owning team; NULL = global
        C("created_at", "datetime"),
        C("updated_at", "datetime"),
    ),
)

# One row per deployment-wide job (the rule publisher): who holds it and until when. Taken
# over by compare-and-set once expired (lease.py). `term` grows with every change of holder;
# `shared` carries what the holder hands to every process of the deployment (the publishing
# account's API key, sealed with a key derived from SECRET_KEY), `status` what it reports.
SERVICE_LEASES = TableSpec(
    "service_lease",
    (
        C("name", "string", 64, unique=True, notnull=True),
        C("holder", "string", 128, notnull=True, default=""),
        C("term", "integer", notnull=True, default=0),
        C("acquired_at", "datetime"),
        C("expires_at", "datetime"),
        C("shared", "text"),
        # The holder's view of its job (the publisher's per-target status, JSON) for the
        # processes that do not hold the lease.
        C("status", "text"),
        # The request id of the latest write that asked the holder to publish now.
        C("wanted", "string", 128),
    ),
)

# Login throttling shared by every worker and replica (ratelimit.py): one row per attempt
# (`bucket` is a hash of what is limited) or per failed login (`bucket` names the account,
# `address` the client). `seen_at` is unix seconds with a fraction: windows slide exactly.
THROTTLE_EVENTS = TableSpec(
    "throttle_event",
    (
        C("bucket", "string", 64, notnull=True, index=True),
        C("address", "string", 64),
        C("seen_at", "double", notnull=True, index=True),
    ),
)

# Licences installed through PUT /api/v1/license (licensing/): the newest row is the one in
# force for every process and replica; older rows stay as the history of installs.
PRODUCT_LICENSES = TableSpec(
    "product_license",
    (
        C("license_text", "text", notnull=True),
        C("lid", "string", 128, notnull=True),
        C("installed_at", "datetime"),
        C("installed_by", "string", 255),
    ),
)

TABLES: tuple[TableSpec, ...] = (
    USERS,
    ROLES,
    USER_ROLES,
    REFRESH_TOKENS,
    API_KEYS,
    AUDIT_EVENTS,
    PACKET_RULES,
    PACKET_RULESET,
    SERVICE_LEASES,
    THROTTLE_EVENTS,
    PRODUCT_LICENSES,
    COUNTERS,
    TEAMS,
    TEAM_MEMBERS,
    TEAM_ROLES,
    RULESET_GRANTS,
    SENSORS,
)


def _sqlalchemy_column(column: Column) -> sa.Column:
    kind = column.kind
    args: list[object] = []
    if kind == "string":
        sa_type: object = sa.String(column.length)
    elif kind in ("text", "list:string"):
        sa_type = sa.Text()
    elif kind == "integer":
        sa_type = sa.Integer()
    elif kind == "double":
        sa_type = sa.Double()  # 8 bytes everywhere (MySQL's FLOAT would be 4)
    elif kind == "boolean":
        sa_type = sa.CHAR(1)
    elif kind == "datetime":
        sa_type = sa.DateTime()
    elif kind.startswith("reference "):
        sa_type = sa.Integer()
        args.append(sa.ForeignKey(f"{kind.split()[1]}.id", ondelete="CASCADE"))
    else:  # pragma: no cover - a typo in the specs above
        raise ValueError(f"unknown column kind {kind!r} for {column.name}")
    server_default = None
    if column.default is not None:
        stored = ("T" if column.default else "F") if kind == "boolean" else str(column.default)
        server_default = sa.text(f"'{stored}'")
    return sa.Column(
        column.name,
        sa_type,
        *args,
        unique=column.unique,
        nullable=not column.notnull,
        index=column.index,
        server_default=server_default,
    )


def sqlalchemy_metadata() -> sa.MetaData:
    """SQLAlchemy Core tables for every spec (used only to create the schema)."""
    metadata = sa.MetaData()
    for spec in TABLES:
        sa.Table(
            spec.name,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            *(_sqlalchemy_column(c) for c in spec.columns),
            *(
                sa.Index(unique_index_name(spec.name, group), *group, unique=True)
                for group in spec.unique_together
            ),
        )
    return metadata


def define_pydal_tables(dal: DAL) -> None:
    """PyDAL table objects for every spec.

    migrate=False: SQLAlchemy created these tables, so PyDAL must never run DDL over them
    (its own migrate=True would try CREATE TABLE again and write .table files that later
    silently skip real migrations). Decided here, once, for every table.
    """
    for spec in TABLES:
        dal.define_table(
            spec.name,
            *(
                Field(
                    c.name,
                    c.kind,
                    length=c.length,
                    unique=c.unique,
                    notnull=c.notnull,
                    default=c.default,
                    ondelete="CASCADE",
                )
                for c in spec.columns
            ),
            migrate=False,
        )


def column_names(spec: TableSpec) -> tuple[str, ...]:
    return tuple(c.name for c in spec.columns)
