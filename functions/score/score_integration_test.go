package score

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/sink"
	"github.com/sentistream/sentistream/internal/sink/sinktest"
)

// storedRow is what a test reads back from sentences.
type storedRow struct {
	Key, Sentence, Label    string
	Compound, Pos, Neu, Neg float64
}

func rowsByKey(t testing.TB, pool *pgxpool.Pool) map[string]storedRow {
	t.Helper()
	res, err := pool.Query(t.Context(), "SELECT key, sentence, label, sentiment, pos, neu, neg FROM sentences")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	got := map[string]storedRow{}
	for res.Next() {
		var r storedRow
		if err := res.Scan(&r.Key, &r.Sentence, &r.Label, &r.Compound, &r.Pos, &r.Neu, &r.Neg); err != nil {
			t.Fatal(err)
		}
		got[r.Key] = r
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func countRows(t testing.TB, pool *pgxpool.Pool) (rows, keys int) {
	t.Helper()
	if err := pool.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT key) FROM sentences").Scan(&rows, &keys); err != nil {
		t.Fatal(err)
	}
	return rows, keys
}

func want(key, sentence string) storedRow {
	s := sentiment.New().Score(sentence)
	return storedRow{Key: key, Sentence: sentence, Label: sentiment.Label(s.Compound), Compound: s.Compound, Pos: s.Pos, Neu: s.Neu, Neg: s.Neg}
}

func bareKey(sentence string) string {
	sum := sha256.Sum256([]byte("2025-04-14T08:00:00.123456Z\n" + sentence))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestScoreEventForms(t *testing.T) {
	pool := pgstoretest.Open(t)
	ts, _ := newServer(t, sink.Config{}, pgstore.New(pool))
	reqs := []sinktest.Request{
		sinktest.WrappedSentence(2, 1234, "This is great!"),
		sinktest.BinaryCE("0b9c4f3e", "I love this so much ❤"),
		sinktest.Structured("5d1c1b8e", "What a terrible day."),
		sinktest.OpenFaaS(77, "The food was okay, I guess."),
		sinktest.Bare("Not bad at all!!"),
	}
	wantRows := map[string]storedRow{}
	for _, r := range reqs {
		key := r.Key
		if key == "" {
			key = bareKey(r.Sentence)
		}
		wantRows[key] = want(key, r.Sentence)
		if code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, r); code != http.StatusNoContent {
			t.Errorf("%s: status %d (%s), want 204", r.Name, code, body)
		}
	}
	b := sinktest.BatchOf(sinktest.CEJSON("b-1", sinktest.Data("Best. Day. Ever.")), sinktest.CEJSON("b-2", sinktest.Data("Meh.")))
	wantRows["ce:urn:batch#b-1"] = want("ce:urn:batch#b-1", "Best. Day. Ever.")
	wantRows["ce:urn:batch#b-2"] = want("ce:urn:batch#b-2", "Meh.")
	if code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, b); code != http.StatusOK {
		t.Errorf("batch: status %d (%s), want 200", code, body)
	}
	if diff := cmp.Diff(wantRows, rowsByKey(t, pool)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestScoreDuplicates(t *testing.T) {
	pool := pgstoretest.Open(t)
	ts, _ := newServer(t, sink.Config{}, pgstore.New(pool))
	r := sinktest.WrappedSentence(0, 1, "Twice is nice.")
	for i := range 2 {
		if code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, r); code != http.StatusNoContent {
			t.Errorf("delivery %d: status %d (%s), want 204", i+1, code, body)
		}
	}
	r = sinktest.BinaryCE("same-id", "Fifty times, one row.")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, r); code < 200 || code > 299 {
				t.Errorf("concurrent delivery: status %d (%s), want 2xx", code, body)
			}
		})
	}
	wg.Wait()
	if rows, keys := countRows(t, pool); rows != 2 || keys != 2 {
		t.Errorf("rows, keys = %d, %d, want 2, 2", rows, keys)
	}
}

func TestScoreBadInputsWriteNothing(t *testing.T) {
	pool := pgstoretest.Open(t)
	ts, _ := newServer(t, sink.Config{}, pgstore.New(pool))
	tests := []struct {
		name string
		r    sinktest.Request
		want int
	}{
		{"not JSON", sinktest.JSON("{nope"), 400},
		{"empty sentence", sinktest.JSON(`{"sentence":"  "}`), 422},
		{"bad created_at", sinktest.JSON(`{"sentence":"x","created_at":"soon"}`), 422},
		{"bad UTF-8", sinktest.JSON("{\"sentence\":\"\xc3\x28\"}"), 400},
		{"NUL", sinktest.JSON(`{"sentence":"a\u0000b"}`), 400},
		{"over 10000 characters", sinktest.JSON(sinktest.Data(strings.Repeat("é", 10001))), 413},
		{"XML", sinktest.Request{Header: map[string]string{"Content-Type": "application/xml"}, Body: "<s/>"}, 415},
		{"wrapped id not KafkaSource's", func() sinktest.Request {
			r := sinktest.WrappedSentence(0, 1, "x")
			r.Header["Ce-Id"] = "whatever"
			return r
		}(), 400},
		{"all of a batch bad", sinktest.BatchOf(sinktest.CEJSON("1", `{"sentence":5}`)), 422},
	}
	for _, tt := range tests {
		code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, tt.r)
		if code != tt.want {
			t.Errorf("%s: status %d (%s), want %d", tt.name, code, body, tt.want)
		}
	}
	if rows, _ := countRows(t, pool); rows != 0 {
		t.Errorf("rows after bad inputs = %d, want 0", rows)
	}
}

func TestScoreBatchWithBadItem(t *testing.T) {
	pool := pgstoretest.Open(t)
	ts, _ := newServer(t, sink.Config{}, pgstore.New(pool))
	r := sinktest.BatchOf(sinktest.CEJSON("1", sinktest.Data("Good one.")), sinktest.CEJSON("2", `{"sentence":""}`), sinktest.CEJSON("3", sinktest.Data("Another good one!")))
	if code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, r); code != http.StatusOK {
		t.Errorf("status %d (%s), want 200", code, body)
	}
	got := rowsByKey(t, pool)
	wantRows := map[string]storedRow{
		"ce:urn:batch#1": want("ce:urn:batch#1", "Good one."),
		"ce:urn:batch#3": want("ce:urn:batch#3", "Another good one!"),
	}
	if diff := cmp.Diff(wantRows, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestScoreSeedQuery checks that rows the function writes read back through the seed's query.
func TestScoreSeedQuery(t *testing.T) {
	pool := pgstoretest.Open(t)
	ts, _ := newServer(t, sink.Config{}, pgstore.New(pool))
	for i := range 3 {
		r := sinktest.WrappedSentence(0, i, fmt.Sprintf("Sentence %d is fine.", i))
		r.Body = fmt.Sprintf(`{"sentence":"Sentence %d.","created_at":"2025-04-14T08:00:0%dZ"}`, i, i)
		if code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, r); code != http.StatusNoContent {
			t.Fatalf("status %d (%s)", code, body)
		}
	}
	res, err := pool.Query(t.Context(), "SELECT * FROM sentences ORDER BY created_at DESC")
	if err != nil {
		t.Fatal(err)
	}
	var created []time.Time
	for res.Next() {
		v, err := res.Values()
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range res.FieldDescriptions() {
			if f.Name == "created_at" {
				created = append(created, v[i].(time.Time).UTC())
			}
		}
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC)
	if diff := cmp.Diff([]time.Time{base.Add(2 * time.Second), base.Add(time.Second), base}, created); diff != "" {
		t.Errorf("seed query created_at order (-want +got):\n%s", diff)
	}
}
