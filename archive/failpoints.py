"""Named crash points for the crash tests (RELIABILITY 24): SIGKILL this process at the n-th pass.

``ENCAISSE_ARCHIVE_CRASH_AT="store.fsynced:3"`` kills the process with SIGKILL
the third time the store reaches ``store.fsynced``. Unset (always, outside the
crash tests) a failpoint costs one dictionary lookup. The points, in write order:
``store.written``, ``store.fsynced``, ``store.linked``, ``store.dir_fsynced``,
``journal.appended`` (rows inserted, not committed), ``journal.committed`` (called
by the writer after its commit), ``seal.signed``, ``seal.stored``, ``purge.started``
and ``purge.unlinked``.
"""

from __future__ import annotations

import os
import signal

ENV = "ENCAISSE_ARCHIVE_CRASH_AT"
_passes: dict[str, int] = {}


def failpoint(name: str, *, env: str = ENV) -> None:
    """Die here (SIGKILL, no clean-up) when the crash test asked for this pass of ``name``.

    ``env`` names the variable that asks (the worker's crash points use their own).
    """
    wanted = os.environ.get(env)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
