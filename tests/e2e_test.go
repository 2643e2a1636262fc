package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// e2eRecords is how many records the end-to-end test produces (SENTISTREAM_E2E_RECORDS).
func e2eRecords(t *testing.T) int {
	n := 100_000
	if v := os.Getenv("SENTISTREAM_E2E_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("SENTISTREAM_E2E_RECORDS=%q: want an integer >= 100", v)
		}
	}
	return n
}

var e2eSentences = []string{
	"The new release is great, setup took two minutes!",
	"Delivery was late AGAIN and support never answered :(",
	"It's okay, nothing special.",
	"I absolutely love the dark mode ❤",
	"Worst update ever. The app crashes on start.",
	"Not bad at all, but the price is a bit high.",
	"The battery lasts about a day.",
	"Sooo good!!! Best purchase this year 😀",
	"meh, the manual is confusing and the buttons are tiny",
	"Customer service fixed my problem quickly, thanks!",
}

// want is what the test expects of one produced record.
type want struct {
	key       string
	malformed bool
	partition int32
	offset    int64
}

// producedSet is the test's record of what it produced, filled as produce callbacks arrive.
type producedSet struct {
	mu        sync.Mutex
	wellKeys  map[string]bool
	malformed map[string]bool // "partition:<p>/offset:<o>" ids of malformed records
	errs      atomic.Int64
}

// produceMix produces n records to topic: a third seed-format JSON, a third binary-mode
// CloudEvents, a third structured-mode CloudEvents, with one in a hundred malformed.
func produceMix(t *testing.T, s *system, n int, from int) *producedSet {
	t.Helper()
	ctx := t.Context()
	ps := &producedSet{wellKeys: map[string]bool{}, malformed: map[string]bool{}}
	source := "urn:sentistream:e2e:" + s.topic
	var wg sync.WaitGroup
	for i := from; i < from+n; i++ {
		sentence := fmt.Sprintf("%s (#%d)", e2eSentences[i%len(e2eSentences)], i)
		data, _ := json.Marshal(map[string]string{"sentence": sentence, "created_at": "2025-04-14T08:00:00.123456"})
		rec := &kgo.Record{Topic: s.topic, Key: []byte(strconv.Itoa(i))}
		ceKey := ""
		switch {
		case i%100 == 99: // malformed, in rotating ways
			switch (i / 100) % 4 {
			case 0:
				rec.Value = []byte("this is not json")
			case 1:
				rec.Value = []byte(`{"sentence": ""}`)
			case 2:
				rec.Value = []byte(`{"sentence": 42}`)
			default:
				rec.Value = []byte(`{"sentence": "ok", "created_at": "yesterday-ish"}`)
			}
		case i%3 == 0: // seed format
			rec.Value = data
		case i%3 == 1: // binary-mode CloudEvent
			id := "e2e-" + strconv.Itoa(i)
			rec.Value = data
			rec.Headers = []kgo.RecordHeader{
				{Key: "ce_specversion", Value: []byte("1.0")},
				{Key: "ce_id", Value: []byte(id)},
				{Key: "ce_source", Value: []byte(source)},
				{Key: "ce_type", Value: []byte("dev.sentistream.sentence")},
				{Key: "content-type", Value: []byte("application/json")},
			}
			ceKey = "ce:" + source + "#" + id
		default: // structured-mode CloudEvent
			id := "e2e-" + strconv.Itoa(i)
			rec.Value, _ = json.Marshal(map[string]any{
				"specversion": "1.0", "id": id, "source": source, "type": "dev.sentistream.sentence",
				"datacontenttype": "application/json", "data": json.RawMessage(data),
			})
			rec.Headers = []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
			ceKey = "ce:" + source + "#" + id
		}
		malformed := i%100 == 99
		wg.Add(1)
		s.kcl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				ps.errs.Add(1)
				return
			}
			ps.mu.Lock()
			defer ps.mu.Unlock()
			switch {
			case malformed:
				ps.malformed[fmt.Sprintf("partition:%d/offset:%d", r.Partition, r.Offset)] = true
			case ceKey != "":
				ps.wellKeys[ceKey] = true
			default:
				ps.wellKeys[fmt.Sprintf("kafka:%s/%d/%d", s.topic, r.Partition, r.Offset)] = true
			}
		})
	}
	wg.Wait()
	if e := ps.errs.Load(); e > 0 {
		t.Fatalf("%d of %d records failed to produce", e, n)
	}
	return ps
}

// TestEndToEnd produces a mix of record forms through the whole system and proves that
// PostgreSQL and Elasticsearch each hold every well-formed record exactly once with the same
// scores, that every malformed record is dead-lettered with its reason, and that lag reaches 0.
func TestEndToEnd(t *testing.T) {
	s := newSystem(t)
	n := e2eRecords(t)
	start := time.Now()
	ps := produceMix(t, s, n, 0)
	t.Logf("produced %d records (%d well-formed, %d malformed) in %s",
		n, len(ps.wellKeys), len(ps.malformed), time.Since(start).Round(time.Millisecond))
	s.verify(ps, 10*time.Minute)
	t.Logf("verified in %s", time.Since(start).Round(time.Millisecond))
}

// verify waits for the system to settle, then proves the end-to-end invariants for ps.
func (s *system) verify(ps *producedSet, timeout time.Duration) {
	t := s.t
	t.Helper()
	ctx := t.Context()
	wantN := len(ps.wellKeys)
	eventually(t, timeout, "both sinks caught up", func() error {
		_, keys, err := s.pgCounts(ctx)
		if err != nil {
			return err
		}
		docs, err := s.esCount(ctx)
		if err != nil {
			return err
		}
		lag, err := s.lag(ctx)
		if err != nil {
			return err
		}
		if keys < wantN || docs < wantN || lag > 0 {
			return fmt.Errorf("postgres %d keys, elasticsearch %d docs of %d; lag %d", keys, docs, wantN, lag)
		}
		return nil
	})

	rows, keys, err := s.pgCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rows != wantN || keys != wantN {
		t.Errorf("postgres: %d rows, %d distinct keys; want %d of each (nothing lost, nothing twice)", rows, keys, wantN)
	}
	docs, err := s.esCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if docs != wantN {
		t.Errorf("elasticsearch: %d documents, want %d", docs, wantN)
	}

	got := map[string]bool{}
	pgRows, err := s.pool.Query(ctx, "SELECT key FROM "+s.schema+".sentences")
	if err != nil {
		t.Fatal(err)
	}
	for pgRows.Next() {
		var k string
		if err := pgRows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got[k] = true
	}
	if err := pgRows.Err(); err != nil {
		t.Fatal(err)
	}
	var missing, extra []string
	for k := range ps.wellKeys {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !ps.wellKeys[k] {
			extra = append(extra, k)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("postgres keys: %d missing (e.g. %.3q), %d unexpected (e.g. %.3q)", len(missing), missing, len(extra), extra)
	}

	// Same scores on both sides, key for key: reconcile exits 0 only when nothing drifts.
	s.reconcile()

	// Every malformed record is dead-lettered by each source with a 4xx and its reason.
	perSource := map[string]map[string]bool{}
	for _, r := range s.dlqRecords(ctx) {
		id, code, dest := header(r, "ce_id"), header(r, "ce_knativeerrorcode"), header(r, "ce_knativeerrordest")
		if !ps.malformed[id] {
			t.Errorf("dead letter %q (code %s, dest %s) is not one of the malformed records", id, code, dest)
			continue
		}
		if !strings.HasPrefix(code, "4") {
			t.Errorf("dead letter %s: knativeerrorcode %q, want 4xx", id, code)
		}
		reason, err := base64.StdEncoding.DecodeString(header(r, "ce_knativeerrordata"))
		if err != nil || !strings.Contains(string(reason), "error") {
			t.Errorf("dead letter %s: knativeerrordata %q does not carry the reason (%v)", id, reason, err)
		}
		if perSource[dest] == nil {
			perSource[dest] = map[string]bool{}
		}
		perSource[dest][id] = true
	}
	if len(perSource) != 2 {
		t.Errorf("dead letters came from %d destinations, want 2 (score and index)", len(perSource))
	}
	for dest, ids := range perSource {
		if len(ids) != len(ps.malformed) {
			t.Errorf("%s dead-lettered %d distinct malformed records, want %d", dest, len(ids), len(ps.malformed))
		}
	}
}

// reconcile runs the reconcile command against the system's schema and index.
func (s *system) reconcile() {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "reconcile"))
	cmd.Env = append(os.Environ(), s.storeEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Errorf("reconcile found drift or failed: %v\n%s", err, out)
	}
}

func (s *system) waitLagZero(ctx context.Context, timeout time.Duration) {
	eventually(s.t, timeout, "lag 0", func() error {
		lag, err := s.lag(ctx)
		if err == nil && lag > 0 {
			err = fmt.Errorf("lag %d", lag)
		}
		return err
	})
}
