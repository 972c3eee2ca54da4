"""Column types that behave the same on SQLite and PostgreSQL.

Migrations import these by name (``ledger.types.UTCDateTime``...): they are part
of the schema's history, so change them only with a migration in mind.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")
MONEY_LIMIT = Decimal(10) ** 16  # Numeric(18, 2): 16 digits before the point


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant: stored in UTC, always returned as an aware UTC ``datetime``.

    PostgreSQL keeps it in ``timestamptz``; SQLite has no time zones, so the
    value is converted to UTC and stored naive, and read back as UTC. A naive
    ``datetime`` is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Convert to UTC (naive on SQLite); refuse naive values."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: instants are aware UTC datetimes")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Return an aware UTC datetime whatever the backend gave."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Money(TypeDecorator[Decimal]):
    """An amount: ``Numeric(18, 2)``, a ``Decimal`` in and out, exact on both backends.

    PostgreSQL stores ``numeric(18,2)``. SQLite has no exact decimal type (its
    NUMERIC affinity falls back to binary floating point), so there the amount
    is stored as a whole number of cents in an INTEGER column: sums and
    comparisons in SQL stay exact. Values are rounded ROUND_HALF_UP to two
    places on the way in, on both backends; floats are refused.
    """

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Whole cents on SQLite, ``numeric(18,2)`` elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Decimal | int | None:
        """Round to cents; cents as an ``int`` on SQLite."""
        if value is None:
            return None
        if isinstance(value, float | bool):
            raise TypeError("money must be a Decimal (or int/str), never a float")
        amount = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
        if abs(amount) >= MONEY_LIMIT:
            raise ValueError(f"amount {amount} does not fit Numeric(18, 2)")
        if dialect.name == "sqlite":
            return int(amount * 100)
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """A ``Decimal`` with two places."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            if isinstance(value, int):
                return (Decimal(value) / 100).quantize(CENT)
            # an aggregate over the column (e.g. avg) may come back as a float or str
            return (Decimal(str(value)) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return Decimal(value).quantize(CENT)


# JSON documents: JSONB on PostgreSQL (comparable, indexable), JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")
