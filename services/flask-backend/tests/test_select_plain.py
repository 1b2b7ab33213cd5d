"""db.select_plain reads the same values PyDAL's own parser does, for every column kind the
schema (tables.py) has, on every backend."""

from __future__ import annotations

from datetime import datetime

from rookery_backend.db import select_plain
from rookery_backend.runtime import runtime


def _same_as_pydal(dal, query, fields) -> list[tuple]:
    plain = select_plain(dal, query, fields, orderby=fields[0])
    parsed = dal(query).select(*fields, orderby=fields[0])
    assert plain == [tuple(row[field] for field in fields) for row in parsed]
    return plain


def test_every_column_kind_reads_as_pydal_reads_it(app) -> None:
    with app.app_context():
        svc = runtime()
        dal = svc.dal
        user, role, link = dal.auth_user, dal.auth_role, dal.auth_user_role
        viewer = dal(role.name == "viewer").select(role.id).first().id
        first = user.insert(
            email="plain1@example.com",
            fs_uniquifier="u-plain-1",
            active=False,
            created_at=datetime(2026, 3, 4, 5, 6, 7),
            last_login_at=datetime(2026, 3, 4, 5, 6, 7, 891000),  # fractional seconds
            login_count=3,
            tf_totp_last_counter=None,
            mf_recovery_codes=["a|b", "c"],  # a bar inside an item
        )
        user.insert(email="plain2@example.com", fs_uniquifier="u-plain-2", active=True)
        link.insert(user_id=first, role_id=viewer)

        fields = [user[name] for name in ("id", *(f for f in user.fields if f != "id"))]
        rows = _same_as_pydal(dal, user.email.startswith("plain"), fields)
        by_email = {row[1]: dict(zip(user.fields, row, strict=True)) for row in rows}
        one = by_email["plain1@example.com"]
        assert one["active"] is False and by_email["plain2@example.com"]["active"] is True
        assert one["created_at"] == datetime(2026, 3, 4, 5, 6, 7)
        assert one["mf_recovery_codes"] == ["a|b", "c"]
        assert by_email["plain2@example.com"]["mf_recovery_codes"] is None

        role_fields = [role[name] for name in ("id", *(f for f in role.fields if f != "id"))]
        roles = _same_as_pydal(dal, role.id > 0, role_fields)
        assert any(row[3] for row in roles)  # permissions lists read back
        _same_as_pydal(
            dal,
            (link.user_id == first) & (role.id == link.role_id),
            [link.user_id, link.role_id, role.name, role.permissions, role.builtin],
        )
        svc.database.end_request(ok=False)


def test_list_columns_decode_as_pydal_decodes_them() -> None:
    """The plain split taken for encodings without an escaped bar gives what PyDAL's
    regular expression gives, for every encoding PyDAL writes (and a few it does not)."""
    import random

    from pydal.helpers.methods import bar_decode_string, bar_encode
    from rookery_backend.db import _decode_list

    rng = random.Random(20261201)
    alphabet = "ab| \x1f1:/.-"
    for _ in range(20000):
        items = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
            for _ in range(rng.randint(0, 4))
        ]
        encoded = bar_encode(items)
        assert _decode_list(encoded) == bar_decode_string(encoded), items
    for raw in ("", "|", "||", "|||", "||||", "|a|", "|a||b|", "| |", "|\x1f||a|", "|a| |b|"):
        assert _decode_list(raw) == bar_decode_string(raw), raw
    assert _decode_list(None) is None
    assert _decode_list(("a", "b")) == ["a", "b"]  # a driver's array
