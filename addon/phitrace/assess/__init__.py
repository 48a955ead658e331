"""Assess: how serious findings are, what links them in a session, which the policy accepts."""
