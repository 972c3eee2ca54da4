"""Alembic migrations of the ledger (env.py, versions/)."""
