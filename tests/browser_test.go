package tests

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/dashboard"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/testenv"
)

// browserChromium is where Debian's chromium package puts the browser.
const browserChromium = "/usr/bin/chromium"

// browserPath returns the Chromium to drive. When it is missing and the test runs as root, it
// installs Debian's chromium package; otherwise it skips t, or fails it under CI.
func browserPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(browserChromium); err == nil {
		return browserChromium
	}
	reason := browserChromium + " is missing and the test is not root, so it cannot apt-get install chromium"
	if os.Geteuid() == 0 {
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
		defer cancel()
		var out strings.Builder
		for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				reason = fmt.Sprintf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out.String())
				break
			}
		}
		if _, err := os.Stat(browserChromium); err == nil {
			return browserChromium
		}
	}
	if testenv.InCI() {
		t.Fatal("CI is set but no browser: " + reason)
	}
	t.Skip("no browser: " + reason)
	return ""
}

// browserRow is a message written to PostgreSQL and Elasticsearch.
type browserRow struct {
	ago      time.Duration
	compound float64
	sentence string
}

func browserInsert(t *testing.T, pool *pgxpool.Pool, ix *esindex.Index, rows []browserRow) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	var docs []esindex.Doc
	for i, r := range rows {
		key := fmt.Sprintf("browser-%d-%d", now.UnixNano(), i)
		label := sentiment.Label(r.compound)
		created := now.Add(-r.ago)
		if _, err := pool.Exec(ctx, `INSERT INTO sentences (sentence, sentiment, created_at, key, pos, neu, neg, label)
VALUES ($1, $2, $3, $4, 0, 1, 0, $5)`, r.sentence, r.compound, created, key, label); err != nil {
			t.Fatalf("insert: %v", err)
		}
		docs = append(docs, esindex.Doc{Key: key, Sentence: r.sentence, CreatedAt: created, Label: label,
			ScoredAt: now, Scores: sentiment.Scores{Compound: r.compound, Neu: 1}})
	}
	for i, err := range ix.Bulk(ctx, docs) {
		if err != nil {
			t.Fatalf("bulk item %d: %v", i, err)
		}
	}
	if err := ix.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

// TestBrowserDashboard drives headless Chromium against the dashboard over real PostgreSQL,
// Elasticsearch and Kafka: every panel shows the test's data, a row written while the page is open
// appears without a reload, a <script> sentence is shown as text, and a screenshot is saved to
// tests/artifacts/dashboard.png.
func TestBrowserDashboard(t *testing.T) {
	pool := pgstoretest.Open(t)
	ix := esindextest.New(t)
	es := esindextest.Client(t)
	brokers := strings.Split(testenv.KafkaBrokers(t), ",")
	chromium := browserPath(t)
	ctx := t.Context()
	if err := ix.EnsureTemplate(ctx); err != nil {
		t.Fatalf("EnsureTemplate: %v", err)
	}

	// Kafka: a topic and a dead-letter topic of the test's own; its groups do not exist, so the
	// pipeline panel must report both sinks down.
	topic, dlq := uniqueName("browser-sentence"), uniqueName("browser-dlq")
	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	adm := kadm.NewClient(kcl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, dlq); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic, dlq) })

	const xss = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> sneaky`
	browserInsert(t, pool, ix, []browserRow{
		{30 * time.Second, 0.8, "The coffee was great today"},
		{60 * time.Second, 0.6, "Lovely coffee, friendly staff"},
		{90 * time.Second, -0.7, "Terrible coffee and slow service"},
		{120 * time.Second, 0, xss},
		{10 * time.Minute, 0.4, "Older but still fine"},
	})

	d, err := dashboard.New(dashboard.Config{
		Index: ix.Name(), Topic: topic, DeadLetterTopic: dlq, Refresh: 500 * time.Millisecond, CacheTTL: -1,
		Groups: []dashboard.Group{{Name: topic + "-score", Sink: "score (PostgreSQL)"}, {Name: topic + "-index", Sink: "index (Elasticsearch)"}},
	}, dashboard.Deps{DB: pool, Search: es, Kafka: adm, DeadLetters: dashboard.NewDeadLetterReader(kgo.SeedBrokers(brokers...))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.New(serve.Config{}, nil, nil, nil)
	d.Register(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	actx, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1500),
	)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	// poll waits until the JavaScript predicate is true, then reports what it was waiting for on
	// failure together with the page's text.
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).textContent`))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	if _, err := chromedp.Run(bctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](`window.__marker = 42`)); err != nil {
		t.Fatal(err)
	}

	// Mood: the last 5 minutes hold 4 messages, 2 positive, 1 neutral, 1 negative.
	poll("mood count", `document.getElementById('mood-count').textContent === '4'`)
	for id, want := range map[string]string{"#mood-positive": "2", "#mood-neutral": "1", "#mood-negative": "1", "#mood-mean": "+0.175", "#mood-label": "positive"} {
		if got := text(id); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}

	// Timeline: bars with 5 messages in all over the last hour.
	poll("timeline", `[...document.querySelectorAll('#timeline-chart g[data-count]')].reduce((n, g) => n + Number(g.dataset.count), 0) === 5`)

	// Latest: newest first, the <script> sentence as text, and no script ran.
	poll("latest", `document.querySelectorAll('#latest-list li').length === 5`)
	if got := text("#latest-list li .text"); got != "The coffee was great today" {
		t.Errorf("newest message = %q", got)
	}
	if got := text("#latest-list li:nth-child(4) .text"); got != xss {
		t.Errorf("script sentence shown as %q, want the text %q", got, xss)
	}
	n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('main script, main img').length + (window.__xss ? 100 : 0)`))
	if err != nil || n != 0 {
		t.Errorf("script or img elements from data, or window.__xss set: %d (%v)", n, err)
	}

	// Search: 3 coffee messages, the word highlighted; then only the negative one.
	if _, err := chromedp.Run(bctx, chromedp.SetValue("#search-q", "coffee")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Click("#search-form button")); err != nil {
		t.Fatal(err)
	}
	poll("search count", `document.getElementById('search-count').textContent === '3 matches'`)
	marks, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#search-results mark')].map(m => m.textContent)`))
	if err != nil || len(marks) != 3 || marks[0] != "coffee" {
		t.Errorf("highlighted = %q (%v), want coffee three times", marks, err)
	}
	if _, err := chromedp.Run(bctx, chromedp.SetValue("#search-label", "negative")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Click("#search-form button")); err != nil {
		t.Fatal(err)
	}
	poll("search label filter", `document.getElementById('search-count').textContent === '1 match' &&
		document.querySelector('#search-results li .text').textContent === 'Terrible coffee and slow service'`)
	// Bad syntax is not an error.
	if _, err := chromedp.Run(bctx, chromedp.SetValue("#search-q", `"coffee (AND`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Click("#search-form button")); err != nil {
		t.Fatal(err)
	}
	poll("search with bad syntax", `document.querySelector('#search .panel-status').hidden && /match/.test(document.getElementById('search-count').textContent)`)
	if _, err := chromedp.Run(bctx, chromedp.SetValue("#search-q", "coffee")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.SetValue("#search-label", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Click("#search-form button")); err != nil {
		t.Fatal(err)
	}

	// Pipeline: both sinks' groups are missing, so both are down and the page warns.
	poll("pipeline", `document.querySelectorAll('#pipe-groups tr.status-down').length === 2 &&
		document.getElementById('dlq-count').textContent === '0' &&
		/sink is down/.test(document.getElementById('warnings').textContent)`)
	if got := text("#pipe-indexed"); got != "5" {
		t.Errorf("indexed documents = %q, want 5", got)
	}

	// Live: a row written now shows up without a reload.
	browserInsert(t, pool, ix, []browserRow{{0, -0.5, "Fresh complaint <b>arrived</b> live"}})
	poll("live row", `document.querySelector('#latest-list li .text').textContent === 'Fresh complaint <b>arrived</b> live' &&
		document.getElementById('mood-count').textContent === '5'`)
	if m, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__marker`)); err != nil || m != 42 {
		t.Errorf("window.__marker = %d (%v): the page reloaded", m, err)
	}
	poll("search refreshed", `document.getElementById('search-count').textContent === '3 matches'`)

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("artifacts", "dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: tests/%s (%d bytes)", out, len(png))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
