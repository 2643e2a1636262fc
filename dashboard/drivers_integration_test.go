package dashboard_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/dashboard"
	"github.com/sentistream/sentistream/internal/serve"
)

// driverRows fill a 15-minute window: "battery" in 5 of its 7 negative messages, "ANC" in 4 of
// its 6 positive ones, the product's name, numbers and stop words all over; the window before
// holds the battery in 1 of 2 negative messages and ANC in 1 positive one.
var driverRows = []row{
	{1 * time.Minute, -0.6, "The battery on my Zephyr Buds died after 2 hours"},
	{2 * time.Minute, -0.5, "Zephyr Buds battery drains in 3 hours, worst buy"},
	{3 * time.Minute, -0.7, "Battery dead again on day 5"},
	{4 * time.Minute, -0.4, "Why is the battery of the Zephyr Buds so weak"},
	{5 * time.Minute, -0.6, "10 out of 10 times the battery is empty"},
	{6 * time.Minute, -0.5, "The case is scratched and the Zephyr Buds hurt"},
	{6 * time.Minute, -0.3, "Zephyr Buds pairing took 20 minutes, not good"},
	{7 * time.Minute, 0.6, "The ANC on the Zephyr Buds is great"},
	{8 * time.Minute, 0.7, "Wow, ANC blocks the 7 train completely"},
	{9 * time.Minute, 0.5, "ANC is a joy on the Zephyr Buds"},
	{10 * time.Minute, 0.8, "Loving the ANC on 2 flights"},
	{11 * time.Minute, 0.5, "The Zephyr Buds fit is nice"},
	{11 * time.Minute, 0.4, "Zephyr Buds look nice in white"},
	{12 * time.Minute, 0, "The Zephyr Buds come in black and white"},
	{13 * time.Minute, 0, "Is there a case in the box of the Zephyr Buds"},
	{14 * time.Minute, 0, "Shipping takes 3 days for the Zephyr Buds"},
	{20 * time.Minute, -0.5, "The battery was flat"},
	{21 * time.Minute, -0.5, "The case broke"},
	{22 * time.Minute, 0.3, "ANC works fine"},
	{23 * time.Minute, 0, "Zephyr Buds in the box"},
}

func TestDrivers(t *testing.T) {
	f := newFixture(t, driverRows, nil, dashboard.Config{})
	var got dashboard.DriversAnswer
	code, hdr, body := get(t, f.srv, "/api/drivers?window=15m", &got)
	if code != http.StatusOK {
		t.Fatalf("GET /api/drivers = %d %s", code, body)
	}
	if got := hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got.Window != "15m0s" || got.WindowSeconds != 900 || !got.To.Equal(f.now) || !got.From.Equal(f.now.Add(-15*time.Minute)) {
		t.Errorf("window = %q %v s [%v, %v), want 15m ending now", got.Window, got.WindowSeconds, got.From, got.To)
	}
	if want := (dashboard.DriverTotals{Count: 16, Negative: 7, Positive: 6}); got.Current != want {
		t.Errorf("current = %+v, want %+v", got.Current, want)
	}
	if want := (dashboard.DriverTotals{Count: 4, Negative: 2, Positive: 1}); got.Previous != want {
		t.Errorf("previous = %+v, want %+v", got.Previous, want)
	}
	terms := func(ds []dashboard.Driver) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.Term)
		}
		return out
	}
	// Only the aspects: not the product's name, numbers, stop words, nor the words that carry the
	// sentiment themselves (worst, weak, great, nice), and each on its own side.
	if diff := cmp.Diff([]string{"battery"}, terms(got.Negative)); diff != "" {
		t.Errorf("negative drivers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"anc"}, terms(got.Positive)); diff != "" {
		t.Errorf("positive drivers (-want +got):\n%s", diff)
	}
	if len(got.Negative) == 1 {
		b := got.Negative[0]
		mean := (-0.6 - 0.5 - 0.7 - 0.4 - 0.6) / 5
		if b.Count != 5 || b.Mentions != 5 || !approx(b.Share, 5.0/7) || b.Mean == nil || !approx(*b.Mean, mean) {
			t.Errorf("battery = count %d of %d mentions, share %v, mean %v; want 5 of 5, 5/7, %v", b.Count, b.Mentions, b.Share, b.Mean, mean)
		}
		if b.Previous.Count != 1 || b.Previous.Share == nil || !approx(*b.Previous.Share, 0.5) || b.Change.Count != 4 ||
			b.Change.Share == nil || !approx(*b.Change.Share, 5.0/7-0.5) || b.Change.Mean == nil || !approx(*b.Change.Mean, mean+0.5) {
			t.Errorf("battery before = %+v, change %+v; want 1 (share 0.5), +4, share +%v, mean %+v", b.Previous, b.Change, 5.0/7-0.5, mean+0.5)
		}
		if b.Score <= 0 || b.Z == nil || *b.Z < 2 || b.Background != 6 {
			t.Errorf("battery score %v z %v background %d; want > 0, ≥ 2, 6", b.Score, b.Z, b.Background)
		}
	}
	if len(got.Positive) == 1 {
		a := got.Positive[0]
		if a.Count != 4 || a.Mentions != 4 || !approx(a.Share, 4.0/6) || a.Previous.Count != 1 || a.Change.Count != 3 {
			t.Errorf("anc = %+v, want 4 of 6 positive now, 1 before", a)
		}
	}

	// A quiet window: no drivers, empty lists rather than null.
	if code, _, body := get(t, f.srv, "/api/drivers?window=1m", nil); code != http.StatusOK || !strings.Contains(body, `"negative":[]`) || !strings.Contains(body, `"positive":[]`) {
		t.Errorf("GET /api/drivers?window=1m = %d %s, want empty lists", code, body)
	}
	for _, bad := range []string{"window=0s", "window=abc", "window=48h"} {
		if code, _, body := get(t, f.srv, "/api/drivers?"+bad, nil); code != http.StatusBadRequest || !strings.Contains(body, "window") {
			t.Errorf("GET /api/drivers?%s = %d %s, want 400 naming window", bad, code, body)
		}
	}
}

// TestDriversUnavailable: without Elasticsearch, or before the index exists, the panel answers
// 503 naming it.
func TestDriversUnavailable(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{CacheTTL: -1}, dashboard.Deps{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.New(serve.Config{}, nil, nil, nil)
	d.Register(srv)
	if code, _, body := get(t, srv, "/api/drivers", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable":"elasticsearch"`) {
		t.Errorf("GET /api/drivers without Elasticsearch = %d %s, want 503 naming it", code, body)
	}
	f := newFixture(t, nil, nil, dashboard.Config{})
	if err := f.ix.DeleteIndex(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, _, body := get(t, f.srv, "/api/drivers", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "does not exist yet") {
		t.Errorf("GET /api/drivers of a missing index = %d %s, want 503 saying so", code, body)
	}
}
