"""The edge: MQTT in, structural checks, landing tables and quarantine out.

May touch: the broker, landing.*, ops.ingest_stats, and the group's own bookkeeping
(ops.ingest_workers, ops.ingest_takeovers). Nothing in core.*.
"""
