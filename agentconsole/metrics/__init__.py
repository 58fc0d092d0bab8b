"""Prometheus and Alertmanager side of the console: panels, alerts, silences (no Textual)."""
