// Package esindextest gives integration tests a real Elasticsearch index of their own.
package esindextest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/testenv"
)

// Client returns a client for the Elasticsearch named by SENTISTREAM_TEST_ELASTICSEARCH_URL
// (with the CA and credentials of [testenv.ElasticsearchEnv]), or skips t (fails it under CI)
// when the variable is unset.
func Client(t testing.TB) esindex.Transport {
	t.Helper()
	cfg, err := esindex.LoadClientConfig(testenv.ElasticsearchEnv(t))
	if err != nil {
		t.Fatalf("esindextest: %v", err)
	}
	es, err := esindex.NewClient(cfg)
	if err != nil {
		t.Fatalf("esindex.NewClient: %v", err)
	}
	return es
}

var unsafe = regexp.MustCompile(`[^a-z0-9]+`)

// Name returns an index name unique to t: "test-" plus t.Name() in lower case with other
// characters replaced by '_', plus a random suffix.
func Name(t testing.TB) string {
	t.Helper()
	n := unsafe.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(n) > 60 {
		n = n[:60]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "test-" + n + "-" + hex.EncodeToString(b[:])
}

// New returns an [esindex.Index] with a name of t's own (see [Name]) on the test Elasticsearch.
// The index (and whatever indices its alias points to) and its template are deleted when t ends.
func New(t testing.TB) *esindex.Index {
	t.Helper()
	es := Client(t)
	x := esindex.New(es, Name(t))
	t.Cleanup(func() { Remove(t, es, x.Name()) })
	return x
}

// Remove deletes name (an index, or an alias and its indices), every index name-*, and the
// template named name. Failures are logged, not fatal.
func Remove(t testing.TB, es esindex.Transport, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x := esindex.New(es, name)
	if err := x.DeleteIndex(ctx); err != nil {
		t.Logf("esindextest: delete index %s: %v", name, err)
	}
	// Wildcard deletes are refused (action.destructive_requires_name), so list name-* first.
	var indices map[string]json.RawMessage
	if err := perform(ctx, es, http.MethodGet, "/"+name+"-*/_settings/index.provided_name", &indices); err != nil {
		t.Logf("esindextest: list %s-*: %v", name, err)
	}
	paths := []string{"/_index_template/" + name}
	for ix := range indices {
		paths = append(paths, "/"+ix)
	}
	for _, path := range paths {
		if err := perform(ctx, es, http.MethodDelete, path, nil); err != nil {
			t.Logf("esindextest: DELETE %s: %v", path, err)
		}
	}
}

func perform(ctx context.Context, es esindex.Transport, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return err
	}
	res, err := es.Perform(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return nil
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// Search runs a query-string search (q) or, when q is empty, a JSON query body against the index
// after refreshing it, and returns the keys of the hits.
func Search(t testing.TB, x *esindex.Index, es esindex.Transport, path string) []string {
	t.Helper()
	ctx := t.Context()
	if err := x.Refresh(ctx); err != nil {
		t.Fatalf("refresh %s: %v", x.Name(), err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	res, err := es.Perform(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var out struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	keys := make([]string, 0, len(out.Hits.Hits))
	for _, h := range out.Hits.Hits {
		keys = append(keys, h.ID)
	}
	return keys
}

// Do sends method path with body (nil, or a value encoded as JSON) to es, decodes a JSON answer
// into out (nil to discard it) and returns the status code. It fails t on a transport error.
func Do(t testing.TB, es esindex.Transport, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := es.Perform(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}
