package tests

import (
	"fmt"
	"slices"
	"time"
)

// verifyFault is the proof every fault test ends with: verify's (both sinks hold every
// well-formed record exactly once, reconcile finds no drift, lag 0, every dead letter is a
// malformed record with a 4xx and its reason), and then dead letters counted per source per
// record: each of the two sources dead-letters each malformed record exactly once. A set would
// let a record dead-lettered twice by one source pass.
//
// crashes are the moments the test SIGKILLed the runner. A runner that dies between writing a
// dead letter and committing the record's offset gets the record again when it restarts, and
// dead-letters it again: at-least-once, as KafkaSource's dispatcher does after a crash. So a
// second dead letter of a record by one source is allowed only when a crash falls between the
// two, and there can be no more of them than crashes plus one; any other repeat fails.
func (s *system) verifyFault(ps *producedSet, timeout time.Duration, crashes ...time.Time) {
	s.t.Helper()
	s.verify(ps, timeout)
	s.checkDeadLettersOnce(ps, crashes)
}

// checkDeadLettersOnce reads the dead-letter topic and requires exactly one dead letter per
// source (knativeerrordest: one sink URL per function) for each malformed record, or one per
// runner life across crashes (see verifyFault). Dead letters of records that are not malformed
// are verify's to report.
func (s *system) checkDeadLettersOnce(ps *producedSet, crashes []time.Time) {
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
			case len(at) > 1 && !eachAcrossACrash(at, crashes):
				twice = append(twice, fmt.Sprintf("%s×%d", id, len(at)))
			case len(at) > 1:
				redelivered++
			}
		}
		slices.Sort(missing)
		slices.Sort(twice)
		if len(missing) > 0 || len(twice) > 0 {
			t.Errorf("%s: of %d malformed records, %d not dead-lettered (e.g. %q) and %d dead-lettered more than once "+
				"without a runner crash between (e.g. %q); want each exactly once", dest, len(ps.malformed),
				len(missing), missing[:min(3, len(missing))], len(twice), twice[:min(3, len(twice))])
		}
		if redelivered > 0 {
			t.Logf("%s: %d of %d malformed records dead-lettered again after a runner crash (redelivered, not committed)",
				dest, redelivered, len(ps.malformed))
		}
	}
}

// eachAcrossACrash reports whether a crash falls between each two consecutive times of at
// (ascending), a different crash each time.
func eachAcrossACrash(at, crashes []time.Time) bool {
	if len(at) > len(crashes)+1 {
		return false
	}
	for i := 1; i < len(at); i++ {
		if !slices.ContainsFunc(crashes, func(c time.Time) bool { return at[i-1].Before(c) && c.Before(at[i]) }) {
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
