#!/usr/bin/env bash
# Downloads the Amazon RDS CA bundle (all regions) into certs/rds-global-bundle.pem, the file the
# images and NODE_EXTRA_CA_CERTS point at. The bundle is public but not committed: fetch it before
# building images (build-and-push.sh does when it is missing).
#
#   bash certs/fetch-rds-ca.sh [--region eu-west-1]   # a region's bundle instead of the global one
set -euo pipefail
cd "$(dirname "$0")"

url='https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem'
if [[ "${1:-}" == --region && -n "${2:-}" ]]; then
  url="https://truststore.pki.rds.amazonaws.com/${2}/${2}-bundle.pem"
fi

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 "$url" -o "$tmp"

count="$(grep -c -- '-----BEGIN CERTIFICATE-----' "$tmp" || true)"
if [[ "$count" -lt 1 ]]; then
  echo "error: $url did not return PEM certificates" >&2
  exit 1
fi
# Every certificate must parse; a truncated download is refused.
if command -v openssl >/dev/null 2>&1; then
  openssl storeutl -noout -certs "$tmp" >/dev/null
fi
mv "$tmp" rds-global-bundle.pem
trap - EXIT
chmod 0644 rds-global-bundle.pem
echo "certs/rds-global-bundle.pem: ${count} certificates from ${url}"
