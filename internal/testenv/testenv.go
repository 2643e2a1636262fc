// Package testenv gives integration tests the addresses of the real services they need, and
// decides what happens when one is not configured: a plain `go test` on a laptop skips the test
// and names the variable to set; under CI (CI set to anything) the test fails, so nothing is
// skipped silently. `make test` starts the local stack and sets every variable.
package testenv

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The variables integration tests read. `make test` sets each to the local stack's address. The
// database URL may come from a file instead (DatabaseVar+"_FILE"), and the Elasticsearch client
// settings beside the URL from SENTISTREAM_TEST_ + any variable esindex.LoadClientConfig reads
// (SENTISTREAM_TEST_ELASTICSEARCH_CA_FILE, ..._USERNAME, ..._PASSWORD_FILE, ...): the secure
// phase of `make test` runs the same tests over TLS with credentials that way.
const (
	KafkaVar         = "SENTISTREAM_TEST_KAFKA_BROKERS"
	DatabaseVar      = "SENTISTREAM_TEST_DATABASE_URL"
	ElasticsearchVar = "SENTISTREAM_TEST_ELASTICSEARCH_URL"
)

// prefix turns a variable a binary reads into the one tests read.
const prefix = "SENTISTREAM_TEST_"

// KafkaBrokers returns the comma-separated seed brokers of a real Kafka, or skips/fails t.
func KafkaBrokers(t testing.TB) string { return require(t, KafkaVar, "127.0.0.1:9092") }

// DatabaseURL returns the URL of a real PostgreSQL database (from DatabaseVar, or the file
// named by DatabaseVar_FILE), or skips/fails t.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	if path := os.Getenv(DatabaseVar + "_FILE"); path != "" && os.Getenv(DatabaseVar) == "" {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s_FILE: %v", DatabaseVar, err)
		}
		return strings.TrimRight(string(b), "\r\n")
	}
	return require(t, DatabaseVar, "postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable")
}

// ElasticsearchURL returns the URL of a real Elasticsearch, or skips/fails t.
func ElasticsearchURL(t testing.TB) string {
	return require(t, ElasticsearchVar, "http://127.0.0.1:9200")
}

// ElasticsearchEnv returns the test Elasticsearch's client settings as the variables a binary
// reads (ELASTICSEARCH_URL, ELASTICSEARCH_CA_FILE, ...), for esindex.LoadClientConfig; it skips
// or fails t when ElasticsearchVar is unset.
func ElasticsearchEnv(t testing.TB) func(string) string {
	t.Helper()
	ElasticsearchURL(t)
	return func(name string) string {
		if !strings.HasPrefix(name, "ELASTICSEARCH_") {
			return ""
		}
		return os.Getenv(prefix + name)
	}
}

// ElasticsearchEnviron returns the test Elasticsearch's client settings as "NAME=value" entries
// for a process a test starts (ELASTICSEARCH_URL, and the CA, user and password files when the
// tests have them), or skips/fails t.
func ElasticsearchEnviron(t testing.TB) []string {
	t.Helper()
	ElasticsearchURL(t)
	var env []string
	for _, kv := range os.Environ() {
		if name, ok := strings.CutPrefix(kv, prefix+"ELASTICSEARCH_"); ok {
			env = append(env, "ELASTICSEARCH_"+name)
		}
	}
	return env
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

// SecureVar marks the secure phase of `make test`: the stores then run with TLS and credentials
// (`make up STACK_SECURE=1`), and the test variables carry the CA and credential files.
const SecureVar = "SENTISTREAM_TEST_SECURE"

// Secure skips t unless the tests run against the secure stack. It is not a silent skip: `make
// test` always runs a secure phase with SecureVar=1, and the message says how to run t by hand.
func Secure(t testing.TB) {
	t.Helper()
	if os.Getenv(SecureVar) != "1" {
		t.Skip("needs the stores with TLS and credentials, so it runs in the secure phase of `make test` " +
			"(or by hand: make up STACK_SECURE=1, then the variables `make test` sets in that phase, and " + SecureVar + "=1)")
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for a server a test starts.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// Buffer collects what a server started by a test logs; it is safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
