"""phitrace: catch health data leaking to third-party trackers, as a mitmproxy addon."""

__version__ = "0.1.0"
