"""Bounded reading, inflating and unzipping of untrusted input.

Every function here stops as soon as a bound is passed: it never reads, inflates
or extracts more than the bound plus one chunk, whatever the input claims about
itself.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Protocol

from schemas.errors import ErrorCode, InputRejected, TooLarge

#: Read and inflate in chunks of this many bytes.
CHUNK = 1024 * 1024


class Readable(Protocol):
    """Anything with a ``read(n)`` method that returns bytes (a file, a socket stream...)."""

    def read(self, n: int = ..., /) -> bytes:  # pragma: no cover - protocol
        """Read at most ``n`` bytes."""
        ...


def read_bounded(stream: Readable, max_bytes: int, *, chunk: int = CHUNK) -> bytes:
    """Read a stream to its end, or raise ``TooLarge`` once it passes ``max_bytes``.

    At most ``max_bytes`` plus one chunk is read from the stream.

    >>> import io
    >>> read_bounded(io.BytesIO(b"abc"), 3)
    b'abc'
    """
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    parts: list[bytes] = []
    total = 0
    while True:
        want = min(chunk, max_bytes + 1 - total)
        piece = stream.read(want)
        if not piece:
            return b"".join(parts)
        total += len(piece)
        if total > max_bytes:
            raise TooLarge(
                f"the input is larger than the limit of {max_bytes} bytes",
                code=ErrorCode.TOO_LARGE,
                limit=max_bytes,
            )
        parts.append(piece)


def inflate_bounded(
    raw: bytes,
    max_bytes: int,
    *,
    keep: bool = True,
    code: ErrorCode = ErrorCode.PDF_BOMB,
    what: str = "the stream",
) -> bytes:
    """Inflate zlib (FlateDecode) data, refusing output beyond ``max_bytes``.

    With ``keep=False`` the output is only counted (and ``b""`` returned), so the
    check itself needs one chunk of memory. A truncated stream gives what could
    be inflated, as PDF readers do; a corrupt one raises ``InputRejected``.

    >>> import zlib
    >>> inflate_bounded(zlib.compress(b"x" * 10), 10)
    b'xxxxxxxxxx'
    """
    out: list[bytes] = []
    total = 0
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        out.clear()
        total = 0
        d = zlib.decompressobj(wbits)
        buf = raw
        try:
            while True:
                piece = d.decompress(buf, min(CHUNK, max_bytes + 1 - total))
                total += len(piece)
                if total > max_bytes:
                    raise InputRejected(
                        f"{what} inflates to more than {max_bytes} bytes; decompression was stopped there",
                        code=code,
                        limit=max_bytes,
                    )
                if keep and piece:
                    out.append(piece)
                buf = d.unconsumed_tail
                if d.eof or (not piece and not buf):
                    break
        except zlib.error as exc:
            if wbits == zlib.MAX_WBITS and total == 0:
                continue  # maybe a raw deflate stream without zlib header
            raise InputRejected(
                f"{what} is not valid compressed data: {exc}", code=ErrorCode.PDF_MALFORMED
            ) from None
        return b"".join(out)
    raise InputRejected(
        f"{what} is not valid compressed data", code=ErrorCode.PDF_MALFORMED
    )  # pragma: no cover


def open_zip_bounded(data: bytes, *, max_entries: int, max_total: int) -> list[tuple[str, bytes]]:
    """Extract a zip archive in memory, within an entry count and a total size.

    Sizes declared in the archive are checked first, then enforced while
    extracting (a lying header cannot get past ``max_total``). Raises
    ``InputRejected`` with code ``ZIP_BOMB`` past a bound, ``NOT_AN_INVOICE``
    for a file that is not a readable zip.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise InputRejected(
            f"the file is not a readable zip archive: {exc}", code=ErrorCode.NOT_AN_INVOICE
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise InputRejected(
                f"the zip archive has {len(infos)} entries, over the limit of {max_entries}",
                code=ErrorCode.ZIP_BOMB,
                limit=max_entries,
            )
        declared = sum(max(i.file_size, 0) for i in infos)
        if declared > max_total:
            raise InputRejected(
                f"the zip archive declares {declared} bytes uncompressed, over the limit of {max_total}",
                code=ErrorCode.ZIP_BOMB,
                limit=max_total,
            )
        out: list[tuple[str, bytes]] = []
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            try:
                with archive.open(info) as member:
                    content = read_bounded(member, max_total - total)
            except TooLarge:
                raise InputRejected(
                    f"the zip archive inflates past the limit of {max_total} bytes (at {info.filename!r})",
                    code=ErrorCode.ZIP_BOMB,
                    limit=max_total,
                ) from None
            except (
                zipfile.BadZipFile,
                NotImplementedError,
                RuntimeError,
                ValueError,
                OSError,
                zlib.error,
            ) as exc:
                raise InputRejected(
                    f"the zip entry {info.filename!r} cannot be read: {exc}", code=ErrorCode.NOT_AN_INVOICE
                ) from None
            total += len(content)
            out.append((info.filename, content))
        return out
