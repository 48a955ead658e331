"""Capture: turn live flows, HAR captures and flow files into phitrace requests."""
