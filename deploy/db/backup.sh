#!/bin/sh
# Back up foodtrace: its database with pg_dump (custom format: compressed, restored
# selectively and in any order by pg_restore) and the cluster's roles with
# pg_dumpall --roles-only, because roles are cluster-wide and no pg_dump of one
# database contains them, while its GRANTs name them. Role passwords are left out
# (--no-role-passwords): after a restore, deploy/db/bootstrap.py sets them again
# from the secrets, as at first deployment.
#
#   PGHOST=... PGPORT=5432 PGUSER=foodtrace PGPASSWORD=... sh deploy/db/backup.sh DIR [DBNAME]
#
# Any libpq setting works (PG* variables, ~/.pgpass, a service file); DBNAME defaults
# to foodtrace. Connect as the database's owner or a superuser. Writes
# DIR/DBNAME-STAMP.dump and DIR/DBNAME-STAMP.roles.sql (mode 0600), checks that the
# archive reads back, and prints the dump's path. On TimescaleDB nothing else is
# needed for the dump (TimescaleDB's docs: plain pg_dump of the whole database).
set -eu

dir="${1:?usage: backup.sh DIR [DBNAME]}"
db="${2:-foodtrace}"
stamp="${FOODTRACE_BACKUP_STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}"
dump="$dir/$db-$stamp.dump"
roles="$dir/$db-$stamp.roles.sql"

mkdir -p "$dir"
umask 077
pg_dump --format=custom --dbname="$db" --file="$dump.partial"
pg_dumpall --roles-only --no-role-passwords --file="$roles"
pg_restore --list "$dump.partial" >/dev/null   # a readable, complete archive
mv "$dump.partial" "$dump"
echo "$dump"
