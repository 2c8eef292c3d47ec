#!/usr/bin/env bash
# test.sh runs cdcflow's whole test suite: formatting, go vet, staticcheck, the
# architecture test, unit, fuzz-seed and integration tests against real
# PostgreSQL 15, Redis and the kfake broker (started by the harness on free
# ports), and the race detector on the packages that own goroutines.
# It installs what is missing first (scripts/setup.sh). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt: not formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go mod tidy"
# go.mod lists direct dependencies as direct and nothing unused.
if ! go mod tidy -diff; then
	echo "go.mod/go.sum are not tidy: run go mod tidy and commit" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ./...

# Packages that own goroutines run under the race detector; the others run
# without it (it costs 5-20x on the heavy integration data sets).
race_pkgs=()
for p in ./backpressure/... ./flow/... ./sinks/... ./capture/replication/... ./internal/services/...; do
	[ -d "${p%/...}" ] && race_pkgs+=("$p")
done
mapfile -t race_list < <(go list "${race_pkgs[@]}" 2>/dev/null || true)
mapfile -t plain_list < <(go list ./... | grep -vxF -f <(printf '%s\n' "${race_list[@]}" ""))

echo "== go test"
go test -count=1 -timeout 15m "${plain_list[@]}"

if [ ${#race_list[@]} -gt 0 ]; then
	echo "== go test -race"
	go test -count=1 -race -timeout 15m "${race_list[@]}"
fi

# cmd/cdcflow composes the flow (package flow, above) with the views, the
# metrics server and the status line, which own goroutines too; its
# in-process end-to-end tests run them under the race detector (the
# subprocess tests run without it above).
echo "== go test -race (cdcflow's wiring, in process)"
go test -count=1 -race -timeout 10m -run 'TestIntegrationQuickstart|TestProgress|TestFlowStatusLine' ./cmd/cdcflow/
