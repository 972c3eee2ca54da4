"""Payments: bank statements in (camt.053/054, MT940, CSV), matched to open invoices.

Depends on ``schemas`` and ``ledger`` only, plus ``ingest.safexml`` (the one
hardened XML parser module: camt files are untrusted XML).
"""
