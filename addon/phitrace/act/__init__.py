"""Act: what phitrace does to a flagged flow: sinkhole answers, blocking and redaction."""
