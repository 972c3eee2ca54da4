"""From an EN 16931 term id (BT-13, BG-24, BT-49...) to the values an invoice holds for it.

The paths are read from the ``term`` metadata of :mod:`schemas.invoice`, never from a
hand-made table: the model is walked breadth first, so a term used at several depths
resolves to the shallowest field (BT-73 is the invoicing period start, not the
delivery's), and the buyer's party fields take their buyer ids through
:data:`schemas.invoice.BUYER_TERMS` (BT-44 name, BT-47 legal registration, BT-49
electronic address...).

>>> resolve("BT-13")
('purchase_order_reference',)
>>> resolve("BT-49")
('buyer', 'electronic_address')
"""

from __future__ import annotations

import re
from collections import deque
from functools import lru_cache
from typing import Any, get_args

from pydantic import BaseModel

from schemas.invoice import BUYER_TERMS, Identifier, Invoice

TermPath = tuple[str, ...]

_TERM_ID = re.compile(r"B[TG]-\d+(?:-\d+)?")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (itself, in a list, or optional), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _term_of(model: type[BaseModel], name: str) -> str | None:
    extra = model.model_fields[name].json_schema_extra
    if isinstance(extra, dict):
        value = extra.get("term")
        return str(value) if value is not None else None
    return None


@lru_cache(maxsize=1)
def term_paths() -> dict[str, TermPath]:
    """Every term id of the model with the path of fields that holds it (shallowest first)."""
    found: dict[str, TermPath] = {"BG-0": ()}
    queue: deque[tuple[type[BaseModel], TermPath, bool]] = deque([(Invoice, (), False)])
    while queue:
        model, prefix, in_buyer = queue.popleft()
        for name, field in model.model_fields.items():
            path = (*prefix, name)
            buyer = in_buyer or path == ("buyer",)
            term_id = _term_of(model, name)
            if term_id is not None:
                if in_buyer:
                    term_id = BUYER_TERMS.get(term_id)
                if term_id is not None and term_id not in found:
                    found[term_id] = path
            child = _model_of(field.annotation)
            if child is not None and child is not Identifier:
                queue.append((child, path, buyer))
    return found


def is_term_id(text: str) -> bool:
    """True for a well-formed BT/BG id such as ``BT-13`` or ``BT-125-2``.

    >>> is_term_id("BT-13"), is_term_id("bt13")
    (True, False)
    """
    return _TERM_ID.fullmatch(text) is not None


def resolve(term_id: str) -> TermPath:
    """The model path of a term; raises ``KeyError`` for a term the model does not hold."""
    return term_paths()[term_id]


def values_of(invoice: Invoice, term_id: str) -> list[Any]:
    """The values the invoice holds for a term: lists flattened, ``None`` and blanks left out."""
    items: list[Any] = [invoice]
    for name in resolve(term_id):
        nxt: list[Any] = []
        for item in items:
            value = getattr(item, name, None)
            if isinstance(value, list):
                nxt.extend(value)
            elif value is not None:
                nxt.append(value)
        items = nxt
    return [v for v in items if present(v)]


def present(value: Any) -> bool:
    """True when a value counts as given: not None, not blank text, not an empty group."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Identifier):
        return bool(value.value.strip())
    if isinstance(value, list):
        return any(present(v) for v in value)
    if isinstance(value, BaseModel):
        return any(present(getattr(value, name)) for name in type(value).model_fields)
    return True


def as_text(value: Any) -> str:
    """A value as the text a finding shows (an identifier's value, a date in ISO form...).

    >>> as_text(Identifier(value="123456782", scheme="0002"))
    '123456782'
    """
    if isinstance(value, Identifier):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_none=True)
    return str(value)
