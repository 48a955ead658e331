"""Catalogue: tracker signatures, their matcher, lint, test vectors and imported lists."""
