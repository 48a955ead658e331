"""Performance benchmarks: ``make bench`` or ``python -m tests.bench`` (not collected by pytest)."""
