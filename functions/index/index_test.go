package index

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
	"github.com/sentistream/sentistream/internal/sink/sinktest"
)

// fakeBulker records documents and answers each with err(doc).
type fakeBulker struct {
	mu   sync.Mutex
	docs []esindex.Doc
	err  func(esindex.Doc) error
}

func (f *fakeBulker) Bulk(_ context.Context, docs []esindex.Doc) []error {
	f.mu.Lock()
	f.docs = append(f.docs, docs...)
	f.mu.Unlock()
	errs := make([]error, len(docs))
	for i, d := range docs {
		if f.err != nil {
			errs[i] = f.err(d)
		}
	}
	return errs
}

// request reads testdata/name: a request line, headers, a blank line and the body (its final
// newline dropped), as in internal/event's tests.
func request(tb testing.TB, name string) *http.Request {
	tb.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	if _, err := tp.ReadLine(); err != nil {
		tb.Fatal(err)
	}
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(tp.R)
	if err != nil {
		tb.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(bytes.TrimSuffix(body, []byte("\n"))))
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}

var fixedNow = time.Date(2025, 4, 14, 9, 0, 0, 0, time.UTC)

func newTestHandler(t testing.TB, bk Bulker) http.Handler {
	h := New(sink.Config{Now: func() time.Time { return fixedNow }}, bk, nil, func() time.Time { return fixedNow })
	t.Cleanup(h.Close)
	return serve.Adapt(slog.New(slog.DiscardHandler), h.ServeEvent)
}

func TestServeEventDocument(t *testing.T) {
	sub := &fakeBulker{}
	rec := httptest.NewRecorder()
	h := newTestHandler(t, sub)
	h.ServeHTTP(rec, request(t, "kafkasource_wrapped.http"))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", rec.Code, rec.Body)
	}
	want := []esindex.Doc{{
		Key:        "kafka:sentence/2/1234",
		Sentence:   "This is great!",
		CreatedAt:  time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC),
		Scores:     sentiment.New().Score("This is great!"),
		Label:      sentiment.LabelPositive,
		ScoredAt:   fixedNow,
		Provenance: event.Provenance{EventID: "partition:2/offset:1234", EventSource: "/apis/v1/namespaces/sentistream/kafkasources/sentistream-score#sentence", Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true},
	}}
	if diff := cmp.Diff(want, sub.docs); diff != "" {
		t.Errorf("submitted docs (-want +got):\n%s", diff)
	}
}

func TestWriteClassifies(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"indexed", nil, "stored"},
		{"already indexed", esindex.ErrExists, "duplicate"},
		{"parsing failure", &esindex.Error{Status: 400, Type: "document_parsing_exception", Field: "created_at"}, "refused"},
		{"unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "unavailable"},
		{"timeout", context.DeadlineExceeded, "unavailable"},
		{"wrong password", &env.MisconfigError{Reason: "r", Err: errors.New("401")}, "misconfigured"},
		{"unexpected", errors.New("boom"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Writer{&fakeBulker{err: func(esindex.Doc) error { return tt.err }}}
			errs := w.Write(t.Context(), []esindex.Doc{{Key: "a"}})
			if len(errs) != 1 || sinktest.Kind(errs[0]) != tt.want || (tt.err != nil && tt.want != "duplicate" && !errors.Is(errs[0], tt.err)) {
				t.Errorf("Write = %v, want one %s result wrapping %v", errs, tt.want, tt.err)
			}
		})
	}
}
