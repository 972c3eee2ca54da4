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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
