package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// waitFor is how long a test waits for something that should happen at once.
const waitFor = 10 * time.Second

// recv returns the value from ch, failing t if none arrives within waitFor.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// result is the outcome of an HTTP request made in another goroutine.
type result struct {
	status int
	body   string
	err    error
}

// do sends a request with a fresh connection and reads the whole answer.
func do(ctx context.Context, method, url string) result {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return result{err: err}
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: string(b), err: err}
}

// poll calls cond until it reports true, failing t after waitFor.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestMaxBodyBytes(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantMBE    bool
	}{
		{"at the limit", strings.Repeat("x", 10), 204, false},
		{"over the limit", strings.Repeat("x", 11), 413, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotErr error
			s := New(Config{MaxBodyBytes: 10}, discard, NewRegistry(), nil)
			s.Handle("POST /", Adapt(discard, func(w http.ResponseWriter, r *http.Request) error {
				if _, err := io.ReadAll(r.Body); err != nil {
					gotErr = err
					return fmt.Errorf("read body: %w", err)
				}
				w.WriteHeader(http.StatusNoContent)
				return nil
			}))
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(tt.body)))
			if rec.Code != tt.wantStatus {
				t.Errorf("POST %d bytes = %d, want %d", len(tt.body), rec.Code, tt.wantStatus)
			}
			var mbe *http.MaxBytesError
			if got := errors.As(gotErr, &mbe); got != tt.wantMBE {
				t.Fatalf("handler got error %v; is *http.MaxBytesError = %v, want %v", gotErr, got, tt.wantMBE)
			}
			if tt.wantMBE && mbe.Limit != 10 {
				t.Errorf("MaxBytesError.Limit = %d, want 10", mbe.Limit)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := NewRegistry()
	s := New(Config{}, discard, reg, nil)
	s.Handle("POST /score", Adapt(discard, func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Query().Get("fail") != "" {
			return Errorf(503, "store unavailable", nil)
		}
		return nil
	}))
	s.Handle("/any", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	New(Config{}, discard, reg, nil) // a second server on the same registry shares the series

	for _, target := range []string{"/score", "/score", "/score?fail=1"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, target, nil))
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "PURGE", "/any", nil))
	get(t, s, "/healthz")
	get(t, s, "/readyz")

	m := get(t, s, "/metrics")
	if m.Code != 200 {
		t.Fatalf("GET /metrics = %d, want 200", m.Code)
	}
	body := m.Body.String()
	for _, want := range []string{
		`sentistream_http_requests_total{code="200",method="POST",route="POST /score"} 2`,
		`sentistream_http_requests_total{code="503",method="POST",route="POST /score"} 1`,
		`sentistream_http_requests_total{code="200",method="other",route="/any"} 1`,
		`sentistream_http_request_duration_seconds_count{method="POST",route="POST /score"} 3`,
		`sentistream_http_requests_in_flight 0`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	for _, unwanted := range []string{`route="GET /healthz"`, `route="GET /readyz"`} {
		if strings.Contains(body, unwanted) {
			t.Errorf("GET /metrics counts a built-in route: %q", unwanted)
		}
	}
}

func TestRunListenerGracefulShutdown(t *testing.T) {
	tests := []struct {
		name       string
		drainDelay time.Duration
	}{
		{"no drain delay", 0},
		{"drain delay", time.Minute}, // the test ends the delay itself
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := New(Config{DrainDelay: tt.drainDelay}, discard, NewRegistry(), nil)
			drainStarted, drainOver := make(chan time.Duration, 1), make(chan time.Time)
			s.drainWait = func(d time.Duration) <-chan time.Time { drainStarted <- d; return drainOver }

			entered, release := make(chan struct{}), make(chan struct{})
			s.Handle("GET /slow", Adapt(discard, func(w http.ResponseWriter, r *http.Request) error {
				close(entered)
				<-release
				_, err := io.WriteString(w, "done")
				return err
			}))

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			runErr := make(chan error, 1)
			go func() { runErr <- s.RunListener(ctx, ln) }()
			base := "http://" + ln.Addr().String()
			if r := do(t.Context(), "GET", base+"/readyz"); r.err != nil || r.status != 200 {
				t.Fatalf("GET /readyz before shutdown = %d, %v; want 200", r.status, r.err)
			}
			if got := s.Addr(); got == nil || got.String() != ln.Addr().String() {
				t.Errorf("Addr() = %v, want %v", got, ln.Addr())
			}
			slow := make(chan result, 1)
			go func() { slow <- do(t.Context(), "GET", base+"/slow") }()
			recv(t, entered, "the slow request to reach its handler")

			cancel()
			if tt.drainDelay > 0 {
				if d := recv(t, drainStarted, "the drain delay to start"); d != tt.drainDelay {
					t.Errorf("drain delay = %v, want %v", d, tt.drainDelay)
				}
				r := do(t.Context(), "GET", base+"/readyz")
				if r.err != nil || r.status != 503 || r.body != `{"error":"shutting down"}`+"\n" {
					t.Errorf("GET /readyz while draining = %d %q, %v; want 503 shutting down", r.status, r.body, r.err)
				}
				if r := do(t.Context(), "GET", base+"/healthz"); r.err != nil || r.status != 200 {
					t.Errorf("GET /healthz while draining = %d, %v; want 200", r.status, r.err)
				}
				close(drainOver)
			}

			poll(t, "new connections to be refused", func() bool {
				var d net.Dialer
				c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
				if err != nil {
					return true
				}
				c.Close()
				return false
			})
			select {
			case err := <-runErr:
				t.Fatalf("RunListener returned %v before the in-flight request finished", err)
			default:
			}

			close(release)
			if r := recv(t, slow, "the slow request"); r.err != nil || r.status != 200 || r.body != "done" {
				t.Errorf("in-flight GET /slow = %d %q, %v; want 200 \"done\"", r.status, r.body, r.err)
			}
			if err := recv(t, runErr, "RunListener to return"); err != nil {
				t.Errorf("RunListener = %v, want nil", err)
			}
		})
	}
}

func TestRunListenerShutdownTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{ShutdownTimeout: 50 * time.Millisecond}, discard, NewRegistry(), nil)
	entered, release := make(chan struct{}), make(chan struct{})
	handlerDone := make(chan struct{})
	s.Handle("GET /stuck", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		close(entered)
		<-release
	}))
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- s.RunListener(ctx, ln) }()
	stuck := make(chan result, 1)
	go func() { stuck <- do(t.Context(), "GET", "http://"+ln.Addr().String()+"/stuck") }()
	recv(t, entered, "the request to reach its handler")

	cancel()
	if err := recv(t, runErr, "RunListener to return"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunListener with a stuck request = %v, want an error wrapping %v", err, context.DeadlineExceeded)
	}
	if r := recv(t, stuck, "the stuck request"); r.err == nil {
		t.Errorf("stuck request = %d, want a closed connection", r.status)
	}
	close(release)
	<-handlerDone
}

func TestRunListenerServeError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	s := New(Config{}, discard, NewRegistry(), nil)
	if err := s.RunListener(t.Context(), ln); err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("RunListener on a closed listener = %v, want a serve error", err)
	}
}

func TestRun(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s := New(Config{Addr: busy.Addr().String()}, discard, NewRegistry(), nil)
	if err := s.Run(t.Context()); err == nil {
		t.Errorf("Run on an address in use = nil, want an error")
	}

	s = New(Config{Addr: "127.0.0.1:0"}, discard, NewRegistry(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	poll(t, "Run to listen", func() bool { return s.Addr() != nil })
	if r := do(t.Context(), "GET", "http://"+s.Addr().String()+"/healthz"); r.err != nil || r.status != 200 {
		t.Errorf("GET /healthz = %d, %v; want 200", r.status, r.err)
	}
	cancel()
	if err := recv(t, runErr, "Run to return"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestPprofOnItsOwnAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr := l.Addr().String()
	l.Close()
	s := New(Config{Addr: "127.0.0.1:0", PprofAddr: pprofAddr}, discard, NewRegistry(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	poll(t, "Run to listen", func() bool { return s.Addr() != nil })
	if r := do(t.Context(), "GET", "http://"+pprofAddr+"/debug/pprof/cmdline"); r.err != nil || r.status != 200 {
		t.Errorf("GET PPROF_ADDR /debug/pprof/cmdline = %d, %v; want 200", r.status, r.err)
	}
	if r := do(t.Context(), "GET", "http://"+s.Addr().String()+"/debug/pprof/cmdline"); r.err != nil || r.status != 404 {
		t.Errorf("GET main port /debug/pprof/cmdline = %d, %v; want 404", r.status, r.err)
	}
	cancel()
	if err := recv(t, runErr, "Run to return"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if r := do(t.Context(), "GET", "http://"+pprofAddr+"/debug/pprof/cmdline"); r.err == nil {
		t.Errorf("pprof still answers %d after Run returned", r.status)
	}
}
