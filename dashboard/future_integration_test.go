package dashboard_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sentistream/sentistream/dashboard"
)

// TestFutureDated stores three negative battery messages dated 60 years ahead (a producer's
// wrong clock: rows dated 2086 were seen), which arrived a minute before the window's others, and
// checks every panel: the mood and the timeline leave them out and count them, the latest
// messages list them by arrival and mark them, search marks them and "the last hour" leaves them
// out, and the drivers do not count them.
func TestFutureDated(t *testing.T) {
	f := newFixture(t, nil, nil, dashboard.Config{})
	ahead := -time.Duration(f.now.AddDate(60, 0, 0).Sub(f.now))
	insertRows(t, f.pool, f.ix, f.now.Add(-time.Minute), []row{
		{ahead, -0.7, "The battery died, says a clock 60 years ahead"},
		{ahead, -0.6, "Battery gone, says a clock 60 years ahead"},
		{ahead, -0.5, "No battery left, says a clock 60 years ahead"},
	})
	insertRows(t, f.pool, f.ix, f.now, driverRows)

	var m dashboard.Mood
	if code, _, body := get(t, f.srv, "/api/mood?window=15m", &m); code != http.StatusOK {
		t.Fatalf("GET /api/mood = %d %s", code, body)
	}
	if m.Current.Count != 16 || m.Current.Negative != 7 || m.Future != 3 {
		t.Errorf("mood: %d messages, %d negative, %d future; want 16, 7, 3", m.Current.Count, m.Current.Negative, m.Future)
	}

	for _, rng := range []string{"1h", "7d"} {
		var tl dashboard.Timeline
		if code, _, body := get(t, f.srv, "/api/timeline?range="+rng, &tl); code != http.StatusOK {
			t.Fatalf("GET /api/timeline?range=%s = %d %s", rng, code, body)
		}
		var total int64
		for _, b := range tl.Buckets {
			total += b.Count
		}
		if total != 20 || tl.Future != 3 || !tl.Buckets[len(tl.Buckets)-1].Start.Before(f.now) {
			t.Errorf("timeline %s: %d messages, %d future, last bucket at %v; want 20, 3, the current one", rng, total, tl.Future, tl.Buckets[len(tl.Buckets)-1].Start)
		}
	}

	var l dashboard.Latest
	if code, _, body := get(t, f.srv, "/api/latest?limit=50", &l); code != http.StatusOK || len(l.Messages) != 23 {
		t.Fatalf("GET /api/latest = %d, %d messages, want 23: %s", code, len(l.Messages), body)
	}
	if first := l.Messages[0]; first.Future || first.Sentence != driverRows[0].sentence {
		t.Errorf("latest first = %+v, want the newest arrival %q", first, driverRows[0].sentence)
	}
	var marked int
	for i, msg := range l.Messages {
		if msg.Future != msg.CreatedAt.After(f.now.Add(time.Hour)) {
			t.Errorf("latest %q dated %v: future = %v", msg.Sentence, msg.CreatedAt, msg.Future)
		}
		if msg.Future {
			marked++
			if i < len(driverRows) {
				t.Errorf("future-dated %q at position %d, want it after the later arrivals", msg.Sentence, i)
			}
		}
	}
	if marked != 3 {
		t.Errorf("latest marks %d messages future-dated, want 3", marked)
	}

	search := func(q url.Values) dashboard.SearchResult {
		t.Helper()
		var r dashboard.SearchResult
		if code, _, body := get(t, f.srv, "/api/search?"+q.Encode(), &r); code != http.StatusOK {
			t.Fatalf("GET /api/search?%s = %d %s", q.Encode(), code, body)
		}
		return r
	}
	if r := search(url.Values{"q": {"clock"}}); r.Total != 3 || !r.Hits[0].Future || !r.Hits[1].Future || !r.Hits[2].Future {
		t.Errorf("q=clock: %+v, want the 3 future-dated hits, marked", r)
	}
	if r := search(url.Values{"q": {"battery"}, "range": {"1h"}}); r.Total != 6 {
		t.Errorf("q=battery range=1h: total %d, want 6 (not the future-dated ones)", r.Total)
	}
	if r := search(url.Values{"label": {"negative"}}); r.Total != 12 || r.Hits[0].Future || r.Hits[0].Sentence != driverRows[0].sentence {
		t.Errorf("label=negative: total %d, first %+v; want 12, the newest arrival first", r.Total, r.Hits[0])
	}

	var d dashboard.DriversAnswer
	if code, _, body := get(t, f.srv, "/api/drivers?window=15m", &d); code != http.StatusOK {
		t.Fatalf("GET /api/drivers = %d %s", code, body)
	}
	if d.Current.Count != 16 || len(d.Negative) != 1 || d.Negative[0].Term != "battery" || d.Negative[0].Count != 5 {
		t.Errorf("drivers: %d messages, negative %+v; want 16, battery in 5", d.Current.Count, d.Negative)
	}
}
