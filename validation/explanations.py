"""Plain-language explanations and fix hints, in French and English, for findings.

A rule message such as ``[BR-CO-10]-Sum of Invoice line net amount (BT-106) =
Σ Invoice line net amount (BT-131).`` is exact but not what a sender acts on.
For the rules that fire most often in practice (and for our own
:class:`~schemas.errors.ErrorCode` values, which senders get notices from) this
module gives one sentence saying what is wrong and one saying what to do, in
both languages, naming the BT/BG terms of EN 16931.

The texts are data: ``explanations.json`` beside this module, keyed by rule id,
loaded once per process. They were written from the rule texts of the official
artefacts (CEN EN 16931 1.3.16, the Factur-X 1.09 profile stylesheets, the
BR-FR Flux 2 schematrons), never copied from them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from schemas.errors import RuleEngineError
from schemas.findings import Finding

DATA_FILE = Path(__file__).with_name("explanations.json")

_TERM = re.compile(r"(?<![A-Za-z0-9])(B[TG]-(?:X-)?\d+(?:-\d+)?)(?![A-Za-z0-9])")
_TERM_FULL = re.compile(r"B[TG]-(?:X-)?\d+(?:-\d+)?")
_TEXT_FIELDS = ("fr", "en", "hint_fr", "hint_en")


@dataclass(frozen=True)
class Explanation:
    """What a rule means for the sender and how to fix it, in French and English."""

    rule_id: str
    terms: tuple[str, ...]
    fr: str
    en: str
    hint_fr: str
    hint_en: str


def terms_in_message(message: str) -> tuple[str, ...]:
    """The BT/BG ids a rule message names, in order of first mention, without duplicates.

    Sub-terms such as ``BT-46-1`` (a scheme identifier) and the Factur-X
    extension terms ``BT-X-…`` are kept whole.

    >>> terms_in_message("[BR-CO-10]-Sum of Invoice line net amount (BT-106) = Σ (BT-131). BT-106")
    ('BT-106', 'BT-131')
    >>> terms_in_message("BR-FR-CO-10/BT-46 : ... son schéma (BT-46-1) ... (BG-23)")
    ('BT-46', 'BT-46-1', 'BG-23')
    """
    return tuple(dict.fromkeys(_TERM.findall(message)))


def _entry(rule_id: str, raw: Any) -> Explanation:
    where = f"{DATA_FILE.name}: {rule_id}"
    if not isinstance(raw, dict) or set(raw) != {"terms", *_TEXT_FIELDS}:
        raise RuleEngineError(
            f"an explanation must have exactly the keys terms, {', '.join(_TEXT_FIELDS)}", where=where
        )
    texts = {name: raw[name] for name in _TEXT_FIELDS}
    for name, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            raise RuleEngineError(f"the explanation field {name} must be a non-empty string", where=where)
    terms = raw["terms"]
    if not isinstance(terms, list) or not all(isinstance(t, str) and _TERM_FULL.fullmatch(t) for t in terms):
        raise RuleEngineError("terms must be a list of BT-/BG- ids such as BT-24 or BT-46-1", where=where)
    return Explanation(rule_id=rule_id, terms=tuple(terms), **texts)


@lru_cache(maxsize=1)
def all_explanations() -> Mapping[str, Explanation]:
    """Every explanation, keyed by rule id; read from :data:`DATA_FILE` once per process.

    Raises:
        RuleEngineError: the data file is missing or malformed (a packaging or
            editing mistake, reported instead of silently explaining nothing).
    """
    try:
        data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuleEngineError(f"the explanations cannot be read: {exc}", where=str(DATA_FILE)) from None
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, dict):
        raise RuleEngineError("the explanations file has no 'rules' object", where=str(DATA_FILE))
    return MappingProxyType({rule_id: _entry(rule_id, raw) for rule_id, raw in rules.items()})


def explain(rule_id: str) -> Explanation | None:
    """The explanation of a rule or error code, or ``None`` when there is none.

    >>> explain("BR-16").terms
    ('BG-25',)
    >>> explain("NO-SUCH-RULE") is None
    True
    """
    return all_explanations().get(rule_id)


def annotate(finding: Finding) -> Finding:
    """The finding with its explanation and hints filled in, when its rule has one.

    Terms the finding already names are kept first; the explanation's terms are
    added after them.
    """
    found = explain(finding.rule_id)
    if found is None:
        return finding
    return finding.model_copy(
        update={
            "terms": tuple(dict.fromkeys((*finding.terms, *found.terms))),
            "explanation_fr": found.fr,
            "explanation_en": found.en,
            "hint_fr": found.hint_fr,
            "hint_en": found.hint_en,
        }
    )
