#!/usr/bin/env bash
# image-context.sh DIR assembles the container image's build context in DIR:
# the Dockerfile, the statically linked cdcflow binary (CGO off, trimmed paths)
# and the host's CA certificate bundle. `make image` builds it with docker;
# deploy/kubernetes's TestImage checks the same files without a daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/image-context.sh DIR}
mkdir -p "$dir"
cp Dockerfile "$dir/Dockerfile"
CGO_ENABLED=0 go build -trimpath -o "$dir/cdcflow" ./cmd/cdcflow
ca=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca" ] || {
	echo "image-context: $ca not found (Debian: apt-get install ca-certificates)" >&2
	exit 1
}
cp "$ca" "$dir/ca-certificates.crt"
