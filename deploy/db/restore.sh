#!/bin/sh
# Restore a backup made by deploy/db/backup.sh into a NEW database (never over an
# existing one: restore beside it, check, then switch the services' URLs).
#
#   PGHOST=... PGPORT=5432 PGUSER=postgres PGPASSWORD=... sh deploy/db/restore.sh DUMP DBNAME
#
# 1. roles: DUMP's .roles.sql (next to it) is replayed first, so that the GRANTs in
#    the dump find foodtrace_ingest, _pipeline, _reader, _api and the login users;
#    roles that already exist (the superuser at least) are reported and kept as
#    they are. Needs a superuser (or CREATEROLE) connection.
# 2. createdb DBNAME from template0.
# 3. TimescaleDB, when the dump holds the extension: CREATE EXTENSION and
#    timescaledb_pre_restore() before, timescaledb_post_restore() after (TimescaleDB's
#    documented procedure; the server must run the same TimescaleDB version as the
#    source). pg_restore runs as one job, stopping at the first error.
# 4. ANALYZE (planner statistics are not in a dump).
# Afterwards, with FOODTRACE_DATABASE_URL naming the new database as its owner:
# `foodtrace db migrate` (brings a backup of an older release up to date; applies
# nothing to a current one) and deploy/db/bootstrap.py, which sets the login
# passwords from the secrets (compose: the db-init service does both).
set -eu

dump="${1:?usage: restore.sh DUMP DBNAME}"
db="${2:?usage: restore.sh DUMP DBNAME}"
roles="${dump%.dump}.roles.sql"

[ -r "$dump" ] || { echo "restore: cannot read $dump" >&2; exit 2; }
case "$db" in
    *[!A-Za-z0-9_]* | "") echo "restore: DBNAME may hold letters, digits and _ only" >&2; exit 2 ;;
esac
if [ -n "$(psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    echo "restore: database $db exists; restore into a new one" >&2
    exit 2
fi

if [ -r "$roles" ]; then
    # Without ON_ERROR_STOP: "role ... already exists" is expected for existing roles.
    psql -X -q -d postgres -f "$roles" >/dev/null 2>"$dump.roles.log" || true
    grep -v 'already exists' "$dump.roles.log" >&2 || true
    rm -f "$dump.roles.log"
fi
for role in foodtrace_ingest foodtrace_pipeline foodtrace_reader; do
    if [ -z "$(psql -X -At -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" ]; then
        echo "restore: role $role does not exist on this server and $roles is missing:" \
            "restore the roles (pg_dumpall --roles-only) first" >&2
        exit 2
    fi
done

createdb --template=template0 "$db"
timescale=false
if pg_restore --list "$dump" | grep -Eq ' EXTENSION - timescaledb( |$)'; then
    timescale=true
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
        -c "CREATE EXTENSION IF NOT EXISTS timescaledb" \
        -c "SELECT timescaledb_pre_restore()" >/dev/null
fi
pg_restore --exit-on-error --dbname="$db" "$dump"
if [ "$timescale" = true ]; then
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SELECT timescaledb_post_restore()" >/dev/null
fi
vacuumdb --analyze-only --quiet --dbname="$db"
echo "restored $dump into $db"
