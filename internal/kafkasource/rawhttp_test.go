package kafkasource

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newRawFor(t *testing.T, h http.HandlerFunc) (*rawClient, *httptest.Server, *atomic.Int64) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/fn?x=1")
	if err != nil {
		t.Fatal(err)
	}
	c := newRawClient(u, 4)
	t.Cleanup(c.close)
	return c, srv, &conns
}

func testEvent() *outEvent {
	return &outEvent{header: http.Header{"Ce-Id": {"1"}, "Content-Type": {"application/json"}}, body: []byte(`{"sentence":"hi"}`)}
}

func TestRawClientRequestAndReuse(t *testing.T) {
	var got atomic.Pointer[http.Request]
	var body atomic.Value
	c, _, conns := newRawFor(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r)
		body.Store(string(b))
		w.WriteHeader(http.StatusAccepted)
	})
	for range 3 {
		if r := c.post(t.Context(), testEvent(), 5*time.Second); !r.delivered || r.code != http.StatusAccepted {
			t.Fatalf("post = %+v, want delivered 202", r)
		}
	}
	r := got.Load()
	if r.Method != http.MethodPost || r.URL.RequestURI() != "/fn?x=1" || r.Header.Get("Ce-Id") != "1" ||
		r.Header.Get("Content-Type") != "application/json" || body.Load() != `{"sentence":"hi"}` {
		t.Errorf("server saw %s %s headers %v body %v", r.Method, r.URL.RequestURI(), r.Header, body.Load())
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 sequential posts used %d connections, want 1", n)
	}
}

func TestRawClientErrorBodyAndInformational(t *testing.T) {
	c, _, _ := newRawFor(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, strings.Repeat("x", 5000))
	})
	r := c.post(t.Context(), testEvent(), 5*time.Second)
	if r.delivered || r.code != http.StatusBadRequest || len(r.body) != errorDataMax {
		t.Errorf("post = delivered %v code %d body %d bytes, want 400 with %d bytes", r.delivered, r.code, len(r.body), errorDataMax)
	}
}

func TestRawClientStaleConnection(t *testing.T) {
	c, srv, conns := newRawFor(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if r := c.post(t.Context(), testEvent(), 5*time.Second); !r.delivered {
		t.Fatalf("first post = %+v", r)
	}
	srv.CloseClientConnections() // the idle keep-alive connection is now closed by the server
	if r := c.post(t.Context(), testEvent(), 5*time.Second); !r.delivered {
		t.Fatalf("post on a stale connection = %+v, want delivered after one redial", r)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
}

func TestRawClientConnectionClose(t *testing.T) {
	c, _, conns := newRawFor(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusOK)
	})
	for range 2 {
		if r := c.post(t.Context(), testEvent(), 5*time.Second); !r.delivered {
			t.Fatalf("post = %+v", r)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("connections = %d, want 2 (Connection: close is honoured)", n)
	}
}

func TestRawClientTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	c, _, _ := newRawFor(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	start := time.Now()
	if r := c.post(t.Context(), testEvent(), 100*time.Millisecond); r.err == nil || r.delivered {
		t.Errorf("post past its timeout = %+v, want a transport error", r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result, 1)
	go func() { done <- c.post(ctx, testEvent(), time.Minute) }()
	cancel()
	select {
	case r := <-done:
		if r.err == nil {
			t.Errorf("cancelled post = %+v, want an error", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled post did not return")
	}
	if time.Since(start) > 10*time.Second {
		t.Error("timeouts took too long")
	}
	if _, err := net.Dial("tcp", "127.0.0.1:1"); err == nil {
		t.Skip("port 1 answers; skipping the refused-connection case")
	}
	u, _ := url.Parse("http://127.0.0.1:1/")
	if r := newRawClient(u, 1).post(t.Context(), testEvent(), time.Second); r.err == nil {
		t.Errorf("post to a closed port = %+v, want a transport error", r)
	}
}

// TestRawClientNoResendAfterWrite: a sink that reads the whole request and then drops the
// connection may have processed the event. The client reports the attempt as failed and never
// resends it by itself, so the delivery policy retries it, with its backoff, counted.
func TestRawClientNoResendAfterWrite(t *testing.T) {
	var requests atomic.Int64
	c, _, _ := newRawFor(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusNoContent) // the first request leaves a keep-alive connection
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as a crashing sink gives
		}
		_ = conn.Close()
	})
	if r := c.post(t.Context(), testEvent(), 5*time.Second); !r.delivered {
		t.Fatalf("first post = %+v", r)
	}
	r := c.post(t.Context(), testEvent(), 5*time.Second)
	if r.delivered || r.err == nil {
		t.Errorf("post to a sink that dropped the connection after reading = %+v, want a failed attempt", r)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the sink got %d requests, want 2: the second must not be resent", n)
	}
}
