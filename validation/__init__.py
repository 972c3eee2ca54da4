"""Validation of an invoice in layers, reported in one ValidationReport."""
