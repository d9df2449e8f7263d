#!/usr/bin/env bash
# rollbot: throwaway TLS material for the tests (tests/scenarios/009-tls.json,
# 010-tls-untrusted.json; tests/FAKE_SLACK.md, "TLS").
#
#   tests/certs.sh OUTDIR
#
# Writes into OUTDIR (created if needed):
#   ca.pem, ca.key            a throwaway certificate authority (the bot's SLACK_CA_FILE)
#   server.pem, server.key    a server certificate signed by that CA for IP:127.0.0.1 and
#                             DNS:localhost (fake_slack --tls-cert/--tls-key)
#   untrusted.pem, untrusted.key
#                             a self-signed certificate for the same names, which no CA the
#                             bot is given vouches for: the bot must refuse it
#
# Idempotent: when all six files exist and are newer than this script, it does nothing.
# Otherwise it makes all of them again (the server certificate needs its CA), in a temporary
# folder first, and moves them into place with ca.pem last, so that a Makefile rule whose
# target is OUTDIR/ca.pem never sees half a set. EC P-256 keys: quick, no prompts.
# Nothing here is secret: the keys are made for one test run on 127.0.0.1.
set -euo pipefail

if [[ $# -ne 1 || -z $1 ]]; then
	echo "usage: tests/certs.sh OUTDIR" >&2
	exit 2
fi
out=$1
self=${BASH_SOURCE[0]}
files=(ca.key server.key server.pem untrusted.key untrusted.pem ca.pem)

fresh=1
for f in "${files[@]}"; do
	if [[ ! -s $out/$f || $self -nt $out/$f ]]; then
		fresh=0
		break
	fi
done
if ((fresh)); then
	exit 0
fi

if ! command -v openssl >/dev/null 2>&1; then
	echo "tests/certs.sh: the openssl command is not installed (Debian: apt-get install openssl)" >&2
	exit 1
fi

mkdir -p "$out"
umask 077
tmp=$(mktemp -d "$out/.certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

days=3650
names="subjectAltName=IP:127.0.0.1,DNS:localhost"
leaf_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
$names"

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

serial() {
	echo "0x$(openssl rand -hex 16)"
}

# The CA.
newkey "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" -set_serial "$(serial)" \
	-subj "/O=rollbot tests/CN=rollbot test CA" \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-addext "subjectKeyIdentifier=hash" \
	-out "$tmp/ca.pem"

# The server certificate, signed by the CA.
newkey "$tmp/server.key"
openssl req -new -key "$tmp/server.key" -subj "/O=rollbot tests/CN=127.0.0.1" \
	-out "$tmp/server.csr"
printf '%s\n' "$leaf_ext" >"$tmp/server.ext"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
	-set_serial "$(serial)" -sha256 -days "$days" -extfile "$tmp/server.ext" \
	-out "$tmp/server.pem" 2>/dev/null

# The certificate nobody vouches for: self-signed, same names.
newkey "$tmp/untrusted.key"
openssl req -x509 -new -key "$tmp/untrusted.key" -sha256 -days "$days" -set_serial "$(serial)" \
	-subj "/O=not rollbot/CN=127.0.0.1" \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "keyUsage=critical,digitalSignature,keyEncipherment" \
	-addext "extendedKeyUsage=serverAuth" \
	-addext "$names" \
	-out "$tmp/untrusted.pem"

openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" >/dev/null
if openssl verify -CAfile "$tmp/ca.pem" "$tmp/untrusted.pem" >/dev/null 2>&1; then
	echo "tests/certs.sh: untrusted.pem verifies against ca.pem" >&2
	exit 1
fi

# Certificates are public; keys stay 0600.
chmod 0644 "$tmp/ca.pem" "$tmp/server.pem" "$tmp/untrusted.pem"
for f in "${files[@]}"; do
	mv -f "$tmp/$f" "$out/$f"
done
