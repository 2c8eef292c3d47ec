#!/usr/bin/env bash
# setup.sh installs what cdcflow's main job and test suite need on a fresh
# Debian machine, and nothing that is already there: PostgreSQL 15 (server
# binaries in /usr/lib/postgresql/15/bin), redis-server, kcat (librdkafka's
# Kafka client, used by end-to-end tests), Node.js (the AsyncAPI parser check),
# Chromium (the dashboard's browser tests, headless) and Prometheus (promtool
# for the alert-rule tests, and the server the Grafana dashboard test scrapes
# with; no service is started).
# Go modules come through `go` itself. Safe to run again.
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -x /usr/lib/postgresql/15/bin/pg_recvlogical ] || need+=(postgresql-client-15)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [ ${#need[@]} -gt 0 ]; then
	echo "setup: installing ${need[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# Debian's postgresql packages start a cluster on 5432 by default; cdcflow
	# starts its own private servers, so do not create one.
	if printf '%s\n' "${need[@]}" | grep -q '^postgresql-15$'; then
		$sudo mkdir -p /etc/postgresql-common
		[ -f /etc/postgresql-common/createcluster.conf ] ||
			echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
	fi
	# Packages with a daemon (prometheus, redis-server) must not start one:
	# the tests start their own servers on free ports. A policy-rc.d that
	# refuses every start is in place only for the install.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
	fi
	$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	[ -z "$policy" ] || $sudo rm -f "$policy"
fi

command -v go >/dev/null 2>&1 || {
	echo "setup: Go 1.26 is required (https://go.dev/dl/); it is not on PATH" >&2
	exit 1
}
go mod download
