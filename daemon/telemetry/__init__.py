"""Telemetry: the event bus, its subscribers (SSE, event log, metrics, alerts).

``schema`` is the only module the TUI may import: keep it free of daemon imports.
"""
