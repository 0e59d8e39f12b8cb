#!/bin/sh
# Certificates for the broker's TLS listeners (openssl; ECDSA P-256, SHA-256).
#
#   sh deploy/mosquitto/make-certs.sh ca                      # once: the two CAs
#   sh deploy/mosquitto/make-certs.sh server mqtt.example.gov.cn [more names or IPs]
#   sh deploy/mosquitto/make-certs.sh client lab-gz-01        # a lab's certificate
#
# Files go to FOODTRACE_MQTT_TLS_DIR (default deploy/mosquitto/certs, which git
# ignores), each key 0600:
#   ca.crt, ca.key                  signs the broker's certificate; give ca.crt to every
#                                   client (FOODTRACE_MQTT_CA_FILE)
#   clients-ca.crt, clients-ca.key  signs labs' client certificates; the broker trusts
#                                   only this CA on the certificate listener (8884)
#   server.crt, server.key          the broker's certificate, for the names given (plus
#                                   localhost and 127.0.0.1)
#   clients/ID.crt, clients/ID.key  a sender's certificate, CN = its id = its MQTT user
#
# docker-compose.yml mounts server.crt, server.key and clients-ca.crt as secrets; keep
# the two CA keys off the broker host. Validity: FOODTRACE_CERT_DAYS (default 825 for
# server and clients, the CAs 10 years). See deploy/README.md ("TLS") for rotation.
set -eu

dir="${FOODTRACE_MQTT_TLS_DIR:-$(dirname "$0")/certs}"
days="${FOODTRACE_CERT_DAYS:-825}"
umask 077
mkdir -p "$dir"

new_ca() {  # new_ca NAME "CN": a self-signed CA that may sign end certificates only
    if [ -e "$dir/$1.key" ]; then
        echo "make-certs: $dir/$1.key exists; not replacing a CA (move it away first)" >&2
        exit 2
    fi
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/$1.key" -out "$dir/$1.crt" -days 3650 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 0644 "$dir/$1.crt"
    echo "made $dir/$1.crt"
}

sign() {  # sign CA OUT "CN" EXTENSIONS: a key and a certificate signed by CA
    for f in "$dir/$1.crt" "$dir/$1.key"; do
        [ -s "$f" ] || { echo "make-certs: $f is missing: run \`$0 ca\` first" >&2; exit 2; }
    done
    ext="$(mktemp)"
    printf '%s\n' "$4" > "$ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$2.key" -out "$2.csr" -subj "/CN=$3" 2>/dev/null
    openssl x509 -req -in "$2.csr" -CA "$dir/$1.crt" -CAkey "$dir/$1.key" \
        -CAcreateserial -out "$2.crt" -days "$days" -sha256 -extfile "$ext" 2>/dev/null
    rm -f "$2.csr" "$ext"
    chmod 0644 "$2.crt"
    openssl verify -CAfile "$dir/$1.crt" "$2.crt" >/dev/null
    echo "made $2.crt (CN=$3, $days days, signed by $1.crt)"
}

case "${1:-}" in
    ca)
        new_ca ca "foodtrace MQTT server CA"
        new_ca clients-ca "foodtrace MQTT clients CA"
        ;;
    server)
        shift
        names="DNS:localhost,IP:127.0.0.1"
        for name in "$@"; do
            case "$name" in
                *[!0-9.]*) names="$names,DNS:$name" ;;  # anything but digits and dots
                *) names="$names,IP:$name" ;;
            esac
        done
        sign ca "$dir/server" "${1:-localhost}" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$names"
        ;;
    client)
        id="${2:-}"
        case "$id" in
            ''|*[!A-Za-z0-9._-]*)
                echo "make-certs: give the sender id (letters, digits, . _ -), got '$id'" >&2
                exit 2 ;;
            foodtrace-*|emergency-office)
                # the CN is the MQTT user: a service's name would get the service's rights
                echo "make-certs: '$id' is a service user, not a sender: refused" >&2
                exit 2 ;;
        esac
        mkdir -p "$dir/clients"
        sign clients-ca "$dir/clients/$id" "$id" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
        ;;
    *)
        echo "usage: $0 ca | server NAME [NAME...] | client SENDER_ID" >&2
        exit 2 ;;
esac
