"""Create the login users of a deployment; run after `foodtrace db migrate`.

    FOODTRACE_DATABASE_URL=postgresql://OWNER:...@HOST/foodtrace python deploy/db/bootstrap.py

The migrations create the three NOLOGIN group roles (foodtrace_ingest,
foodtrace_pipeline, foodtrace_reader) and grant them exactly what they may do. This
script creates one LOGIN user per role, with the password from the environment,
and makes it a member; run again, it sets the passwords anew (rotation) and
changes nothing else. Passwords are always stored as SCRAM-SHA-256 verifiers
(`password_encryption` is set for the session, whatever the server's default), so
a pg_hba.conf with `scram-sha-256` for host connections accepts them and nothing
weaker is ever stored. With FOODTRACE_API_DB_PASSWORD set it also creates the login
of the EPCIS REST interface (role foodtrace_api, migration 0013); with
AIRFLOW_DB_PASSWORD set, Airflow's metadata database and its owner on the same server.

Environment (passwords are required, user names have defaults):
    FOODTRACE_INGEST_DB_USER / _PASSWORD     ingest_worker   -> foodtrace_ingest
    FOODTRACE_PIPELINE_DB_USER / _PASSWORD   pipeline_worker -> foodtrace_pipeline
    FOODTRACE_READER_DB_USER / _PASSWORD     grafana_reader  -> foodtrace_reader
    FOODTRACE_API_DB_USER / _PASSWORD        epcis_api       -> foodtrace_api (optional)
    AIRFLOW_DB_USER / AIRFLOW_DB_NAME        airflow / airflow (optional)
    AIRFLOW_DB_PASSWORD                      (optional; no Airflow database without it)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class LoginUser:
    name: str
    password: str
    member_of: str | None  # a foodtrace group role, or None (Airflow's owner)


GROUPS = {
    "foodtrace_ingest": ("FOODTRACE_INGEST_DB", "ingest_worker"),
    "foodtrace_pipeline": ("FOODTRACE_PIPELINE_DB", "pipeline_worker"),
    "foodtrace_reader": ("FOODTRACE_READER_DB", "grafana_reader"),
}


# Logins created only when their password is set (the deployment may not run them).
OPTIONAL_GROUPS = {
    "foodtrace_api": ("FOODTRACE_API_DB", "epcis_api"),
}


class BootstrapError(RuntimeError):
    pass


def users_from_env(env: Mapping[str, str]) -> list[LoginUser]:
    users = []
    for group, (prefix, default_name) in GROUPS.items():
        password = env.get(f"{prefix}_PASSWORD", "")
        if not password:
            raise BootstrapError(f"{prefix}_PASSWORD is not set (the password of {group}'s user)")
        users.append(LoginUser(env.get(f"{prefix}_USER", default_name), password, group))
    for group, (prefix, default_name) in OPTIONAL_GROUPS.items():
        password = env.get(f"{prefix}_PASSWORD", "")
        if password:
            users.append(LoginUser(env.get(f"{prefix}_USER", default_name), password, group))
    return users


def ensure_login(conn: psycopg.Connection, user: LoginUser) -> str:
    """Create or update one LOGIN role; return 'created' or 'updated'."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user.name,)).fetchone()
    # DDL takes no bind parameters: the name is an Identifier, the password a Literal
    # (both quoted by psycopg), never pasted into the string.
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL("{} ROLE {} WITH LOGIN PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(user.name), sql.Literal(user.password)
        )
    )
    if user.member_of:
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(user.member_of), sql.Identifier(user.name)
            )
        )
    return "updated" if exists else "created"


def ensure_airflow_database(conn: psycopg.Connection, owner: LoginUser, dbname: str) -> str:
    """Airflow's metadata database, owned by its own login (autocommit connection)."""
    ensure_login(conn, owner)
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
        return "exists"
    conn.execute(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(dbname), sql.Identifier(owner.name)
        )
    )
    return "created"


def bootstrap(url: str, env: Mapping[str, str]) -> dict[str, str]:
    users = users_from_env(env)
    done: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        # The verifier stored by CREATE/ALTER ROLE ... PASSWORD follows this setting:
        # never md5 (or plain), even on a server configured otherwise.
        conn.execute("SET password_encryption = 'scram-sha-256'")
        missing = [
            u.member_of
            for u in users
            if not conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (u.member_of,)
            ).fetchone()
        ]
        if missing:
            raise BootstrapError(
                f"group roles {missing} do not exist: run `foodtrace db migrate` first"
            )
        for user in users:
            done[user.name] = ensure_login(conn, user)
        if env.get("AIRFLOW_DB_PASSWORD"):
            owner = LoginUser(
                env.get("AIRFLOW_DB_USER", "airflow"), env["AIRFLOW_DB_PASSWORD"], None
            )
            dbname = env.get("AIRFLOW_DB_NAME", "airflow")
            done[f"database {dbname}"] = ensure_airflow_database(conn, owner, dbname)
    return done


def main() -> int:
    url = os.environ.get("FOODTRACE_DATABASE_URL")
    if not url:
        print("bootstrap: FOODTRACE_DATABASE_URL (the owner's URL) is not set", file=sys.stderr)
        return 2
    try:
        done = bootstrap(url, os.environ)
    except BootstrapError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
