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
GO_TEST_FLAGS ?= -race -shuffle=on -count=1 -timeout 30m
# Tests that stop shared services (they call testenv.Faults) match this pattern.
FAULT_TESTS ?= Outage|Fault
# The secure phase: the store tests, the misconfiguration tests and one end-to-end run of
# SECURE_E2E_RECORDS records, against `make up STACK_SECURE=1` (TLS, users, secrets in files).
SECURE_PACKAGES := ./internal/pgstore/ ./internal/esindex/ ./functions/score/ ./functions/index/ \
	./dashboard/ ./cmd/score/ ./cmd/index/ ./cmd/reindex/ ./cmd/reconcile/
SECURE_SYSTEM_TESTS := ^(TestEndToEnd|TestPostgresSmoke|TestElasticsearchSmoke)$$
SECURE_E2E_RECORDS ?= 3000
SECURE_ENV = . .stack/secure/secure.env && SENTISTREAM_TEST_SECURE=1 SENTISTREAM_TEST_KAFKA_BROKERS=$(KAFKA_BROKERS) \
	SENTISTREAM_TEST_DATABASE_URL_FILE=$$DATABASE_URL_FILE SENTISTREAM_TEST_ELASTICSEARCH_URL=$$ELASTICSEARCH_URL \
	SENTISTREAM_TEST_ELASTICSEARCH_CA_FILE=$$ELASTICSEARCH_CA_FILE SENTISTREAM_TEST_ELASTICSEARCH_USERNAME=$$ELASTICSEARCH_USERNAME \
	SENTISTREAM_TEST_ELASTICSEARCH_PASSWORD_FILE=$$ELASTICSEARCH_PASSWORD_FILE SENTISTREAM_E2E_RECORDS=$(SECURE_E2E_RECORDS) \
	DATABASE_URL= ELASTICSEARCH_URL=

.PHONY: help up down clean run test test-secure unit fmt-check vet rules lint fuzz bench bench-drain vuln

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## install (once, cached) and start Kafka, PostgreSQL and Elasticsearch; a no-op when up (STACK_SECURE=1: with TLS and users)
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

rules: ## promtool: check the Prometheus config and rules in infra/observability, and unit-test every alert
	@infra/observability/check.sh

unit: ## unit tests only (no services needed; integration tests skip and say why)
	go test $(GO_TEST_FLAGS) ./...

test: ## start the stack if needed, then gofmt check, vet, and every test with -race: main, secure and fault phases
	@if [ -z "$(SKIP_STACK)" ]; then infra/local/up.sh; fi
	@$(MAKE) --no-print-directory fmt-check vet rules
	@start=$$(date +%s); echo "main phase: every test against the plain stack"; \
	$(TEST_ENV) go test $(GO_TEST_FLAGS) ./... && echo "main phase: $$(($$(date +%s) - start))s"
	@$(MAKE) --no-print-directory test-secure
	@start=$$(date +%s); echo "fault phase: tests that stop and restart services, one package at a time"; \
	$(TEST_ENV) SENTISTREAM_TEST_FAULTS=1 go test $(GO_TEST_FLAGS) -p 1 -run '$(FAULT_TESTS)' ./... && \
	echo "fault phase: $$(($$(date +%s) - start))s"

test-secure: ## the secure phase of `make test`: store, misconfiguration and end-to-end tests over TLS with credentials
	@if [ -z "$(SKIP_STACK)" ]; then STACK_SECURE=1 infra/local/up.sh; fi
	@start=$$(date +%s); echo "secure phase: against the stores with TLS, users and secrets in files"; \
	$(SECURE_ENV) go test $(GO_TEST_FLAGS) $(SECURE_PACKAGES) && \
	$(SECURE_ENV) go test $(GO_TEST_FLAGS) -run '$(SECURE_SYSTEM_TESTS)' ./tests/ && \
	echo "secure phase: $$(($$(date +%s) - start))s"
	@if [ -z "$(SKIP_STACK)" ]; then STACK_SECURE=1 infra/local/down.sh; fi

lint: fmt-check vet ## gofmt, go vet, and golangci-lint when it is installed
	@if command -v golangci-lint >/dev/null; then golangci-lint run ./...; else echo "golangci-lint not installed: ran gofmt and go vet only"; fi

fuzz: ## run each fuzz target for 30s
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s ./internal/event/
	go test -run '^$$' -fuzz '^FuzzBinaryAttributes$$' -fuzztime 30s ./internal/event/
	go test -run '^$$' -fuzz '^FuzzScore$$' -fuzztime 30s ./internal/sentiment/

bench: up bench-drain ## the drain report, benchmarks against the local stack, then the end-to-end report, all in reports/
	$(TEST_ENV) go test -run '^$$' -bench . -benchtime 2s ./internal/sentiment/ ./internal/event/ ./internal/batch/
	$(TEST_ENV) go test -run '^$$' -bench 'ScoreHTTP|ColdStart' -benchtime 3s ./functions/score/
	$(TEST_ENV) go test -run '^$$' -bench Insert ./internal/pgstore/
	$(TEST_ENV) go test -run '^$$' -bench IndexHTTP -benchtime 20000x ./functions/index/
	$(TEST_ENV) go test -run '^$$' -bench Reindex -benchtime 1x ./cmd/reindex/
	$(TEST_ENV) go test -run '^$$' -bench Runner -benchtime 200000x ./internal/kafkasource/
	$(TEST_ENV) go test -run '^$$' -bench . -benchtime 500000x ./internal/produce/
	$(TEST_ENV) go test -run '^$$' -bench DashboardAPI -benchtime 30x ./dashboard/
	$(TEST_ENV) SENTISTREAM_BENCH_E2E=1 go test -count=1 -timeout 30m -run '^TestBenchEndToEnd$$' -v ./tests/

# The drain benchmark's Python (scripts/bench/requirements.txt), in a git-ignored virtualenv.
BENCH_VENV := .build/bench-venv

$(BENCH_VENV)/installed: scripts/bench/requirements.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r scripts/bench/requirements.txt
	touch $@

bench-drain: up $(BENCH_VENV)/installed ## drain 30,000 librdkafka-made records through runner, score and index, and through the seed's consumer: reports/bench-drain.md
	$(TEST_ENV) SENTISTREAM_BENCH_DRAIN=1 SENTISTREAM_BENCH_PYTHON=$(abspath $(BENCH_VENV))/bin/python \
		go test -count=1 -timeout 30m -run '^TestBenchDrain$$' -v ./tests/

vuln: ## govulncheck
	go run golang.org/x/vuln/cmd/govulncheck@latest ./...
