package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// verifyFault is the proof every fault test ends with: verify's (both sinks hold every
// well-formed record exactly once, reconcile finds no drift, lag 0, every dead letter is a
// malformed record with a 4xx and its reason), and then dead letters counted per source per
// record: each of the two sources dead-letters each malformed record exactly once. A set would
// let a record dead-lettered twice by one source pass.
//
// A record whose offset was not committed is delivered again, and a malformed one dead-lettered
// again: at-least-once, as KafkaSource's dispatcher does. That happens when the runner dies
// (crashes: the moments the test SIGKILLed it) or loses partitions, which it can then no longer
// commit (its "partitions lost" lines: a broker that goes away ends the group sessions). So a
// second dead letter of a record by one source is allowed only when such a moment falls between
// the two, a different one for each repeat; any other repeat fails.
func (s *system) verifyFault(ps *producedSet, timeout time.Duration, crashes ...time.Time) {
	s.t.Helper()
	s.verify(ps, timeout)
	redelivered := append(crashes, s.runnerLogTimes("partitions lost")...)
	s.checkDeadLettersOnce(ps, redelivered)
}

// runnerLogTimes returns when the runner logged each line whose msg is one of msgs.
func (s *system) runnerLogTimes(msgs ...string) []time.Time {
	var at []time.Time
	for _, l := range s.runnerLog() {
		if slices.Contains(msgs, l.Msg) {
			at = append(at, l.Time)
		}
	}
	return at
}

// logLine is one JSON line of the runner's log.
type logLine struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
}

// runnerLog returns the lines of the runner's log, every run of it.
func (s *system) runnerLog() []logLine {
	b, err := os.ReadFile(s.runner.log.Name())
	if err != nil {
		s.t.Fatal(err)
	}
	var out []logLine
	for _, line := range strings.Split(string(b), "\n") {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// checkDeadLettersOnce reads the dead-letter topic and requires exactly one dead letter per
// source (knativeerrordest: one sink URL per function) for each malformed record, or one more
// for each redelivery moment between them (see verifyFault). Dead letters of records that are
// not malformed are verify's to report.
func (s *system) checkDeadLettersOnce(ps *producedSet, redeliveries []time.Time) {
	t := s.t
	t.Helper()
	written := map[string]map[string][]time.Time{} // dest → event id → when each dead letter was written
	for _, r := range s.dlqRecords(t.Context()) {
		dest, id := header(r, "ce_knativeerrordest"), header(r, "ce_id")
		if written[dest] == nil {
			written[dest] = map[string][]time.Time{}
		}
		written[dest][id] = append(written[dest][id], r.Timestamp)
	}
	dests := []string{s.scoreURL + "/", s.indexURL + "/"}
	for dest := range written {
		if !slices.Contains(dests, dest) {
			t.Errorf("dead letters from %q, which is neither source's sink (%v)", dest, dests)
		}
	}
	for _, dest := range dests {
		var missing, twice []string
		redelivered := 0
		for id := range ps.malformed {
			at := written[dest][id]
			slices.SortFunc(at, time.Time.Compare)
			switch {
			case len(at) == 0:
				missing = append(missing, id)
			case len(at) > 1 && !eachAcross(at, redeliveries):
				twice = append(twice, fmt.Sprintf("%s×%d", id, len(at)))
			case len(at) > 1:
				redelivered++
			}
		}
		slices.Sort(missing)
		slices.Sort(twice)
		if len(missing) > 0 || len(twice) > 0 {
			t.Errorf("%s: of %d malformed records, %d not dead-lettered (e.g. %q) and %d dead-lettered more than once "+
				"with no runner crash or lost partitions between (e.g. %q); want each exactly once", dest, len(ps.malformed),
				len(missing), missing[:min(3, len(missing))], len(twice), twice[:min(3, len(twice))])
		}
		if redelivered > 0 {
			t.Logf("%s: %d of %d malformed records dead-lettered again after a runner crash or lost partitions (redelivered: not committed)",
				dest, redelivered, len(ps.malformed))
		}
	}
}

// eachAcross reports whether one of moments falls between each two consecutive times of at
// (ascending). The gaps do not overlap, so each repeat needs a moment of its own.
func eachAcross(at, moments []time.Time) bool {
	for i := 1; i < len(at); i++ {
		if !slices.ContainsFunc(moments, func(m time.Time) bool { return at[i-1].Before(m) && m.Before(at[i]) }) {
			return false
		}
	}
	return true
}

// otherSinkMaxLag samples the lag of group (the sink that is not under fault) every second for
// d and returns the largest. A failed lag query fails the test: a check that skips errors could
// pass without having measured anything.
func (s *system) otherSinkMaxLag(group string, d time.Duration) int64 {
	t := s.t
	t.Helper()
	var maxLag int64
	for start := time.Now(); time.Since(start) < d; {
		sleepCtx(t, time.Second)
		lag, err := s.groupLag(t.Context(), group)
		if err != nil {
			t.Fatalf("lag of the other sink (%s): %v", group, err)
		}
		maxLag = max(maxLag, lag)
	}
	return maxLag
}
