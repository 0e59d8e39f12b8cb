#!/bin/sh
# Start Mosquitto with the repository's config after writing its password file from
# the environment (no password is ever stored in the repository or the image).
#
# The service users come from FOODTRACE_MQTT_*_PASSWORD; senders (labs, supply-chain
# actors) from FOODTRACE_MQTT_SENDERS="id:password id2:password2" and/or a file of
# such lines named by FOODTRACE_MQTT_SENDERS_FILE (e.g. a Docker secret). Every
# sender may publish only under its own id (deploy/mosquitto/acl, `pattern` lines).
#
# The ACL is copied next to the password file, both readable by the broker's user
# only (Mosquitto 2 warns about, and later versions refuse, world-readable ones).
#
# TLS (listeners 8883 and 8884 of mosquitto.conf): the broker's certificate and key
# and the CA that signs labs' client certificates are copied from the mounted secrets
# (mqtt-server.crt, mqtt-server.key, mqtt-clients-ca.crt in FOODTRACE_MQTT_TLS_SOURCE,
# /run/secrets by default) to $MOSQUITTO_CONFIG_DIR/certs, where the config reads
# them; the broker does not start without them (make them with make-certs.sh).
#
# Paths default to the eclipse-mosquitto image's; tests override them:
#   MOSQUITTO_CONFIG_DIR   where passwd and acl are written (/mosquitto/config)
#   FOODTRACE_ACL_SOURCE   the repository's acl (/foodtrace/mosquitto/acl)
#   MOSQUITTO_CONF         the config to run (/foodtrace/mosquitto/mosquitto.conf)
#   FOODTRACE_MQTT_TLS_SOURCE  where the TLS secrets are mounted (/run/secrets)
#   FOODTRACE_MQTT_PREPARE_ONLY=1   write the files and exit (do not start the broker)
set -eu

config_dir="${MOSQUITTO_CONFIG_DIR:-/mosquitto/config}"
acl_source="${FOODTRACE_ACL_SOURCE:-/foodtrace/mosquitto/acl}"
conf="${MOSQUITTO_CONF:-/foodtrace/mosquitto/mosquitto.conf}"
tls_source="${FOODTRACE_MQTT_TLS_SOURCE:-/run/secrets}"

umask 077
mkdir -p "$config_dir"
passwd="$config_dir/passwd"
tmp="$passwd.new"
: > "$tmp"

add_user() {
    case "$1" in
        ''|*:*|*' '*) echo "entrypoint: invalid MQTT user name '$1'" >&2; exit 2 ;;
    esac
    if [ -z "$2" ]; then
        echo "entrypoint: empty password for MQTT user '$1'" >&2
        exit 2
    fi
    mosquitto_passwd -b "$tmp" "$1" "$2"
}

require() {
    eval "value=\${$1:-}"
    if [ -z "$value" ]; then
        echo "entrypoint: $1 is not set (see .env.example)" >&2
        exit 2
    fi
    printf '%s' "$value"
}

add_user foodtrace-ingest "$(require FOODTRACE_MQTT_INGEST_PASSWORD)"
add_user foodtrace-pipeline "$(require FOODTRACE_MQTT_PIPELINE_PASSWORD)"
add_user foodtrace-registry "$(require FOODTRACE_MQTT_REGISTRY_PASSWORD)"
add_user emergency-office "$(require FOODTRACE_MQTT_EMERGENCY_PASSWORD)"
# Synthetic data only: this user may publish for every sender, so it exists only
# when its password is set (never in production).
if [ -n "${FOODTRACE_MQTT_SIMULATOR_PASSWORD:-}" ]; then
    add_user foodtrace-simulator "$FOODTRACE_MQTT_SIMULATOR_PASSWORD"
fi
for pair in ${FOODTRACE_MQTT_SENDERS:-}; do
    add_user "${pair%%:*}" "${pair#*:}"
done
if [ -n "${FOODTRACE_MQTT_SENDERS_FILE:-}" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in ''|'#'*) continue ;; esac
        add_user "${line%%:*}" "${line#*:}"
    done < "$FOODTRACE_MQTT_SENDERS_FILE"
fi

certs="$config_dir/certs"
mkdir -p "$certs"
for pair in mqtt-server.crt:server.crt mqtt-server.key:server.key \
            mqtt-clients-ca.crt:clients-ca.crt; do
    source_file="$tls_source/${pair%%:*}"
    if [ ! -s "$source_file" ]; then
        echo "entrypoint: $source_file is missing or empty: the TLS listeners need the" \
             "broker's certificate, its key and the clients CA (deploy/README.md, TLS;" \
             "deploy/mosquitto/make-certs.sh)" >&2
        rm -f "$tmp"
        exit 2
    fi
    cp "$source_file" "$certs/${pair#*:}"
done

mv "$tmp" "$passwd"
cp "$acl_source" "$config_dir/acl"
chmod 0600 "$passwd" "$config_dir/acl" "$certs"/*
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$passwd" "$config_dir/acl"
    chown -R mosquitto:mosquitto "$certs"
    # the image's data folder, when it is a fresh volume
    if [ -d /mosquitto/data ]; then chown -R mosquitto:mosquitto /mosquitto/data; fi
fi

if [ "${FOODTRACE_MQTT_PREPARE_ONLY:-0}" = 1 ]; then
    exit 0
fi
exec mosquitto -c "$conf"
