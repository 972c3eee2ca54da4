"""Settings, read once from ``ENCAISSE_*`` environment variables (and ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the application; see ``.env.example`` for each one."""

    model_config = SettingsConfigDict(env_prefix="ENCAISSE_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")
    # PostgreSQL URL (postgresql://user@host/db, psycopg 3); unset: SQLite file data_dir/encaisse.db
    database_url: str | None = None
    rulesets_dir: Path | None = None
    default_ruleset: str = "facturx-7.8"
    french_rules: str = "auto"  # auto (seller's country), on, off
    max_upload_bytes: int = 30 * 1024 * 1024
    max_xml_bytes: int = 20 * 1024 * 1024
    max_pdf_bytes: int = 30 * 1024 * 1024
    max_pdf_objects: int = 200_000
    max_stream_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 100_000_000  # an image in a PDF larger than this (width × height) is a bomb
    # SMTP server for notices: smtp://user:pass@host:587?starttls=1 or smtps://host:465;
    # unset: notices are written as .eml files to data_dir/outbox/
    smtp_url: SecretStr | None = None
    smtp_timeout: float = 30.0
    mail_from: str = "Encaisse <factures@localhost>"
    mail_reply_to: str | None = None
    company_name: str = "Encaisse"
    resubmit_url: str | None = None  # where suppliers send corrected invoices (portal upload page)
    # Redis for the job queue (redis://host:6379/0); unset: jobs run inline in the caller's process
    redis_url: SecretStr | None = None
    queue_name: str = "encaisse"
    job_timeout: int = 600  # seconds one job may run before RQ stops it
    # what we accept from suppliers: a YAML rule set (encaisse rules check); a rule set of scope
    # "suppliers" stored in the database (encaisse rules import) takes precedence
    supplier_rules: Path | None = None
    # archive: RFC 3161 time-stamping authority for seals (unset: seals are signed but not time-stamped)
    tsa_url: str | None = None
    tsa_timeout: float = 10.0
    tsa_ca_file: Path | None = None  # PEM of the TSA's root certificate(s), copied into evidence bundles
    archive_key_file: Path | None = None  # Ed25519 seal key; default data_dir/keys/archive-ed25519.pem


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
