"""The live mitmproxy adapter: options, analysis of flows, enforcement and the live view."""
