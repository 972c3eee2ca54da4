"""The archive: a write-once, content-addressed store of original bytes.

This issue provides only the store (:mod:`archive.store`); the next one adds the
hash-chained journal, seals and evidence bundles. Depends on ``schemas`` only.
"""

from __future__ import annotations

from archive.store import ArchiveError, DirectoryStore, Store, store_from_settings

__all__ = ["ArchiveError", "DirectoryStore", "Store", "store_from_settings"]
