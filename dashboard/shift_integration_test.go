package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sentistream/sentistream/dashboard"
	"github.com/sentistream/sentistream/internal/watch"
)

func TestShift(t *testing.T) {
	var rows []row
	for i := range 600 { // the baseline: two hours at 35% negative
		c := 0.6
		if i%20 < 7 {
			c = -0.6
		}
		rows = append(rows, row{ago: 11*time.Minute + time.Duration(i)*11*time.Second, compound: c, sentence: "steady"})
	}
	for i := range 150 { // the last minute: 90% negative
		c := -0.7
		if i%10 == 0 {
			c = 0.5
		}
		rows = append(rows, row{ago: 35*time.Second + time.Duration(i)*100*time.Millisecond, compound: c, sentence: "broken"})
	}
	f := newFixture(t, rows, nil, dashboard.Config{})
	var v watch.Verdict
	if code, _, body := get(t, f.srv, "/api/shift", &v); code != http.StatusOK {
		t.Fatalf("GET /api/shift = %d %s", code, body)
	}
	if v.Direction != watch.Negative || v.Current.Count != 150 || v.Baseline.Count != 600 {
		t.Errorf("verdict = %+v, want a negative shift over 150 messages against 600", v)
	}

	f0 := newFixture(t, rows[:600], nil, dashboard.Config{})
	if code, _, body := get(t, f0.srv, "/api/shift", &v); code != http.StatusOK || v.Direction != "" {
		t.Errorf("without the last minute: %d %s, want no shift", code, body)
	}
}

func TestShiftEvents(t *testing.T) {
	f := newFixture(t, nil, nil, dashboard.Config{})
	post := func(typ string) int {
		r := httptest.NewRequest(http.MethodPost, "/api/events", strings.NewReader(`{"z": 9.5, "direction": "negative"}`))
		r.Header.Set("Content-Type", "application/json")
		for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "mood-shift/negative/2026-12-01T12:00:00Z",
			"Ce-Source": "/sentistream/watch", "Ce-Type": typ, "Ce-Subject": "negative", "Ce-Time": "2026-12-01T12:00:00Z"} {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		return w.Code
	}
	for range 2 { // a redelivery is accepted and kept once
		if code := post(watch.EventType); code != http.StatusAccepted {
			t.Fatalf("POST a mood.shifted event = %d, want 202", code)
		}
	}
	if code := post("dev.example.other"); code != http.StatusUnprocessableEntity {
		t.Errorf("POST another type = %d, want 422", code)
	}
	var got struct {
		Events []struct {
			ID, Direction string
			Verdict       struct{ Z float64 }
		}
	}
	if code, _, body := get(t, f.srv, "/api/events", &got); code != http.StatusOK || len(got.Events) != 1 ||
		got.Events[0].Direction != "negative" || got.Events[0].Verdict.Z != 9.5 {
		t.Errorf("GET /api/events = %d %s, want the one event", code, body)
	}
}
