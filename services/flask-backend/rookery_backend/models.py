"""The account model classes Flask-Security-Too works with.

FST inspects these classes (not instances) for its fields at init_app time, so every field
is declared at class level. Rows from PyDAL become instances through `from_row`; the
datastore writes them back field by field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_security import RoleMixin, Totp, UserMixin

from .tables import ROLES, USERS, column_names

USER_FIELDS = column_names(USERS)
ROLE_FIELDS = column_names(ROLES)


class Role(RoleMixin):
    id: int | None = None
    name: str = ""
    description: str | None = None
    permissions: list[str] | None = None
    builtin: bool = False
    created_at: datetime | None = None

    def __init__(self, **values: Any) -> None:
        self.id = values.pop("id", None)
        for name in ROLE_FIELDS:
            setattr(self, name, values.get(name, getattr(type(self), name, None)))
        self.permissions = list(self.permissions or [])

    @classmethod
    def from_row(cls, row: Any) -> Role:
        return cls(id=row["id"], **{name: row[name] for name in ROLE_FIELDS})

    def __repr__(self) -> str:
        return f"Role({self.name!r})"


class User(UserMixin):
    id: int | None = None
    email: str = ""
    password: str | None = None
    active: bool = True
    fs_uniquifier: str = ""
    confirmed_at: datetime | None = None
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    current_login_at: datetime | None = None
    last_login_ip: str | None = None
    current_login_ip: str | None = None
    login_count: int | None = 0
    tf_primary_method: str | None = None
    tf_totp_secret: str | None = None
    tf_phone_number: str | None = None
    tf_totp_last_counter: int | None = None
    mf_recovery_codes: list[str] | None = None
    roles: list[Role] = []

    def __init__(self, **values: Any) -> None:
        self.id = values.pop("id", None)
        for name in USER_FIELDS:
            setattr(self, name, values.get(name, getattr(type(self), name, None)))
        self.roles = list(values.get("roles") or [])

    @classmethod
    def from_row(cls, row: Any, roles: list[Role]) -> User:
        return cls(id=row["id"], roles=roles, **{name: row[name] for name in USER_FIELDS})

    @property
    def scopes(self) -> set[str]:
        granted: set[str] = set()
        for role in self.roles:
            granted |= role.get_permissions()
        return granted

    @property
    def role_names(self) -> list[str]:
        return sorted(role.name for role in self.roles)

    def __repr__(self) -> str:
        return f"User({self.id}, {self.email!r})"


class ReplayGuardTotp(Totp):
    """FST's TOTP factory plus replay protection: the last accepted time step is kept on the
    account (saved with it), so a code works once."""

    def get_last_counter(self, user: Any) -> int | None:
        return getattr(user, "tf_totp_last_counter", None)

    def set_last_counter(self, user: Any, tmatch: Any) -> None:
        user.tf_totp_last_counter = tmatch.counter
