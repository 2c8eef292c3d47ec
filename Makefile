# cdcflow — the README's two commands are `make run` and `make test`.

.PHONY: run build image test vet bench bench-delivery soak fuzz

# The main job: a private PostgreSQL with the reference order database under
# load, captured into Kafka on the embedded broker, live. It builds ./cdcflow
# and runs it (not `go run`, which turns a clean Ctrl-C into a failure).
run:
	scripts/setup.sh
	go build -o cdcflow ./cmd/cdcflow
	./cdcflow quickstart --views

# The cdcflow binary, in the repository root.
build:
	go build -o cdcflow ./cmd/cdcflow

# The container image cdcflow:latest (Dockerfile, FROM scratch): needs a
# Docker daemon; nothing is pulled from a registry.
image:
	scripts/image-context.sh build/image
	docker build -t cdcflow:latest build/image

# The whole test suite (installs what is missing). CI runs exactly this.
test:
	scripts/test.sh

vet:
	go vet ./...

# Benchmarks that print tables; figures go to docs/benchmarks.md.
bench:
	scripts/setup.sh
	go run ./internal/bench/capture

# End to end: pg_recvlogical vs cdcflow run on the embedded broker, and latency.
bench-delivery:
	scripts/setup.sh
	go run ./internal/bench/delivery

# Long memory soak: a 1M-row transaction through capture.
soak:
	CDCFLOW_TEST_SOAK_ROWS=1000000 go test -count=1 -run LargeTransaction -v -timeout 30m ./capture/replication/

# Fuzz each decoder for two minutes (CI runs the committed seeds on every build).
fuzz:
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 2m ./capture/pgoutput/
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 2m ./capture/pgvalue/
	go test -run '^$$' -fuzz FuzzEnvelopeRoundTrip -fuzztime 2m ./pipeline/
