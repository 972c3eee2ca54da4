"""The portal's routers, one per area: ``ops``, ``auth``, ``customer``, ``staff``, ``api``."""

from __future__ import annotations
