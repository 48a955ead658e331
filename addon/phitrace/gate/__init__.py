"""Gate: fingerprints, baselines, checks and diffs for CI."""
