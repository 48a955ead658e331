"""Catalogue: tracker signatures (model, loader, schema check, matcher), lint, vectors, lists."""
