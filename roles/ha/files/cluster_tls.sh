#!/bin/sh
# The cluster CA of the control plane (etcd, Patroni's REST API) and the node certificates it signs, with openssl
# alone. A node's key never leaves the node: it sends a certificate request, the controller signs it.
#   cluster_tls.sh ca DIR NAME DAYS
#       (controller) DIR/ca.key (0600) and DIR/ca.crt, made once; a CA you put there is used as it is.
#   cluster_tls.sh request|check KEY CERT CA SAN OWNER DAYS_LEFT
#       (node) prints "valid" when CERT is signed by CA for exactly SAN (e.g. IP:10.0.0.2), matches KEY and lasts
#       DAYS_LEFT more days; else a certificate request for KEY (PEM). request makes KEY first if missing (mode
#       0600, owned by OWNER); check changes nothing and prints "due" instead of a request.
#   cluster_tls.sh sign DIR SAN DAYS <CSR >CERT
#       (controller) the request on stdin signed by DIR's CA for SAN, for TLS servers and clients (etcd's peers
#       are both).
set -eu
umask 077
action=$1
shift
case "$action" in
ca)
    dir=$1 name=$2 days=$3
    mkdir -p "$dir"
    chmod 0700 "$dir"
    if [ ! -f "$dir/ca.crt" ]; then
        openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days "$days" -subj "/CN=$name" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
            -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
        chmod 0644 "$dir/ca.crt"
        echo created
    else
        echo present
    fi
    ;;
request | check)
    key=$1 cert=$2 ca=$3 san=$4 owner=$5 days_left=$6
    if [ ! -f "$key" ]; then
        if [ "$action" = check ]; then
            echo due
            exit 0
        fi
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key" 2>/dev/null
        chown "$owner" "$key"
    fi
    # subjectAltName as openssl prints it ("IP Address:10.0.0.2, DNS:x"), spelt as SAN is.
    names=$(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
        sed -e 's/IP Address:/IP:/g' -e 's/[[:space:]]//g' || true)
    if [ -f "$cert" ] && [ "$names" = "$san" ] \
        && openssl verify -CAfile "$ca" "$cert" >/dev/null 2>&1 \
        && openssl x509 -in "$cert" -noout -checkend $((days_left * 86400)) >/dev/null \
        && [ "$(openssl x509 -in "$cert" -noout -pubkey)" = "$(openssl pkey -in "$key" -pubout)" ]; then
        echo valid
    elif [ "$action" = check ]; then
        echo due
    else
        openssl req -new -key "$key" -subj "/CN=${san#*:}"
    fi
    ;;
sign)
    dir=$1 san=$2 days=$3
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cat >"$work/request.pem"
    printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment \
        extendedKeyUsage=serverAuth,clientAuth "subjectAltName=$san" >"$work/extensions"
    openssl x509 -req -sha256 -days "$days" -in "$work/request.pem" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAserial "$dir/ca.srl" -CAcreateserial -extfile "$work/extensions" 2>/dev/null
    ;;
*)
    echo "usage: $0 ca|request|check|sign ..." >&2
    exit 2
    ;;
esac
