"""The edge: MQTT in, structural checks, landing tables and quarantine out.

May touch: the broker, landing.* and ops.ingest_stats. Nothing in core.*.
"""
