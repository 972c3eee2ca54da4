"""From bytes to the canonical invoice: detection, extraction, parsing, generation."""
