"""The archive: write-once evidence for every step of every document. Depends on ``schemas`` only.

- :mod:`archive.store`: content-addressed, write-once objects (SHA-256 names).
- :mod:`archive.journal`, :mod:`archive.journal_sql`: the hash-chained journal of events.
- :mod:`archive.seal`, :mod:`archive.merkle`, :mod:`archive.signing`, :mod:`archive.timestamp`:
  signed, time-stamped Merkle seals over periods of the journal.
- :mod:`archive.bundle`, :mod:`archive.bundle_verify`: one document's offline-verifiable evidence.
- :mod:`archive.verify`: fixity of the whole archive (changed, missing, untracked).
- :mod:`archive.retention`, :mod:`archive.holds`, :mod:`archive.purge`: retention and legal holds.
- :mod:`archive.bag`: BagIt export and import, for reversibility.
- :mod:`archive.service`: the functions the edges call (journal an event in a session, seal).
"""

from __future__ import annotations

from archive.store import ArchiveError, DirectoryStore, Store, store_from_settings

__all__ = ["ArchiveError", "DirectoryStore", "Store", "store_from_settings"]
