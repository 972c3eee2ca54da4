"""Online payment providers behind one :class:`~payments.providers.base.PaymentProvider` protocol.

The built-in :mod:`payments.providers.sandbox` has a hosted checkout page served by
the portal and signs its webhooks as the big providers do
(:mod:`payments.providers.signing`). A live card provider is an adapter beside it.
"""

from __future__ import annotations
