# sentistream — `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The local stack's addresses (what `make up` starts); override to use servers of your own.
KAFKA_BROKERS ?= 127.0.0.1:9092
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable
ELASTICSEARCH_URL ?= http://127.0.0.1:9200
export KAFKA_BROKERS DATABASE_URL ELASTICSEARCH_URL

# Integration tests read these; `make test` points them at the stack.
TEST_ENV := SENTISTREAM_TEST_KAFKA_BROKERS=$(KAFKA_BROKERS) \
	SENTISTREAM_TEST_DATABASE_URL='$(DATABASE_URL)' \
	SENTISTREAM_TEST_ELASTICSEARCH_URL=$(ELASTICSEARCH_URL)
# Set SKIP_STACK=1 when KAFKA_BROKERS etc. point at servers you run yourself.
SKIP_STACK ?=
GO_TEST_FLAGS ?= -race -shuffle=on -timeout 30m
# Tests that stop shared services (they call testenv.Faults) match this pattern.
FAULT_TESTS ?= Outage|Fault

.PHONY: help up down clean run test unit fmt-check vet lint fuzz bench vuln

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## install (once, cached) and start Kafka, PostgreSQL and Elasticsearch; a no-op when up
	@infra/local/up.sh

down: ## stop exactly what `make up` (and `make run`) started
	@infra/local/down.sh

clean: ## stop everything and delete the stack's data and logs (downloads stay cached)
	@infra/local/clean.sh

run: up ## bring the system up with local defaults and print where everything listens
	@infra/local/run.sh

fmt-check: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: ## go vet
	go vet ./...

unit: ## unit tests only (no services needed; integration tests skip and say why)
	go test $(GO_TEST_FLAGS) ./...

test: ## start the stack if needed, then gofmt check, vet, and every test with -race
	@if [ -z "$(SKIP_STACK)" ]; then infra/local/up.sh; fi
	@$(MAKE) --no-print-directory fmt-check vet
	$(TEST_ENV) go test $(GO_TEST_FLAGS) ./...
	@echo "fault phase: tests that stop and restart services, one package at a time"
	$(TEST_ENV) SENTISTREAM_TEST_FAULTS=1 go test $(GO_TEST_FLAGS) -p 1 -run '$(FAULT_TESTS)' ./...

lint: fmt-check vet ## gofmt, go vet, and golangci-lint when it is installed
	@if command -v golangci-lint >/dev/null; then golangci-lint run ./...; else echo "golangci-lint not installed: ran gofmt and go vet only"; fi

fuzz: ## run each fuzz target for 30s
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s ./internal/event/
	go test -run '^$$' -fuzz '^FuzzScore$$' -fuzztime 30s ./internal/sentiment/

bench: up ## benchmarks against the local stack, then the end-to-end report in reports/
	$(TEST_ENV) go test -run '^$$' -bench . -benchtime 2s ./internal/sentiment/ ./internal/event/ ./internal/batch/
	$(TEST_ENV) go test -run '^$$' -bench 'ScoreHTTP|ColdStart' -benchtime 3s ./functions/score/
	$(TEST_ENV) go test -run '^$$' -bench Insert ./internal/pgstore/
	$(TEST_ENV) go test -run '^$$' -bench IndexHTTP -benchtime 20000x ./functions/index/
	$(TEST_ENV) go test -run '^$$' -bench Reindex -benchtime 1x ./cmd/reindex/
	$(TEST_ENV) go test -run '^$$' -bench Runner -benchtime 200000x ./internal/kafkasource/
	$(TEST_ENV) go test -run '^$$' -bench . -benchtime 500000x ./internal/produce/
	$(TEST_ENV) go test -run '^$$' -bench DashboardAPI -benchtime 30x ./dashboard/
	$(TEST_ENV) SENTISTREAM_BENCH_E2E=1 go test -count=1 -timeout 30m -run '^TestBenchEndToEnd$$' -v ./tests/

vuln: ## govulncheck
	go run golang.org/x/vuln/cmd/govulncheck@latest ./...
