"""Thin roles wiring core decisions to the DNS and Kubernetes adapters."""
