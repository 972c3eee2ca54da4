from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.canonical import NotCanonical, canonical_json, content_hash, is_canonical, sha256_hex


class Color(StrEnum):
    RED = "red"


def test_sorted_compact_utf8() -> None:
    value = {"z": 1, "a": {"é": "ü", "b": [True, None]}, "m": Color.RED}
    assert canonical_json(value) == '{"a":{"b":[true,null],"é":"ü"},"m":"red","z":1}'.encode()


def test_decimals_dates_and_aware_datetimes() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    value = {
        "amount": Decimal("1234.50"),
        "due": dt.date(2026, 12, 31),
        "at": dt.datetime(2026, 11, 23, 7, 0, 0, tzinfo=paris),
    }
    assert canonical_json(value) == b'{"amount":"1234.50","at":"2026-11-23T06:00:00Z","due":"2026-12-31"}'


@pytest.mark.parametrize(
    "bad",
    [
        {"x": 0.1},
        {"x": [1, 2.0]},
        {"at": dt.datetime(2026, 1, 1)},
        {1: "non-string key"},
        {"x": Decimal("NaN")},
        {"x": b"bytes"},
        {"x": {1, 2}},
    ],
)
def test_refuses_what_has_no_single_form(bad: object) -> None:
    with pytest.raises(NotCanonical):
        canonical_json(bad)


def test_hash_is_sha256_of_the_bytes() -> None:
    value = {"b": 2, "a": 1}
    assert content_hash(value) == sha256_hex(b'{"a":1,"b":2}')


def test_is_canonical_rejects_rewrites() -> None:
    assert is_canonical(b'{"a":"\xc3\xa9"}')
    assert not is_canonical(b'{"a":"\\u00e9"}')  # escaped: same JSON, other bytes
    assert not is_canonical(b'{"a": 1}')
    assert not is_canonical(b"not json")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_with_the_standard_library(value: object) -> None:
    """The README's recipe: json.loads then json.dumps(sort_keys, compact) gives the same bytes."""
    data = canonical_json(value)
    again = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert again == data
    assert is_canonical(data)
