// Package testenv gives integration tests the addresses of the real services they need, and
// decides what happens when one is not configured: a plain `go test` on a laptop skips the test
// and names the variable to set; under CI (CI set to anything) the test fails, so nothing is
// skipped silently. `make test` starts the local stack and sets every variable.
package testenv

import (
	"os"
	"testing"
)

// The variables integration tests read. `make test` sets each to the local stack's address.
const (
	KafkaVar         = "SENTISTREAM_TEST_KAFKA_BROKERS"
	DatabaseVar      = "SENTISTREAM_TEST_DATABASE_URL"
	ElasticsearchVar = "SENTISTREAM_TEST_ELASTICSEARCH_URL"
)

// KafkaBrokers returns the comma-separated seed brokers of a real Kafka, or skips/fails t.
func KafkaBrokers(t testing.TB) string { return require(t, KafkaVar, "127.0.0.1:9092") }

// DatabaseURL returns the URL of a real PostgreSQL database, or skips/fails t.
func DatabaseURL(t testing.TB) string {
	return require(t, DatabaseVar, "postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable")
}

// ElasticsearchURL returns the URL of a real Elasticsearch, or skips/fails t.
func ElasticsearchURL(t testing.TB) string {
	return require(t, ElasticsearchVar, "http://127.0.0.1:9200")
}

// InCI reports whether the tests run under CI, where a missing service is a failure.
func InCI() bool { return os.Getenv("CI") != "" }

func require(t testing.TB, name, example string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	msg := "needs a real service: set " + name + " (e.g. " + name + "=" + example +
		", after `make up`), or run `make test`, which does both"
	if InCI() {
		t.Fatal("CI is set but " + msg)
	}
	t.Skip(msg)
	return ""
}

// FaultsVar enables tests that stop and restart the shared local services (outage tests).
// They would break every other test running at the same time, so `make test` runs them in a
// phase of their own, one package at a time, with this variable set.
const FaultsVar = "SENTISTREAM_TEST_FAULTS"

// Faults skips t unless fault tests are enabled. It is not a silent skip: `make test` always
// runs a serial phase with FaultsVar=1, and the message says how to run the test by hand.
func Faults(t testing.TB) {
	t.Helper()
	if os.Getenv(FaultsVar) != "1" {
		t.Skip("stops and restarts shared services, so it runs in the fault phase of `make test` " +
			"(or by hand: " + FaultsVar + "=1 go test -p 1 -run " + t.Name() + ")")
	}
}
