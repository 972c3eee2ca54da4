from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from archive.journal import EntryKind, Event, FileJournal, JournalError
from archive.seal import seal_period
from archive.signing import (
    SealKeyError,
    default_key_path,
    key_id,
    load_or_create_key,
    load_public_pem,
    public_pem,
)
from archive.timestamp import HttpTimestamper, TimestampError, timestamper_from_settings, verify_timestamp
from archive.verify import journal_records, verify_chain, verify_seals
from schemas.settings import Settings
from tests.archive.tsa import LocalTSA


def test_key_is_created_once_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "archive-ed25519.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_or_create_key(path)
    assert key_id(again) == key_id(key)
    assert key_id(load_public_pem(public_pem(key))) == key_id(key)
    path.write_bytes(b"not a key")
    with pytest.raises(SealKeyError):
        load_or_create_key(path)


def test_settings_name_the_key_and_the_tsa(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, tsa_url="http://127.0.0.1:1/tsa")
    assert default_key_path(settings) == tmp_path / "keys" / "archive-ed25519.pem"
    assert isinstance(timestamper_from_settings(settings), HttpTimestamper)
    assert timestamper_from_settings(Settings(data_dir=tmp_path)) is None


def test_periods_follow_each_other_and_nothing_new_means_no_seal(file_journal: FileJournal, seal_key) -> None:
    assert seal_period(file_journal, key=seal_key) is None
    file_journal.append_many([Event(EntryKind.RECEIVED, f"s{i}", "system") for i in range(5)])
    first = seal_period(file_journal, key=seal_key, to_seq=3)
    second = seal_period(file_journal, key=seal_key)
    assert seal_period(file_journal, key=seal_key) is None
    assert first is not None and second is not None
    assert (first.fields["from_seq"], first.fields["to_seq"]) == (1, 3)
    assert (second.fields["from_seq"], second.fields["to_seq"], second.fields["prev_seal"]) == (
        4,
        5,
        first.hash,
    )
    hashes, problem = verify_chain(journal_records(file_journal))
    assert problem is None
    assert verify_seals(file_journal.seals(), hashes, public_key=seal_key.public_key()) == []


def test_concurrent_sealing_never_overlaps(sql_journal, seal_key) -> None:
    sql_journal.append_many([Event(EntryKind.RECEIVED, f"s{i}", "system") for i in range(20)])
    errors: list[BaseException] = []

    def seal() -> None:
        try:
            seal_period(sql_journal, key=seal_key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=seal) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    seals = sql_journal.seals()
    assert len(seals) >= 1
    hashes, _ = verify_chain(journal_records(sql_journal))
    assert verify_seals(seals, hashes, public_key=seal_key.public_key()) == []
    # a loser of the race is refused (its seal number is taken) or finds nothing new; never stored twice
    assert all(isinstance(e, JournalError) for e in errors), errors
    assert seals[-1].fields["to_seq"] == 20


def test_seal_with_timestamp_and_wrong_root(file_journal, seal_key, tsa) -> None:
    file_journal.append(Event(EntryKind.RECEIVED, "s", "system"))
    seal = seal_period(file_journal, key=seal_key, timestamper=HttpTimestamper(tsa.url))
    assert seal is not None and seal.timestamp is not None
    verify_timestamp(seal.timestamp, seal.body, [tsa.ca_cert])
    with pytest.raises(TimestampError):
        verify_timestamp(seal.timestamp, seal.body, [LocalTSA().ca_cert])  # another authority's root


def test_unreachable_tsa_is_an_error(file_journal, seal_key) -> None:
    file_journal.append(Event(EntryKind.RECEIVED, "s", "system"))
    with pytest.raises(TimestampError, match="unreachable"):
        seal_period(
            file_journal, key=seal_key, timestamper=HttpTimestamper("http://127.0.0.1:9/tsa", timeout=2)
        )
    assert file_journal.seals() == []
