package dashboard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/dashboard"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/testenv"
)

// row is a message a test writes to both stores.
type row struct {
	ago      time.Duration // created_at = now - ago
	compound float64
	sentence string
}

// fixture is a dashboard over a fresh PostgreSQL schema and Elasticsearch index holding rows.
type fixture struct {
	now  time.Time
	srv  *serve.Server
	pool *pgxpool.Pool
	ix   *esindex.Index
}

// The test's clock: half a minute into a minute, so rows a whole number of minutes ago fall in
// the middle of 1-minute buckets.
func testNow() time.Time { return time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second) }

func newFixture(t *testing.T, rows []row, deps func(*dashboard.Deps), cfg dashboard.Config) *fixture {
	t.Helper()
	f := &fixture{now: testNow(), pool: pgstoretest.Open(t), ix: esindextest.New(t)}
	es := esindextest.Client(t)
	ctx := t.Context()
	if err := f.ix.EnsureTemplate(ctx); err != nil {
		t.Fatalf("EnsureTemplate: %v", err)
	}
	insertRows(t, f.pool, f.ix, f.now, rows)
	cfg.Index = f.ix.Name()
	cfg.CacheTTL = -1
	cfg.Now = func() time.Time { return f.now }
	d := dashboard.Deps{DB: f.pool, Search: es}
	if deps != nil {
		deps(&d)
	}
	dash, err := dashboard.New(cfg, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = serve.New(serve.Config{}, nil, nil, nil)
	dash.Register(f.srv)
	return f
}

// insertRows writes rows to PostgreSQL and Elasticsearch with unique keys and refreshes the index.
func insertRows(t *testing.T, pool *pgxpool.Pool, ix *esindex.Index, now time.Time, rows []row) {
	t.Helper()
	ctx := t.Context()
	docs := make([]esindex.Doc, 0, len(rows))
	for i, r := range rows {
		key := fmt.Sprintf("k%d-%d-%d", i, now.UnixNano(), rand.Int64())
		created := now.Add(-r.ago)
		label := sentiment.Label(r.compound)
		if _, err := pool.Exec(ctx, `INSERT INTO sentences (sentence, sentiment, created_at, key, pos, neu, neg, label, scored_at)
VALUES ($1, $2, $3, $4, 0, 1, 0, $5, $6)`, r.sentence, r.compound, created, key, label, now); err != nil {
			t.Fatalf("insert: %v", err)
		}
		docs = append(docs, esindex.Doc{
			Key: key, Sentence: r.sentence, CreatedAt: created, Label: label, ScoredAt: now,
			Scores: sentiment.Scores{Compound: r.compound, Neu: 1}, Provenance: event.Provenance{},
		})
	}
	if len(docs) > 0 {
		for i, err := range ix.Bulk(ctx, docs) {
			if err != nil {
				t.Fatalf("bulk item %d: %v", i, err)
			}
		}
	}
	if err := ix.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

// get requests path and decodes the JSON answer into v, returning the status.
func get(t *testing.T, h http.Handler, path string, v any) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
	body := rec.Body.String()
	if v != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("GET %s: decode %q: %v", path, body, err)
		}
	}
	return rec.Code, rec.Header(), body
}

var testRows = []row{
	{1 * time.Minute, 0.8, "The coffee was great today"},
	{2 * time.Minute, -0.6, "Terrible coffee and slow services"},
	{3 * time.Minute, 0, "<script>alert(1)</script> nothing else"},
	{4 * time.Minute, 0.5, "Nice people, good vibes"},
	{6 * time.Minute, -0.9, "The worst delivery ever"},
	{7 * time.Minute, -0.1, "Not quite what I hoped"},
	{30 * time.Minute, 0.3, "A fine coffee afternoon"},
	{2 * time.Hour, 0.9, "Old but gold"},
	{10 * 24 * time.Hour, 0.9, "Far too old for any range"},
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMood(t *testing.T) {
	f := newFixture(t, testRows, nil, dashboard.Config{})
	var m dashboard.Mood
	code, hdr, body := get(t, f.srv, "/api/mood?window=5m", &m)
	if code != http.StatusOK {
		t.Fatalf("GET /api/mood = %d %s", code, body)
	}
	if got := hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	cur, prev := m.Current, m.Previous
	if cur.Count != 4 || cur.Positive != 2 || cur.Neutral != 1 || cur.Negative != 1 {
		t.Errorf("current = %+v, want 4 messages: 2 positive, 1 neutral, 1 negative", cur)
	}
	if cur.Mean == nil || !approx(*cur.Mean, (0.8-0.6+0+0.5)/4) {
		t.Errorf("current mean = %v, want %v", cur.Mean, (0.8-0.6+0+0.5)/4)
	}
	if prev.Count != 2 || prev.Negative != 2 || prev.Mean == nil || !approx(*prev.Mean, -0.5) {
		t.Errorf("previous = %+v (mean %v), want 2 negative with mean -0.5", prev, prev.Mean)
	}
	if m.Change.Mean == nil || !approx(*m.Change.Mean, 0.175+0.5) || m.Change.Count != 2 {
		t.Errorf("change = %+v, want mean +0.675 and count +2", m.Change)
	}
	if !approx(cur.Share.Positive, 0.5) || !approx(m.Change.Share.Negative, 0.25-1) {
		t.Errorf("shares = %+v, change %+v", cur.Share, m.Change.Share)
	}
	if m.Label != "positive" {
		t.Errorf("label = %q, want positive", m.Label)
	}

	// A wider window takes in the 30-minute-old row; the previous window is then empty of the
	// 2-hour-old one only when the window is under 1 h.
	code, _, body = get(t, f.srv, "/api/mood?window=1h", &m)
	if code != http.StatusOK || m.Current.Count != 7 || m.Previous.Count != 1 {
		t.Errorf("GET /api/mood?window=1h = %d, current %d previous %d, want 7 and 1 (%s)", code, m.Current.Count, m.Previous.Count, body)
	}

	for _, bad := range []string{"window=0s", "window=abc", "window=48h", "window=1d2"} {
		code, _, body := get(t, f.srv, "/api/mood?"+bad, nil)
		if code != http.StatusBadRequest || !strings.Contains(body, "window") {
			t.Errorf("GET /api/mood?%s = %d %s, want 400 naming window", bad, code, body)
		}
	}
}

func TestTimeline(t *testing.T) {
	f := newFixture(t, testRows, nil, dashboard.Config{})
	var tl dashboard.Timeline
	if code, _, body := get(t, f.srv, "/api/timeline?range=1h", &tl); code != http.StatusOK {
		t.Fatalf("GET /api/timeline = %d %s", code, body)
	}
	if tl.StepSeconds != 60 || len(tl.Buckets) != 60 {
		t.Fatalf("step %v s, %d buckets; want 60 s and 60", tl.StepSeconds, len(tl.Buckets))
	}
	last := tl.Buckets[len(tl.Buckets)-1]
	if !last.Start.Equal(f.now.Truncate(time.Minute)) || last.Count != 0 {
		t.Errorf("last bucket = %+v, want the current minute, empty", last)
	}
	type cell struct {
		Count, Pos, Neu, Neg int64
		Mean                 float64
	}
	got := map[time.Duration]cell{}
	var total int64
	for _, b := range tl.Buckets {
		total += b.Count
		if b.Count > 0 {
			got[f.now.Truncate(time.Minute).Sub(b.Start)] = cell{b.Count, b.Positive, b.Neutral, b.Negative, *b.Mean}
		} else if b.Mean != nil {
			t.Errorf("empty bucket %v has mean %v", b.Start, *b.Mean)
		}
	}
	want := map[time.Duration]cell{
		1 * time.Minute:  {1, 1, 0, 0, 0.8},
		2 * time.Minute:  {1, 0, 0, 1, -0.6},
		3 * time.Minute:  {1, 0, 1, 0, 0},
		4 * time.Minute:  {1, 1, 0, 0, 0.5},
		6 * time.Minute:  {1, 0, 0, 1, -0.9},
		7 * time.Minute:  {1, 0, 0, 1, -0.1},
		30 * time.Minute: {1, 1, 0, 0, 0.3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buckets by age (-want +got):\n%s", diff)
	}
	if total != 7 {
		t.Errorf("total = %d, want 7", total)
	}

	if code, _, body := get(t, f.srv, "/api/timeline?range=7d", &tl); code != http.StatusOK {
		t.Fatalf("GET /api/timeline?range=7d = %d %s", code, body)
	}
	total = 0
	for _, b := range tl.Buckets {
		total += b.Count
	}
	if tl.StepSeconds != 3600 || len(tl.Buckets) != 168 || total != 8 {
		t.Errorf("7d: step %v s, %d buckets, %d messages; want 3600, 168, 8", tl.StepSeconds, len(tl.Buckets), total)
	}
	if code, _, _ := get(t, f.srv, "/api/timeline?range=8d", nil); code != http.StatusBadRequest {
		t.Errorf("range=8d = %d, want 400", code)
	}
}

func TestLatest(t *testing.T) {
	f := newFixture(t, testRows, nil, dashboard.Config{})
	var l dashboard.Latest
	if code, _, body := get(t, f.srv, "/api/latest?limit=4", &l); code != http.StatusOK {
		t.Fatalf("GET /api/latest = %d %s", code, body)
	}
	var got []string
	for _, m := range l.Messages {
		got = append(got, fmt.Sprintf("%s %s %+.1f", m.Sentence, m.Label, *m.Compound))
	}
	want := []string{
		"The coffee was great today positive +0.8",
		"Terrible coffee and slow services negative -0.6",
		"<script>alert(1)</script> nothing else neutral +0.0",
		"Nice people, good vibes positive +0.5",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("latest, newest first (-want +got):\n%s", diff)
	}
	if code, _, _ := get(t, f.srv, "/api/latest?limit=0", nil); code != http.StatusBadRequest {
		t.Errorf("limit=0 = %d, want 400", code)
	}
}

func TestSearch(t *testing.T) {
	f := newFixture(t, testRows, nil, dashboard.Config{})
	search := func(q url.Values) dashboard.SearchResult {
		t.Helper()
		var r dashboard.SearchResult
		if code, _, body := get(t, f.srv, "/api/search?"+q.Encode(), &r); code != http.StatusOK {
			t.Fatalf("GET /api/search?%s = %d %s", q.Encode(), code, body)
		}
		return r
	}

	r := search(url.Values{"q": {"coffee"}})
	if r.Total != 3 || len(r.Hits) != 3 {
		t.Fatalf("q=coffee: total %d, %d hits; want 3", r.Total, len(r.Hits))
	}
	for _, h := range r.Hits {
		var marked []string
		var text strings.Builder
		for _, s := range h.Highlight {
			text.WriteString(s.Text)
			if s.Match {
				marked = append(marked, s.Text)
			}
		}
		if diff := cmp.Diff([]string{"coffee"}, marked); diff != "" {
			t.Errorf("hit %q: highlighted (-want +got):\n%s", h.Sentence, diff)
		}
		if text.String() != h.Sentence {
			t.Errorf("highlight spans join to %q, want the sentence %q", text.String(), h.Sentence)
		}
	}

	if r := search(url.Values{"q": {"coffee"}, "label": {"negative"}}); r.Total != 1 || r.Hits[0].Sentence != "Terrible coffee and slow services" || r.Hits[0].Label != "negative" {
		t.Errorf("q=coffee label=negative: %+v, want the terrible coffee only", r)
	}
	if r := search(url.Values{"q": {"coffee"}, "range": {"10m"}}); r.Total != 2 {
		t.Errorf("q=coffee range=10m: total %d, want 2", r.Total)
	}
	from := f.now.Add(-45 * time.Minute).Format(time.RFC3339)
	to := f.now.Add(-15 * time.Minute).Format(time.RFC3339)
	if r := search(url.Values{"q": {"coffee"}, "from": {from}, "to": {to}}); r.Total != 1 || r.Hits[0].Sentence != "A fine coffee afternoon" {
		t.Errorf("q=coffee from/to: %+v, want the afternoon coffee", r)
	}
	// The English sub-field stems where the node has the built-in english analyzer: "service"
	// finds "services". The local integ-test-zip's fallback does not stem.
	if f.ix.Analyzer() == esindex.EnglishAnalyzer {
		if r := search(url.Values{"q": {"service"}}); r.Total != 1 {
			t.Errorf("q=service: total %d, want 1 (stemmed match)", r.Total)
		}
	} else if r := search(url.Values{"q": {"SERVICES"}}); r.Total != 1 {
		t.Errorf("q=SERVICES: total %d, want 1 (the fallback analyzer lowercases)", r.Total)
	}
	// An empty query with a filter lists the newest first.
	if r := search(url.Values{"label": {"positive"}}); r.Total != 5 || r.Hits[0].Sentence != "The coffee was great today" || r.Hits[0].Highlight != nil {
		t.Errorf("label=positive: total %d, first %+v; want 5, newest first, no highlight", r.Total, r.Hits)
	}
	// User syntax never fails.
	for _, q := range []string{`"unclosed (great +-`, `coffee AND OR NOT`, `*?~2^3`, `\`, `<script>`, `sentence:great`, `a/b[c]{d}`} {
		var r dashboard.SearchResult
		if code, _, body := get(t, f.srv, "/api/search?"+url.Values{"q": {q}}.Encode(), &r); code != http.StatusOK {
			t.Errorf("q=%q = %d %s, want 200", q, code, body)
		}
	}
	if r := search(url.Values{"q": {"script"}}); r.Total != 1 || r.Hits[0].Sentence != "<script>alert(1)</script> nothing else" {
		t.Errorf("q=script: %+v, want the script sentence as text", r)
	}
	for _, bad := range []url.Values{{"label": {"happy"}}, {"q": {strings.Repeat("x", 501)}}, {"from": {"yesterday"}}, {"size": {"1000"}}} {
		if code, _, body := get(t, f.srv, "/api/search?"+bad.Encode(), nil); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("GET /api/search?%s = %d %s, want 400 with a message", bad.Encode(), code, body)
		}
	}
}

// TestUnavailable points every dependency at a closed port: panels answer 503 naming the
// dependency, the pipeline answers what it can, and nothing leaks addresses.
func TestUnavailable(t *testing.T) {
	pc, err := pgxpool.ParseConfig("postgres://postgres:secret@127.0.0.1:1/nope?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	es, err := esindex.NewClient(esindex.ClientConfig{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	opts := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1"), kgo.DialTimeout(200 * time.Millisecond), kgo.RequestRetries(0)}
	kcl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	d, err := dashboard.New(dashboard.Config{CacheTTL: -1, QueryTimeout: time.Second}, dashboard.Deps{
		DB: pool, Search: es, Kafka: kadm.NewClient(kcl), DeadLetters: dashboard.NewDeadLetterReader(opts...),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.New(serve.Config{}, nil, nil, nil)
	d.Register(srv)

	for path, dep := range map[string]string{
		"/api/mood": "postgres", "/api/timeline": "postgres", "/api/latest": "postgres",
		"/api/search?q=x": "elasticsearch",
	} {
		start := time.Now()
		code, _, body := get(t, srv, path, nil)
		var got struct{ Error, Unavailable string }
		_ = json.Unmarshal([]byte(body), &got)
		if code != http.StatusServiceUnavailable || got.Unavailable != dep || got.Error == "" {
			t.Errorf("GET %s = %d %s, want 503 naming %s", path, code, body, dep)
		}
		if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "secret") || strings.Contains(body, "dial") {
			t.Errorf("GET %s leaks the cause: %s", path, body)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("GET %s took %v", path, el)
		}
	}
	var p dashboard.Pipeline
	code, _, body := get(t, srv, "/api/pipeline", &p)
	if code != http.StatusOK {
		t.Fatalf("GET /api/pipeline = %d %s", code, body)
	}
	if diff := cmp.Diff([]string{"kafka", "postgres", "elasticsearch"}, p.Unavailable); diff != "" {
		t.Errorf("unavailable (-want +got):\n%s", diff)
	}
	if len(p.Warnings) < 3 || len(p.Groups) != 2 || p.Groups[0].Status != "unknown" || p.DeadLetters != nil {
		t.Errorf("pipeline = %s", body)
	}
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "secret") {
		t.Errorf("pipeline leaks the cause: %s", body)
	}
	if code, _, body := get(t, srv, "/", nil); code != http.StatusOK || !strings.Contains(body, "Mood now") {
		t.Errorf("GET / = %d, want the page while everything is down", code)
	}
}

// TestPipeline checks lag per partition, a missing group, dead letters with decoded reasons and
// the newest scored message against a topic, groups and a dead-letter topic of the test's own.
func TestPipeline(t *testing.T) {
	brokers := strings.Split(testenv.KafkaBrokers(t), ",")
	ctx := t.Context()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	topic, dlq := "dash-sentence-"+suffix, "dash-dlq-"+suffix
	group, missing := "dash-score-"+suffix, "dash-missing-"+suffix

	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	adm := kadm.NewClient(kcl)
	for _, tp := range []struct {
		name string
		n    int32
	}{{topic, 3}, {dlq, 1}} {
		if _, err := adm.CreateTopic(ctx, tp.n, 1, nil, tp.name); err != nil {
			t.Fatalf("create topic %s: %v", tp.name, err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = adm.DeleteTopics(ctx, topic, dlq)
		_, _ = adm.DeleteGroups(ctx, group)
	})
	// 4 records on partition 0 and 2 on partition 1; the group has committed 1 on partition 0.
	var recs []*kgo.Record
	for i := range 6 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(min(i/4, 1)), Value: []byte(`{"sentence":"x"}`)})
	}
	reason := base64.StdEncoding.EncodeToString([]byte(`{"error":"sentence too long","field":"data.sentence"}`))
	recs = append(recs,
		&kgo.Record{Topic: dlq, Value: []byte(`{"sentence":"<b>bad</b>"}`), Headers: []kgo.RecordHeader{
			{Key: "ce_id", Value: []byte("ev-1")}, {Key: "ce_source", Value: []byte("/producer")},
			{Key: "ce_knativeerrorcode", Value: []byte("422")}, {Key: "ce_knativeerrordest", Value: []byte("http://score")},
			{Key: "ce_knativeerrordata", Value: []byte(reason)},
		}},
		&kgo.Record{Topic: dlq, Value: []byte(`plain`), Headers: []kgo.RecordHeader{
			{Key: "ce_id", Value: []byte("ev-2")}, {Key: "ce_knativeerrorcode", Value: []byte("400")},
			{Key: "ce_knativeerrordata", Value: []byte(base64.StdEncoding.EncodeToString([]byte("not json at all")))},
		}},
	)
	pcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, group, offs); err != nil {
		t.Fatalf("commit: %v", err)
	}

	f := newFixture(t, testRows[:2], func(d *dashboard.Deps) {
		d.Kafka = adm
		d.DeadLetters = dashboard.NewDeadLetterReader(kgo.SeedBrokers(brokers...))
	}, dashboard.Config{
		Topic: topic, DeadLetterTopic: dlq,
		Groups: []dashboard.Group{{Name: group, Sink: "score"}, {Name: missing, Sink: "index"}},
	})
	var p dashboard.Pipeline
	code, _, body := get(t, f.srv, "/api/pipeline", &p)
	if code != http.StatusOK {
		t.Fatalf("GET /api/pipeline = %d %s", code, body)
	}
	if len(p.Unavailable) != 0 {
		t.Errorf("unavailable = %v, want none (%s)", p.Unavailable, body)
	}
	g := p.Groups[0]
	wantParts := []dashboard.PartitionLag{
		{Topic: topic, Partition: 0, Committed: 1, End: 4, Lag: 3},
		{Topic: topic, Partition: 1, Committed: -1, End: 2, Lag: 2},
		{Topic: topic, Partition: 2, Committed: -1, End: 0, Lag: 0},
	}
	if diff := cmp.Diff(wantParts, g.Partitions); diff != "" {
		t.Errorf("partitions of %s (-want +got):\n%s", group, diff)
	}
	if g.Lag != 5 || g.Status != "down" || g.State != "Empty" {
		t.Errorf("group %s: lag %d status %q state %q; want 5, down (no consumer, events waiting), Empty", group, g.Lag, g.Status, g.State)
	}
	if m := p.Groups[1]; m.Status != "down" || m.State != "Dead" {
		t.Errorf("missing group: %+v, want down/Dead", m)
	}
	if p.DeadLetters == nil || p.DeadLetters.Count != 2 || len(p.DeadLetters.Latest) != 2 {
		t.Fatalf("dead letters = %+v, want 2", p.DeadLetters)
	}
	latest := p.DeadLetters.Latest
	if latest[0].ID != "ev-2" || latest[0].Code != "400" || latest[0].Reason != "not json at all" {
		t.Errorf("newest dead letter = %+v", latest[0])
	}
	if latest[1].ID != "ev-1" || latest[1].Code != "422" || latest[1].Reason != "sentence too long (data.sentence)" ||
		latest[1].Source != "/producer" || latest[1].Dest != "http://score" || latest[1].Data != `{"sentence":"<b>bad</b>"}` {
		t.Errorf("older dead letter = %+v", latest[1])
	}
	if p.NewestScored == nil || !p.NewestScored.Equal(f.now) || p.NewestScoredAge == nil || *p.NewestScoredAge != 0 {
		t.Errorf("newest scored = %v (age %v), want %v", p.NewestScored, p.NewestScoredAge, f.now)
	}
	if p.ScoredPerSecond == nil || !approx(*p.ScoredPerSecond, 2.0/60) {
		t.Errorf("scored per second = %v, want 2/60", p.ScoredPerSecond)
	}
	if p.IndexedDocs == nil || *p.IndexedDocs != 2 {
		t.Errorf("indexed docs = %v, want 2", p.IndexedDocs)
	}
	joined := strings.Join(p.Warnings, "\n")
	for _, w := range []string{"score sink is down", "index sink is down", "dead letters"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q lack %q", joined, w)
		}
	}
}

// TestTimelineRollup checks that the timeline read from the rollup equals the one read from
// sentences, for rows added through pgstore's per-minute rollup trigger (migration 0002).
func TestTimelineRollup(t *testing.T) {
	f := newFixture(t, testRows, nil, dashboard.Config{})
	insertRows(t, f.pool, f.ix, f.now, []row{{90 * time.Second, 0.7, "late one"}, {95 * time.Second, -0.2, "another"}})
	for _, rng := range []string{"1h", "7d"} {
		var fromRollup, fromRows dashboard.Timeline
		if code, _, body := get(t, f.srv, "/api/timeline?range="+rng, &fromRollup); code != http.StatusOK {
			t.Fatalf("GET /api/timeline = %d %s", code, body)
		}
		var total int64
		for _, b := range fromRollup.Buckets {
			total += b.Count
		}
		if want := map[string]int64{"1h": 9, "7d": 10}[rng]; total != want {
			t.Errorf("range %s from the rollup: %d messages, want %d", rng, total, want)
		}
		// The same dashboard type without the rollup: a fresh schema copy is overkill, so read
		// the raw table through a dashboard whose rollup query fails (the table is renamed).
		if _, err := f.pool.Exec(t.Context(), `ALTER TABLE sentences_minute RENAME TO sentences_minute_off`); err != nil {
			t.Fatal(err)
		}
		d, err := dashboard.New(dashboard.Config{Index: f.ix.Name(), CacheTTL: -1, Now: func() time.Time { return f.now }}, dashboard.Deps{DB: f.pool}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := serve.New(serve.Config{}, nil, nil, nil)
		d.Register(srv)
		if code, _, body := get(t, srv, "/api/timeline?range="+rng, &fromRows); code != http.StatusOK {
			t.Fatalf("GET /api/timeline without rollup = %d %s", code, body)
		}
		if _, err := f.pool.Exec(t.Context(), `ALTER TABLE sentences_minute_off RENAME TO sentences_minute`); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromRows, fromRollup, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })); diff != "" {
			t.Errorf("range %s: rollup vs rows (-rows +rollup):\n%s", rng, diff)
		}
	}
}
