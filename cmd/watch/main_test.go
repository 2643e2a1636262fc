package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/testenv"
	"github.com/sentistream/sentistream/internal/watch"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	c, err := loadConfig(getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.rule != (watch.Config{Window: 10 * time.Minute, Baseline: 2 * time.Hour, MinCount: 100, Z: 4, MinDelta: 0.1}) || c.every != 0 || c.sink != "" {
		t.Errorf("defaults = %+v", c)
	}
	_, err = loadConfig(getenv(map[string]string{"WATCH_Z": "-1", "WATCH_MIN_DELTA": "x", "WATCH_WINDOW": "10s"}))
	for _, name := range []string{"WATCH_Z", "WATCH_MIN_DELTA", "WATCH_WINDOW"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("loadConfig error %v does not name %s", err, name)
		}
	}
}

// TestShiftSendsOneEvent seeds two hours of messages at 35% negative and then one minute at 90%,
// and checks that the minute the shift starts sends one event to K_SINK, that a retried check of
// that minute sends the same id, and that the next minute, still shifted, sends none.
func TestShiftSendsOneEvent(t *testing.T) {
	pool := pgstoretest.Open(t)
	at := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute) // the minute the shift starts
	a := sentiment.New()
	var rows []pgstore.Row
	add := func(i int, created time.Time, s string) {
		rows = append(rows, pgstore.Row{Record: event.Record{Key: fmt.Sprint("k", i), Sentence: s, CreatedAt: created}, Scores: a.Score(s)})
	}
	for i := range 600 { // baseline: [at−130m, at−11m)
		s := "I love this, it works great."
		if i%20 < 7 {
			s = "This is terrible, it broke."
		}
		add(i, at.Add(-130*time.Minute).Add(time.Duration(i)*11*time.Second), s)
	}
	for i := range 150 { // the last minute before at: 90% negative
		s := "This is terrible, it broke."
		if i%10 == 0 {
			s = "I love this, it works great."
		}
		add(1000+i, at.Add(-time.Minute).Add(time.Duration(i)*300*time.Millisecond), s)
	}
	if _, err := pgstore.New(pool).Insert(t.Context(), rows); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var received []map[string]string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, map[string]string{"id": r.Header.Get("Ce-Id"), "type": r.Header.Get("Ce-Type"), "data": string(b)})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(sink.Close)

	u, err := url.Parse(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", pool.Config().ConnConfig.RuntimeParams["search_path"])
	u.RawQuery = q.Encode()
	port := testenv.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, getenv(map[string]string{"PORT": port, "DATABASE_URL": u.String(), "K_SINK": sink.URL, "LOG_LEVEL": "error"}), io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	})
	base := "http://127.0.0.1:" + port
	check := func(minute time.Time) result {
		t.Helper()
		var res result
		deadline := time.Now().Add(10 * time.Second)
		for {
			req, _ := http.NewRequest(http.MethodPost, base+"/", nil)
			req.Header.Set("Ce-Time", minute.Format(time.RFC3339))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("POST /: %d %s", resp.StatusCode, b)
				}
				if err := json.Unmarshal(b, &res); err != nil {
					t.Fatal(err)
				}
				return res
			}
			if time.Now().After(deadline) {
				t.Fatalf("POST /: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if res := check(at.Add(-time.Minute)); res.Starts || res.Direction != "" {
		t.Errorf("a minute before: %+v, want no shift", res)
	}
	first := check(at)
	if !first.Starts || !first.Emitted || first.Direction != watch.Negative {
		t.Fatalf("at the shift: %+v, want a negative shift, emitted", first)
	}
	if retry := check(at); retry.ID != first.ID || !retry.Emitted {
		t.Errorf("retried check = %+v, want the same id %s again", retry, first.ID)
	}
	if next := check(at.Add(time.Minute)); next.Starts || next.Emitted || next.Direction != watch.Negative {
		t.Errorf("a minute later: %+v, want still shifted, nothing sent", next)
	}
	mu.Lock()
	defer mu.Unlock()
	ids := map[string]bool{}
	for _, e := range received {
		ids[e["id"]] = true
		if e["type"] != watch.EventType || !strings.Contains(e["data"], `"direction":"negative"`) {
			t.Errorf("event %v, want type %s with the verdict", e, watch.EventType)
		}
	}
	if len(received) != 2 || len(ids) != 1 || !ids[first.ID] {
		t.Errorf("sink got %d events with ids %v, want the shift's id %s twice (the check and its retry)", len(received), ids, first.ID)
	}
}
