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
