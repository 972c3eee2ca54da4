"""Settings, read once from ``ENCAISSE_*`` environment variables (and ``.env``)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    # portal (encaisse serve)
    environment: str = "development"  # development or production (production: /docs needs a login)
    public_url: str = "http://localhost:8000"  # the portal's address, for links in e-mails
    # dunning: a YAML file of scenarios overriding the defaults (examples/dunning/scenarios.yaml)
    dunning_scenarios: Path | None = None
    session_ttl_minutes: int = 480  # a signed-in session ends after this, whatever happens
    login_link_ttl_minutes: int = 15  # an e-mailed login link works once, within this
    login_failures_per_minute: int = 10  # per address: the next attempt within the minute gets 429
    login_failures_per_minute_ip: int = 100  # per client IP, any addresses
    max_request_bytes: int = 32 * 1024 * 1024  # larger request bodies are refused (413) before parsing
    max_form_field_bytes: int = 64 * 1024  # a longer field in a form is refused (400)
    # payment matching (encaisse bank match): confidence from which a match is applied without review,
    # and the largest unexplained shortfall written off (rounding) or excess kept as a customer credit
    match_auto_threshold: float = Field(default=0.9, ge=0, le=1)
    match_writeoff_tolerance: Decimal = Field(default=Decimal("2.00"), ge=0)
    # pay by transfer (portal): our account, shown with the invoice's RF reference and an EPC QR code;
    # company_name above is the beneficiary's name
    company_iban: str | None = None
    company_bic: str | None = None
    # online payment: the provider (sandbox: built in, hosted checkout served by the portal) and the
    # secret its webhooks are signed with (unset: a random one per process, fine for the sandbox only)
    payment_provider: Literal["sandbox"] = "sandbox"
    payment_webhook_secret: SecretStr | None = None
    # receivables alerts (encaisse receivables): expected cash-in over the next N days (whole weeks of
    # the forecast) below the threshold (unset: no such alert); unpaid invoices whose limitation period
    # ends within N months
    alert_cash_in_days: int = Field(default=30, ge=1, le=84)
    alert_cash_in_threshold: Decimal | None = Field(default=None, ge=0)
    alert_limitation_months: int = Field(default=6, ge=0, le=120)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
