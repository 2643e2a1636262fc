package dashboard

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/kafkasource"
	"github.com/sentistream/sentistream/internal/serve"
)

func TestStepFor(t *testing.T) {
	tests := []struct {
		span, want time.Duration
	}{
		{15 * time.Minute, time.Minute},
		{time.Hour, time.Minute},
		{3 * time.Hour, time.Minute},
		{6 * time.Hour, 2 * time.Minute},
		{24 * time.Hour, 10 * time.Minute},
		{7 * 24 * time.Hour, time.Hour},
	}
	for _, tt := range tests {
		if got := stepFor(tt.span); got != tt.want {
			t.Errorf("stepFor(%v) = %v, want %v", tt.span, got, tt.want)
		}
	}
}

func TestParseSpan(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"5m", 5 * time.Minute, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"0d", 0, true},
		{"d", 0, true},
		{"x", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSpan(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSpan(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDecodeDeadLetter(t *testing.T) {
	b64 := func(s string) []byte { return []byte(base64.StdEncoding.EncodeToString([]byte(s))) }
	ts := time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		rec  *kgo.Record
		want DeadLetter
	}{
		{"json reason with field", &kgo.Record{Partition: 1, Offset: 7, Timestamp: ts, Value: []byte(`{"sentence":"x"}`), Headers: []kgo.RecordHeader{
			{Key: "ce_id", Value: []byte("id-1")}, {Key: "ce_source", Value: []byte("/src")}, {Key: "ce_type", Value: []byte("t")},
			{Key: "ce_knativeerrorcode", Value: []byte("422")}, {Key: "ce_knativeerrordest", Value: []byte("http://score")},
			{Key: "ce_knativeerrordata", Value: b64(`{"error":"invalid field","field":"data.created_at"}`)},
		}}, DeadLetter{Partition: 1, Offset: 7, Time: ts, ID: "id-1", Source: "/src", Type: "t", Code: "422", Dest: "http://score",
			Reason: "invalid field (data.created_at)", Data: `{"sentence":"x"}`}},
		{"text reason, unpadded", &kgo.Record{Timestamp: ts, Headers: []kgo.RecordHeader{
			{Key: "ce_knativeerrordata", Value: []byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("bad gateway!")), "="))},
		}}, DeadLetter{Time: ts, Reason: "bad gateway!"}},
		{"not base64", &kgo.Record{Timestamp: ts, Headers: []kgo.RecordHeader{
			{Key: "ce-knativeerrordata", Value: []byte("%%% raw")},
		}}, DeadLetter{Time: ts, Reason: "%%% raw"}},
		{"invalid utf-8", &kgo.Record{Timestamp: ts, Value: []byte{0xff, 'a'}}, DeadLetter{Time: ts, Data: "\uFFFDa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, deadLetterOf(kafkasource.ReadDeadLetter(tt.rec))); diff != "" {
				t.Errorf("deadLetterOf(ReadDeadLetter) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShorten(t *testing.T) {
	long := strings.Repeat("é", maxShown+3)
	got, cut := shorten(long)
	if !cut || got != strings.Repeat("é", maxShown)+"…" {
		t.Errorf("shorten(%d runes) = %d runes, %v", maxShown+3, len([]rune(got)), cut)
	}
	if got, cut := shorten("short"); cut || got != "short" {
		t.Errorf("shorten(short) = %q, %v", got, cut)
	}
}

func TestCacheSharesOneFill(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newCache(time.Second, clock)
	var fills atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	fill := func(context.Context) (any, error) {
		if fills.Add(1) == 1 {
			close(started)
		}
		<-release
		return "v", nil
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			v, err := c.get(t.Context(), "k", 1, time.Second, fill)
			if v != "v" || err != nil {
				t.Errorf("get = %v, %v", v, err)
			}
		})
	}
	// Waiters pile up on the first fill (or, if they come late, find its answer); release it.
	<-started
	close(release)
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Errorf("%d fills for 10 concurrent gets, want 1", n)
	}
	if _, _ = c.get(t.Context(), "k", 1, time.Second, fill); fills.Load() != 1 {
		t.Errorf("a fresh entry was filled again")
	}
	// Past its TTL the answer is served stale while one background refresh runs.
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	refreshed := make(chan struct{})
	refill := func(context.Context) (any, error) { fills.Add(1); close(refreshed); return "v2", nil }
	if v, _ := c.get(t.Context(), "k", 1, time.Second, refill); v != "v" {
		t.Errorf("stale get = %v, want the stale v", v)
	}
	<-refreshed
	waitFor(t, func() bool { v, _ := c.get(t.Context(), "k", 1, time.Second, fill); return v == "v2" })
	if n := fills.Load(); n != 2 {
		t.Errorf("%d fills after one refresh, want 2", n)
	}
	// Past TTL + staleFor it is queried in the foreground.
	mu.Lock()
	now = now.Add(time.Second + staleFor + time.Millisecond)
	mu.Unlock()
	if v, _ := c.get(t.Context(), "k", 1, time.Second, func(context.Context) (any, error) { fills.Add(1); return "v3", nil }); v != "v3" {
		t.Errorf("get of a dead entry = %v, want a fresh v3", v)
	}
	boom := errors.New("boom")
	for range 2 {
		if _, err := c.get(t.Context(), "e", 1, time.Second, func(context.Context) (any, error) { fills.Add(1); return nil, boom }); !errors.Is(err, boom) {
			t.Errorf("get = %v, want boom", err)
		}
	}
	if n := fills.Load(); n != 5 {
		t.Errorf("errors were cached: %d fills, want 4", n)
	}
}

func TestRateMeter(t *testing.T) {
	var m rateMeter
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if r := m.observe(t0, 100); r != nil {
		t.Errorf("first sample gave rate %v", *r)
	}
	if r := m.observe(t0.Add(2*time.Second), 110); r == nil || *r != 5 {
		t.Errorf("rate = %v, want 5/s", r)
	}
	if r := m.observe(t0.Add(2*time.Second+100*time.Millisecond), 111); r != nil {
		t.Errorf("rate over 100ms = %v, want none", *r)
	}
	if r := m.observe(t0.Add(time.Hour), 200); r != nil {
		t.Errorf("rate over an hour-old sample = %v, want none", *r)
	}
}

// newBare returns a dashboard with no dependencies at all, behind the shared server runtime.
func newBare(t *testing.T) http.Handler {
	t.Helper()
	d, err := New(Config{CacheTTL: -1}, Deps{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := serve.New(serve.Config{}, nil, nil, nil)
	d.Register(s)
	return s
}

func TestPageAndAssets(t *testing.T) {
	h := newBare(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `data-refresh-ms="2000"`) {
		t.Fatalf("GET / = %d\n%s", rec.Code, body)
	}
	for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
		if rec.Header().Get(hdr) == "" {
			t.Errorf("GET / lacks %s", hdr)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the page has inline script or an external URL")
	}
	for _, name := range []string{"app.js", "app.css"} {
		// Relative, so the page works under any path prefix.
		i := strings.Index(body, `"static/`+name+"?v=")
		if i < 0 {
			t.Fatalf("page does not link %s relatively (static/%s)", name, name)
		}
		link := "/" + body[i+1:i+1+strings.IndexByte(body[i+1:], '"')]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, link, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s = %d, %d bytes, Cache-Control %q", link, rec.Code, rec.Body.Len(), rec.Header().Get("Cache-Control"))
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/nope.js", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /static/nope.js = %d, want 404", rec.Code)
	}
}

func TestNoDependencies(t *testing.T) {
	h := newBare(t)
	tests := []struct {
		path     string
		wantCode int
		wantDep  string
	}{
		{"/api/mood", 503, "postgres"},
		{"/api/timeline?range=7d", 503, "postgres"},
		{"/api/latest", 503, "postgres"},
		{"/api/search?q=great", 503, "elasticsearch"},
		{"/api/mood?window=nope", 400, ""},
		{"/api/timeline?range=1m", 400, ""},
		{"/api/latest?limit=1000", 400, ""},
		{"/api/search?label=happy", 400, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		var body struct{ Error, Unavailable string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		if rec.Code != tt.wantCode || body.Unavailable != tt.wantDep || body.Error == "" {
			t.Errorf("GET %s = %d %s, want %d naming %q", tt.path, rec.Code, rec.Body, tt.wantCode, tt.wantDep)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", tt.path, got)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/pipeline", nil))
	var p Pipeline
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /api/pipeline = %d %s", rec.Code, rec.Body)
	}
	if diff := cmp.Diff([]string{"kafka", "postgres", "elasticsearch"}, p.Unavailable); diff != "" {
		t.Errorf("unavailable (-want +got):\n%s", diff)
	}
	if len(p.Groups) != 2 || p.Groups[0].Group != "sentistream-score" || p.Groups[1].Status != "unknown" {
		t.Errorf("groups = %+v", p.Groups)
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		runtime.Gosched()
	}
}
