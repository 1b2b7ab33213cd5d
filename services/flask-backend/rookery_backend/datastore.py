"""A PyDAL UserDatastore for Flask-Security-Too 5.9.

FST's helpers (create_user, add_role_to_user, set_uniquifier, tf_set, mf_set_recovery_codes,
...) change attributes and then call `put`, so `put` writes every column, None included,
and rewrites the user's role links. Nothing is committed here: the request lifecycle in
db.py commits once at the end of the request (or rolls back on error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_security.datastore import Datastore, UserDatastore

from .db import Database
from .models import ROLE_FIELDS, USER_FIELDS, Role, User
from .utils import utcnow


class PydalUserDatastore(Datastore, UserDatastore):
    def __init__(self, database: Database) -> None:
        Datastore.__init__(self, database)
        UserDatastore.__init__(self, User, Role)
        self.database = database
        # Called after every write, so caches of account data (credentials.PrincipalCache)
        # never outlive a change made in this process.
        self.on_change: list[Callable[[], None]] = []

    def changed(self) -> None:
        for callback in self.on_change:
            callback()

    @property
    def dal(self) -> Any:
        return self.database.dal

    # -- Datastore --------------------------------------------------------------------
    def commit(self) -> None:
        self.dal.commit()

    def put(self, model: Any) -> Any:
        self.changed()
        if isinstance(model, User):
            return self._put_user(model)
        if isinstance(model, Role):
            return self._put_role(model)
        raise TypeError(f"cannot store {type(model).__name__}")

    def delete(self, model: Any) -> None:
        self.changed()
        table = self.dal.auth_user if isinstance(model, User) else self.dal.auth_role
        if model.id is not None:
            # Links go first: SQLite only cascades with PRAGMA foreign_keys on.
            if isinstance(model, User):
                self.dal(self.dal.auth_user_role.user_id == model.id).delete()
            else:
                self.dal(self.dal.auth_user_role.role_id == model.id).delete()
            self.dal(table.id == model.id).delete()

    def reload(self, model: Any) -> Any:
        if isinstance(model, User):
            return self.find_user(id=model.id)
        return self.find_role(model.name)

    # -- UserDatastore finders ---------------------------------------------------------
    def find_user(self, case_insensitive: bool = False, **kwargs: Any) -> User | None:
        if len(kwargs) != 1:
            raise ValueError("find_user takes exactly one keyword")
        ((attribute, value),) = kwargs.items()
        table = self.dal.auth_user
        if attribute == "id":
            try:
                value = int(value)
            except (TypeError, ValueError):
                return None
            query = table.id == value
        elif attribute == "email":
            # Emails are stored lower-cased, so every lookup is case-insensitive.
            query = table.email == str(value).strip().lower()
        elif attribute in ("fs_uniquifier", "fs_token_uniquifier"):
            query = table.fs_uniquifier == str(value)
        elif attribute in USER_FIELDS:
            query = table[attribute] == value
        else:
            return None
        return self._select_user(query)

    def _select_user(self, query: Any) -> User | None:
        # One query for the user and its roles (this runs on every authenticated request).
        dal = self.dal
        user, link, role = dal.auth_user, dal.auth_user_role, dal.auth_role
        rows = dal(query).select(
            user.ALL,
            role.ALL,
            left=[link.on(link.user_id == user.id), role.on(role.id == link.role_id)],
            orderby=role.name,
        )
        if not rows:
            return None
        roles = [Role.from_row(r.auth_role) for r in rows if r.auth_role.id is not None]
        return User.from_row(rows[0].auth_user, roles)

    def find_role(self, role: str) -> Role | None:
        row = self.dal(self.dal.auth_role.name == role).select(limitby=(0, 1)).first()
        return Role.from_row(row) if row else None

    def roles_of(self, user_id: int) -> list[Role]:
        link, role = self.dal.auth_user_role, self.dal.auth_role
        rows = self.dal((link.user_id == user_id) & (link.role_id == role.id)).select(
            role.ALL, orderby=role.name
        )
        return [Role.from_row(row) for row in rows]

    def user_from_row(self, row: Any) -> User:
        return User.from_row(row, self.roles_of(row["id"]))

    def create_user(self, **kwargs: Any) -> User:
        kwargs["email"] = str(kwargs["email"]).strip().lower()
        kwargs.setdefault("created_at", utcnow())
        kwargs.setdefault("login_count", 0)
        return super().create_user(**kwargs)

    def create_role(self, **kwargs: Any) -> Role:
        kwargs.setdefault("created_at", utcnow())
        return super().create_role(**kwargs)

    # -- writers -----------------------------------------------------------------------
    def _put_user(self, user: User) -> User:
        table = self.dal.auth_user
        values = {name: getattr(user, name, None) for name in USER_FIELDS}
        values["email"] = str(values["email"]).strip().lower()
        values["mf_recovery_codes"] = list(user.mf_recovery_codes or []) or None
        if user.id is None:
            user.id = table.insert(**values)
        else:
            self.dal(table.id == user.id).update(**values)
        link = self.dal.auth_user_role
        self.dal(link.user_id == user.id).delete()
        for role in user.roles:
            role_id = role.id if role.id is not None else self._put_role(role).id
            link.insert(user_id=user.id, role_id=role_id)
        return user

    def _put_role(self, role: Role) -> Role:
        table = self.dal.auth_role
        values = {name: getattr(role, name, None) for name in ROLE_FIELDS}
        values["permissions"] = sorted(set(role.permissions or []))
        if role.id is None:
            role.id = table.insert(**values)
        else:
            self.dal(table.id == role.id).update(**values)
        return role
