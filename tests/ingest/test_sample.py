"""`encaisse sample`'s engine: every format, a consistent manifest, the defect share, same seed same bytes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import facturx
import pikepdf
import pytest
from schwifty import IBAN
from stdnum import vatin
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret

from ingest.detect import detect
from ingest.kinds import DocumentKind, Profile
from ingest.parse import parse_invoice
from ingest.sample import DEFECTS, MANIFEST_NAME, SampleEntry, generate_samples, load_manifest, plan

ROOT = Path(__file__).resolve().parents[2]
COUNT = 12
LIGHT_PROFILES = {Profile.MINIMUM, Profile.BASIC_WL}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SampleEntry]]:
    out = tmp_path_factory.mktemp("samples")
    return out, generate_samples(out, COUNT, seed=3, invalid_share=0.3)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_in_another_process(
    samples: tuple[Path, list[SampleEntry]], tmp_path: Path
) -> None:
    out, _ = samples
    other = tmp_path / "again"
    code = (
        "import sys; from pathlib import Path; from ingest.sample import generate_samples; "
        f"generate_samples(Path(sys.argv[1]), {COUNT}, seed=3, invalid_share=0.3)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code, str(other)], check=True, env=env, cwd=ROOT, timeout=300)
    assert digests(other) == digests(out)


def test_another_seed_gives_other_invoices(samples: tuple[Path, list[SampleEntry]], tmp_path: Path) -> None:
    _, entries = samples
    others = generate_samples(tmp_path, 2, seed=4, invalid_share=0.0)
    assert [e.invoice for e in others] != [e.invoice for e in entries[:2]]


def test_manifest_lists_every_file_and_matches_the_returned_entries(
    samples: tuple[Path, list[SampleEntry]],
) -> None:
    out, entries = samples
    assert load_manifest(out) == entries
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["seed"] == 3 and manifest["count"] == COUNT
    assert sorted(e.path for e in entries) == sorted(p.name for p in out.iterdir() if p.name != MANIFEST_NAME)


def test_all_formats_and_profiles_are_present(samples: tuple[Path, list[SampleEntry]]) -> None:
    _, entries = samples
    assert {e.format for e in entries} >= {
        DocumentKind.FACTURX_PDF,
        DocumentKind.CII_XML,
        DocumentKind.UBL_INVOICE,
        DocumentKind.UBL_CREDITNOTE,
        DocumentKind.PLAIN_PDF,
    }
    pdf_profiles = {e.profile for e in entries if e.format is DocumentKind.FACTURX_PDF}
    assert pdf_profiles >= {
        Profile.MINIMUM,
        Profile.BASIC_WL,
        Profile.BASIC,
        Profile.EN16931,
        Profile.EXTENDED,
    }


def test_files_are_what_the_manifest_says(samples: tuple[Path, list[SampleEntry]]) -> None:
    out, entries = samples
    for entry in entries:
        data = (out / entry.path).read_bytes()
        if entry.error_code is not None and entry.format is not DocumentKind.PLAIN_PDF:
            continue  # broken on purpose: test_sample_validation checks how it is refused
        detection = detect(data)
        assert detection.kind is entry.format, entry.path
        if entry.format is DocumentKind.PLAIN_PDF:
            with pikepdf.open(io.BytesIO(data)) as doc:
                assert not doc.attachments
            continue
        if entry.format is DocumentKind.FACTURX_PDF:
            assert detection.profile is entry.profile
            assert facturx.get_xml_from_pdf(data, check_xsd=False)[1] == detection.xml
        assert detection.xml is not None
        assert parse_invoice(detection.xml).summary() == entry.invoice, entry.path


@pytest.mark.parametrize(("count", "share"), [(20, 0.25), (50, 0.2), (12, 0.5), (7, 0.0), (30, 1.0)])
def test_defect_share_is_respected(count: int, share: float) -> None:
    planned = plan(count, seed=9, invalid_share=share)
    eligible = [p for p in planned if p[0] is not DocumentKind.PLAIN_PDF and p[1] not in LIGHT_PROFILES]
    defective = [p for p in planned if p[2]]
    assert len(defective) == min(round(count * share), len(eligible))
    assert all(p[0] is not DocumentKind.PLAIN_PDF and p[1] not in LIGHT_PROFILES for p in defective)


def test_every_defect_is_handed_out() -> None:
    planned = plan(120, seed=2, invalid_share=0.6)
    assert {p[2] for p in planned if p[2]} == {d.name for d in DEFECTS}


def test_manifest_defects_carry_the_expected_rule_ids(samples: tuple[Path, list[SampleEntry]]) -> None:
    out, entries = samples
    defective = [e for e in entries if e.defect]
    assert len(defective) == round(COUNT * 0.3)
    for entry in defective:
        defect = next(d for d in DEFECTS if d.name == entry.defect)
        context = "ubl" if entry.format in {DocumentKind.UBL_INVOICE, DocumentKind.UBL_CREDITNOTE} else None
        context = context or (entry.profile.value if entry.profile else "")
        assert entry.expected_valid is False
        with_allowance = False
        if entry.error_code is None:
            xml = detect((out / entry.path).read_bytes()).xml
            assert xml is not None
            with_allowance = bool(parse_invoice(xml).allowances_charges)
        assert entry.fatal_rule_ids == defect.expected_ids(context, entry.lang == "fr", with_allowance)
        assert entry.fatal_rule_ids or entry.error_code
    for entry in entries:
        if not entry.defect:
            assert entry.expected_valid == (entry.format is not DocumentKind.PLAIN_PDF)
            assert entry.fatal_rule_ids == []


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid_share"):
        generate_samples(tmp_path, 1, invalid_share=1.5)
    with pytest.raises(ValueError, match="count"):
        generate_samples(tmp_path, -1)


def test_identifiers_are_valid(samples: tuple[Path, list[SampleEntry]]) -> None:
    out, entries = samples
    checked = 0
    for entry in entries:
        if entry.format not in {DocumentKind.CII_XML, DocumentKind.UBL_INVOICE} or entry.error_code:
            continue
        inv = parse_invoice((out / entry.path).read_bytes())
        for party in (inv.seller, inv.buyer):
            if party.vat_id:
                assert vatin.is_valid(party.vat_id), party.vat_id
            if party.siren:
                assert fr_siren.is_valid(party.siren)
            for ident in party.identifiers:
                if ident.scheme == "0009":
                    assert fr_siret.is_valid(ident.value)
        assert inv.payment is not None
        for transfer in inv.payment.credit_transfers:
            assert transfer.account_id is not None
            IBAN(transfer.account_id)  # raises when the IBAN is not valid
        checked += 1
    assert checked >= 3
