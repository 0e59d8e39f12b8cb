#!/bin/sh
# One-shot Airflow setup for docker-compose: create/upgrade Airflow's metadata
# database, then write the UI login of the simple auth manager from the
# environment (AIRFLOW_ADMIN_PASSWORD) into the volume the API server reads it from.
set -eu
airflow db migrate
python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "")
if not password:
    raise SystemExit("AIRFLOW_ADMIN_PASSWORD is not set (see .env.example)")
os.makedirs(os.path.dirname(path), exist_ok=True)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"admin": password}, f)
print(f"wrote the Airflow UI login to {path}")
PY
