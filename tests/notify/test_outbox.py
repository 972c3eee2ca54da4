"""OutboxTransport: one .eml per Message-ID, written atomically, never twice."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from notify.models import NoticeKind
from notify.render import render_notice
from notify.transport import OutboxTransport, TransientSendError, outbox_name
from tests.notify.factories import notice


def test_the_outbox_writes_once_for_one_message_id(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "var" / "outbox")  # created on first use
    first = render_notice(notice(NoticeKind.INVALID, "fr", report_pdf=b"%PDF-1.7 one"))
    mid = outbox.send(first)
    assert mid == first["Message-ID"]
    files = list(outbox.directory.iterdir())
    assert [f.name for f in files] == [outbox_name(mid)]
    written = files[0].read_bytes()
    assert b"\r\n" in written  # SMTP line endings, as sent on the wire
    parsed = message_from_bytes(written, policy=policy.default)
    assert parsed["Message-ID"] == mid
    assert [a.get_content() for a in parsed.iter_attachments()] == [b"%PDF-1.7 one"]  # type: ignore[attr-defined]

    # the same document and status again (a retried job, even with other content): nothing written
    again = render_notice(notice(NoticeKind.INVALID, "en", report_pdf=b"%PDF-1.7 two"))
    assert again["Message-ID"] == mid
    assert outbox.send(again) == mid
    assert list(outbox.directory.iterdir()) == files
    assert files[0].read_bytes() == written

    # another status of the same document is another notice
    other = render_notice(notice(NoticeKind.REFUSED, "fr"))
    outbox.send(other)
    assert len(list(outbox.directory.iterdir())) == 2


def test_concurrent_senders_of_one_message_write_one_file(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    message = render_notice(notice(NoticeKind.UNREADABLE, "fr"))
    barrier = threading.Barrier(8)
    results: list[str] = []

    def send() -> None:
        barrier.wait()
        results.append(outbox.send(message))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [message["Message-ID"]] * 8
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [outbox_name(message["Message-ID"])]  # and no temporary file left behind


def test_message_ids_cannot_escape_the_outbox(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    message = render_notice(notice(NoticeKind.INVALID, "fr"))
    del message["Message-ID"]
    message["Message-ID"] = "<../../evil/x@example.org>"
    outbox.send(message)
    (written,) = list((tmp_path / "outbox").iterdir())
    assert written.parent == tmp_path / "outbox"
    assert "/" not in written.name
    assert not (tmp_path / "evil").exists()


def test_an_outbox_that_cannot_be_written_is_a_transient_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("not a directory")
    with pytest.raises(TransientSendError, match="outbox"):
        OutboxTransport(blocker).send(render_notice(notice(NoticeKind.INVALID, "fr")))
