r"""Canonical JSON: one byte string per value, so anyone can recompute a hash.

Keys sorted, UTF-8 (not ``\\u`` escapes), no insignificant whitespace, no
floats: a ``Decimal`` is written as its string, a ``date`` as ``YYYY-MM-DD``,
an aware ``datetime`` converted to UTC as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``.
Floats and naive datetimes are refused, because their text is ambiguous. Once
converted, a value is plain JSON (str, int, bool, None, lists, objects), so
``json.dumps(json.loads(b), sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` gives back the same bytes ``b`` — the recipe the evidence
README hands to a verifier.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from schemas.errors import EncaisseError, ErrorCode

GENESIS = "0" * 64


class NotCanonical(EncaisseError):
    """A value has no canonical JSON form (a float, a naive datetime, a non-string key...)."""

    code = ErrorCode.ARCHIVE_NOT_CANONICAL


def utc_text(value: dt.datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z``.

    >>> utc_text(dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    '2026-11-23T05:00:00Z'
    >>> utc_text(dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC))
    '2026-01-02T03:04:05.000006Z'
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise NotCanonical(f"naive datetime {value.isoformat()} has no instant; give it a time zone")
    text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def plain(value: Any, where: str = "$") -> Any:
    """``value`` turned into plain JSON types (see the module docstring).

    >>> plain({"amount": Decimal("12.50"), "on": dt.date(2026, 1, 31), "n": [1, True, None]})
    {'amount': '12.50', 'on': '2026-01-31', 'n': [1, True, None]}
    """
    if value is None or isinstance(value, bool | int):
        return value if not isinstance(value, Enum) else value.value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        raise NotCanonical(f"float {value!r} at {where}: use Decimal or a string", where=where)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NotCanonical(f"{value} at {where} is not a finite number", where=where)
        return str(value)
    if isinstance(value, dt.datetime):
        try:
            return utc_text(value)
        except NotCanonical as exc:
            raise NotCanonical(exc.message, where=where) from None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value, where)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"key {key!r} at {where} is not a string", where=where)
            out[str(key)] = plain(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise NotCanonical(f"{type(value).__name__} at {where} has no canonical JSON form", where=where)


def dumps_plain(value: Any) -> bytes:
    """Canonical bytes of a value already made of plain JSON types (the fast path)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_json(value: Any) -> bytes:
    r"""The canonical JSON bytes of ``value``.

    >>> canonical_json({"b": Decimal("1.10"), "a": "é"})
    b'{"a":"\xc3\xa9","b":"1.10"}'
    >>> canonical_json({"x": 1.5})
    Traceback (most recent call last):
    ...
    archive.canonical.NotCanonical: [ARCHIVE_NOT_CANONICAL] float 1.5 at $.x: use Decimal or a string (at $.x)
    """
    return dumps_plain(plain(value))


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``.

    >>> sha256_hex(b"abc")[:12]
    'ba7816bf8f01'
    """
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical bytes of ``value`` (an entry's or a seal's hash).

    >>> content_hash({"a": 1}) == sha256_hex(b'{"a":1}')
    True
    """
    return sha256_hex(canonical_json(value))


def is_canonical(data: bytes) -> bool:
    """True when ``data`` is exactly the canonical form of the JSON it holds.

    >>> is_canonical(b'{"a":1,"b":[]}'), is_canonical(b'{"b":[],"a":1}'), is_canonical(b'{"a":1.0}')
    (True, False, False)
    """
    try:
        value = json.loads(data, parse_float=_refuse_float)
    except (ValueError, NotCanonical):
        return False
    return dumps_plain(value) == data


def _refuse_float(text: str) -> Any:
    raise NotCanonical(f"float {text} in canonical JSON")


def loads(data: bytes) -> Any:
    """Parse canonical JSON, refusing floats (they were never written)."""
    try:
        return json.loads(data, parse_float=_refuse_float)
    except ValueError as exc:
        raise NotCanonical(f"not JSON: {exc}") from exc
