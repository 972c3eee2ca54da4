"""From bytes to the canonical invoice: detection, extraction, parsing, generation."""

from ingest.detect import detect

__all__ = ["detect"]
