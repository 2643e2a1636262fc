package produce

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Mix weighs the labels positive, negative, neutral; weights need not sum to 1.
type Mix [3]float64

// The mixes of the named moods.
var moods = map[string]Mix{
	"positive": {0.75, 0.10, 0.15},
	"negative": {0.10, 0.75, 0.15},
	"neutral":  {0.20, 0.20, 0.60},
	"mixed":    {0.40, 0.35, 0.25},
}

// Mood says which mix of labels to write at a time since the start. The zero Mood is mixed.
type Mood struct {
	steps  []moodStep    // a schedule that repeats; nil for a sine drift
	period time.Duration // of the sine drift, or of the whole schedule
}

type moodStep struct {
	mix Mix
	end time.Duration // from the start of the cycle
}

// ParseMood reads a mood:
//
//	mixed                          a fixed mood: positive, negative, neutral or mixed
//	positive:30s,negative:30s      a schedule of moods and durations, repeated
//	sine:5m                        a drift from mostly positive to mostly negative and back, over the period
func ParseMood(s string) (Mood, error) {
	if s == "" {
		s = "mixed"
	}
	if p, ok := strings.CutPrefix(s, "sine:"); ok {
		d, err := time.ParseDuration(p)
		if err != nil || d <= 0 {
			return Mood{}, fmt.Errorf("mood %q: want sine:<period> such as sine:5m", s)
		}
		return Mood{period: d}, nil
	}
	if mix, ok := moods[s]; ok {
		return Mood{steps: []moodStep{{mix: mix, end: math.MaxInt64}}, period: math.MaxInt64}, nil
	}
	var m Mood
	for _, part := range strings.Split(s, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(part), ":")
		mix, known := moods[name]
		d, err := time.ParseDuration(dur)
		if !ok || !known || err != nil || d <= 0 {
			return Mood{}, fmt.Errorf("mood %q: want positive|negative|neutral|mixed, a schedule such as positive:30s,negative:30s, or sine:5m", s)
		}
		m.period += d
		m.steps = append(m.steps, moodStep{mix: mix, end: m.period})
	}
	return m, nil
}

// At returns the mix at elapsed time since the start.
func (m Mood) At(elapsed time.Duration) Mix {
	if m.period <= 0 {
		return moods["mixed"] // the zero Mood
	}
	if m.steps == nil {
		x := math.Sin(2 * math.Pi * float64(elapsed%m.period) / float64(m.period))
		return Mix{0.45 + 0.4*x, 0.45 - 0.4*x, 0.2}
	}
	t := elapsed % m.period
	for _, s := range m.steps {
		if t < s.end {
			return s.mix
		}
	}
	return m.steps[len(m.steps)-1].mix
}
