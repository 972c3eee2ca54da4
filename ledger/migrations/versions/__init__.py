"""Alembic revisions, one file per revision, date-prefixed."""
