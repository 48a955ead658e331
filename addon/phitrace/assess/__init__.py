"""Assess: how serious a request's findings are, and what links them across a session."""
