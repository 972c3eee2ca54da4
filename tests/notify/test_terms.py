"""The BT/BG name table covers the model and the explanations, in both languages."""

from __future__ import annotations

import re

from pydantic import BaseModel

import schemas.invoice as invoice_module
from notify.terms import TERMS, term_label, term_name
from validation.explanations import all_explanations

_ID = re.compile(r"B[TG]-\d+(?:-\d+)?")


def _model_terms() -> set[str]:
    found: set[str] = set()
    for obj in vars(invoice_module).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == invoice_module.__name__:
            for field in obj.model_fields.values():
                extra = field.json_schema_extra
                if isinstance(extra, dict) and isinstance(extra.get("term"), str):
                    found.add(str(extra["term"]))
    return found


def test_every_term_of_the_invoice_model_has_a_french_and_english_name() -> None:
    terms = _model_terms()
    assert len(terms) > 120  # the model tags every field; a broken walk would find few
    missing = sorted(t for t in terms if t not in TERMS)
    assert missing == []


def test_every_term_the_explanations_name_has_a_name() -> None:
    terms = {t for e in all_explanations().values() for t in e.terms}
    assert terms
    unnamed = sorted(t for t in terms if term_name(t, "fr") == t or term_name(t, "en") == t)
    assert unnamed == []


def test_the_table_is_the_full_semantic_model() -> None:
    assert {f"BT-{n}" for n in (*range(1, 4), *range(5, 166))} <= set(TERMS)
    assert {f"BG-{n}" for n in range(0, 33)} <= set(TERMS)
    for term_id, (fr, en) in TERMS.items():
        assert _ID.fullmatch(term_id)
        assert fr.strip() and en.strip() and fr != en, term_id


def test_names_and_labels() -> None:
    assert term_name("BT-1", "fr") == "Numéro de facture"
    assert term_name("BT-1", "en") == "Invoice number"
    assert term_label("BT-13", "fr") == "Référence du bon de commande (BT-13)"
    assert term_name("BT-46-1", "fr") == "Identifiant de l'acheteur, identifiant du schéma"
    assert term_label("BT-X-7", "en") == "BT-X-7"
