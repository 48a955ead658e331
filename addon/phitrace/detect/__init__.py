"""Detect: health data, identifiers, medical codes, vocabularies and canaries in decoded fields."""
