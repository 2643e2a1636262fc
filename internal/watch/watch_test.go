package watch

import (
	"context"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/pgstore"
)

func sideOf(count, negative int64) Side {
	return side(time.Time{}, time.Time{}, pgstore.Counts{Count: count, Negative: negative})
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name              string
		baseline, current Side
		want              string
	}{
		{"steady", sideOf(6000, 2100), sideOf(600, 215), ""},
		{"turns negative", sideOf(6000, 2100), sideOf(600, 400), Negative},
		{"turns positive", sideOf(6000, 3000), sideOf(600, 100), Positive},
		{"too few in the window", sideOf(6000, 2100), sideOf(50, 45), ""},
		{"too few in the baseline", sideOf(60, 20), sideOf(600, 400), ""},
		// 20,000 a minute: a 3-point move is significant (z ≈ 6) but under MinDelta.
		{"significant but small", sideOf(2_400_000, 840_000), sideOf(200_000, 76_000), ""},
		// Just at MinCount, a 15-point move of a small sample: z ≈ 3.1, under Z.
		{"large but not significant", sideOf(6000, 2100), sideOf(100, 50), ""},
		{"the same move over 600 messages", sideOf(6000, 2100), sideOf(600, 300), Negative},
		{"all negative on both sides", sideOf(6000, 6000), sideOf(600, 600), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, got := Config{}.Judge(tt.baseline, tt.current)
			if got != tt.want {
				t.Errorf("Judge = %q (z %.2f), want %q", got, z, tt.want)
			}
		})
	}
}

// moodFunc is a Reader.
type moodFunc func(from, mid, to time.Time) (pgstore.Counts, pgstore.Counts)

func (f moodFunc) Mood(_ context.Context, from, mid, to time.Time) (pgstore.Counts, pgstore.Counts, error) {
	p, c := f(from, mid, to)
	return p, c, nil
}

func TestCheckEmitsOncePerShift(t *testing.T) {
	shiftAt := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// The window is 70% negative from shiftAt on, 35% before; the baseline stays at 35%.
	w := New(Config{}, moodFunc(func(_, _, to time.Time) (pgstore.Counts, pgstore.Counts) {
		neg := int64(210)
		if !to.Before(shiftAt) {
			neg = 420
		}
		return pgstore.Counts{Count: 6000, Negative: 2100}, pgstore.Counts{Count: 600, Negative: neg}
	}))
	tests := []struct {
		at     time.Time
		starts bool
		dir    string
	}{
		{shiftAt.Add(-time.Minute), false, ""},
		{shiftAt.Add(30 * time.Second), true, Negative}, // truncated to shiftAt
		{shiftAt.Add(time.Minute), false, Negative},     // still shifted: no second event
		{shiftAt.Add(10 * time.Minute), false, Negative},
	}
	for _, tt := range tests {
		c, err := w.Check(t.Context(), tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if c.Starts != tt.starts || c.Direction != tt.dir {
			t.Errorf("Check(%s) = starts %v, direction %q; want %v, %q", tt.at.Format(time.TimeOnly), c.Starts, c.Direction, tt.starts, tt.dir)
		}
		if want := "mood-shift/negative/2026-12-01T12:00:00Z"; c.Starts && c.ID != want {
			t.Errorf("ID = %q, want %q", c.ID, want)
		}
	}
}

func TestAtWindows(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 42, 0, time.UTC)
	var got [3]time.Time
	w := New(Config{Window: 10 * time.Minute, Baseline: time.Hour}, moodFunc(func(from, mid, to time.Time) (pgstore.Counts, pgstore.Counts) {
		got = [3]time.Time{from, mid, to}
		return pgstore.Counts{}, pgstore.Counts{}
	}))
	if _, err := w.At(t.Context(), at); err != nil {
		t.Fatal(err)
	}
	to := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if want := [3]time.Time{to.Add(-70 * time.Minute), to.Add(-10 * time.Minute), to}; got != want {
		t.Errorf("windows = %v, want %v", got, want)
	}
}
