package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sentistream/sentistream/internal/serve"
)

// parseSpan parses a duration such as "5m", "1h" or "7d" (d = 24h; Go duration syntax otherwise).
func parseSpan(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// spanParam reads the duration query parameter name, def when absent, and answers 400 when it is
// malformed or outside [lo, hi].
func spanParam(q url.Values, name string, def, lo, hi time.Duration, hint string) (time.Duration, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	d, err := parseSpan(s)
	if err != nil || d < lo || d > hi {
		return 0, badParam(name, hint, err)
	}
	return d, nil
}

// intParam reads the integer query parameter name, def when absent, and answers 400 when it is
// malformed or outside [lo, hi].
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, fmt.Sprintf("a whole number from %d to %d", lo, hi), err)
	}
	return n, nil
}

// timeParam reads an RFC 3339 time; the zero time when absent.
func timeParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badParam(name, "an RFC 3339 time such as 2025-04-14T08:00:00Z", err)
	}
	return t, nil
}

func badParam(name, want string, err error) *serve.Error {
	return &serve.Error{
		Code:   http.StatusBadRequest,
		Msg:    "bad parameter " + name + ": want " + want,
		Detail: map[string]any{"param": name},
		Err:    err,
	}
}

// steps are the timeline's bucket sizes, finest first.
var steps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// maxBuckets bounds the points of a timeline: 1-minute buckets up to 3 hours, 1 hour for 7 days.
const maxBuckets = 180

// stepFor returns the finest bucket size that draws span in at most maxBuckets buckets.
func stepFor(span time.Duration) time.Duration {
	for _, s := range steps {
		if span/s <= maxBuckets {
			return s
		}
	}
	return steps[len(steps)-1]
}

// label filter values accepted by search.
var labels = map[string]bool{"positive": true, "neutral": true, "negative": true}
