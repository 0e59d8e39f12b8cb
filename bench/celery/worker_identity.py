"""Airflow's `[core] hostname_callable` for the Celery benchmark's workers.

Both Celery workers run on this one machine, so the default (the FQDN) would give
every task instance the same hostname. Each worker's environment names it in
FOODTRACE_CELERY_WORKER_NAME; its task processes record that name as the task
instance's hostname, which is how the benchmark tells who ran what.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("FOODTRACE_CELERY_WORKER_NAME") or socket.getfqdn()
