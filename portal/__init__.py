"""The portal: the FastAPI application of customers, suppliers and staff.

:func:`portal.app.create_app` builds it from the settings; ``encaisse serve``
runs it with uvicorn. Pages are rendered on the server (Jinja2) and work
without JavaScript; routes live in one router per area (``portal.routes``:
``auth``, ``customer``, ``staff``, ``api``, ``ops``). What a user may see is
decided in the query layer (:mod:`ledger.scoping`), never in templates.
"""

from __future__ import annotations
