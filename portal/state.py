"""What the application holds for its whole life: settings, database, archive store, mail, templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from archive.store import Store
from notify.transport import Transport
from schemas.settings import Settings

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def template_environment() -> jinja2.Environment:
    """Jinja2 over ``portal/templates``: autoescaped, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(("html", "jinja")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class PortalState:
    """The application's shared objects (``app.state.portal``)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: Store
    transport: Transport
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    templates: jinja2.Environment = field(default_factory=template_environment)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        """True outside development (``ENCAISSE_ENVIRONMENT=production``)."""
        return self.settings.environment.lower() == "production"
