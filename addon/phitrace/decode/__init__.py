"""The decoders behind :mod:`phitrace.decode.request`, one format family per module.

- :mod:`~phitrace.decode.budget`: the limits on one decode and the budget
  that enforces them.
- :mod:`~phitrace.decode.compression`: bounded gzip, zlib, raw deflate,
  brotli and zstd.
- :mod:`~phitrace.decode.textcodecs`: percent-encoding, base64, hex and JWT,
  with the plausibility tests that keep them from firing on random IDs.
- :mod:`~phitrace.decode.lzstring`: the lz-string format (base64, URI-safe
  and UTF-16 variants).
- :mod:`~phitrace.decode.protobuf`: string fields of protobuf messages
  without a schema.
- :mod:`~phitrace.decode.envelopes`: containers: forms, multipart bodies,
  Sentry envelopes, newline batches and JSONP-style wrappers.
- :mod:`~phitrace.decode.sniff`: chooses among them by looking at the bytes
  and recurses into every decoded value.
"""
