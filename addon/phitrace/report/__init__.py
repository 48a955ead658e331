"""Report: findings as HTML, machine formats and evidence bundles."""
