package score

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
)

// discard is the tests' logger.
var discard = slog.New(slog.DiscardHandler)

// newServer returns a serve.Server running the function's handler over ins on a real listener, and
// the handler.
func newServer(t testing.TB, cfg sink.Config, ins Inserter) (*httptest.Server, *sink.Handler[pgstore.Row]) {
	t.Helper()
	h := New(cfg, ins, nil)
	srv := serve.New(serve.Config{}, discard, nil, nil)
	srv.Handle("POST /", serve.Adapt(discard, h.ServeEvent))
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); h.Close() })
	return ts, h
}
