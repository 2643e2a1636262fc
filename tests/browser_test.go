package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
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

// browserInsert writes rows as one batch that arrived now: in both stores they share the scored_at
// now, as the rows of one batch do, and the latest messages list them by created_at.
func browserInsert(t *testing.T, pool *pgxpool.Pool, ix *esindex.Index, rows []browserRow) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	var docs []esindex.Doc
	for i, r := range rows {
		key := fmt.Sprintf("browser-%d-%d", now.UnixNano(), i)
		label := sentiment.Label(r.compound)
		created := now.Add(-r.ago)
		if _, err := pool.Exec(ctx, `INSERT INTO sentences (sentence, sentiment, created_at, key, pos, neu, neg, label, scored_at)
VALUES ($1, $2, $3, $4, 0, 1, 0, $5, $6)`, r.sentence, r.compound, created, key, label, now); err != nil {
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

// browserGatewayPrefix is where the OpenFaaS gateway serves the dashboard (stack.yml).
const browserGatewayPrefix = "/function/dashboard"

// TestBrowserDashboard drives headless Chromium against the dashboard over real PostgreSQL,
// Elasticsearch and Kafka: every panel shows the test's data, a row written while the page is open
// appears without a reload, a <script> sentence is shown as text, and a screenshot is saved to
// tests/artifacts/dashboard.png. It does so twice: at /, and under /function/dashboard/ through a
// reverse proxy that strips the prefix as the OpenFaaS gateway does, where no request may leave
// the prefix (every URL the page uses must be relative).
func TestBrowserDashboard(t *testing.T) {
	t.Run("at /", func(t *testing.T) { browserDashboard(t, "") })
	t.Run("under "+browserGatewayPrefix+"/", func(t *testing.T) { browserDashboard(t, browserGatewayPrefix) })
}

// browserGateway is a reverse proxy in front of the dashboard that serves it under prefix and
// strips the prefix before forwarding, like the OpenFaaS gateway (/function/dashboard/api/mood
// reaches the function as /api/mood, /function/dashboard as /). Requests outside the prefix get
// 404 and are recorded.
type browserGateway struct {
	prefix  string
	proxy   *httputil.ReverseProxy
	mu      sync.Mutex
	escaped []string
}

func newBrowserGateway(prefix string, upstream *url.URL) *browserGateway {
	g := &browserGateway{prefix: prefix}
	g.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(upstream)
		rest := strings.TrimPrefix(pr.In.URL.Path, prefix)
		if rest == "" {
			rest = "/"
		}
		pr.Out.URL.Path, pr.Out.URL.RawPath = rest, ""
		pr.SetXForwarded()
	}}
	return g
}

func (g *browserGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != g.prefix && !strings.HasPrefix(r.URL.Path, g.prefix+"/") {
		if r.URL.Path != "/favicon.ico" { // the browser asks the origin for it, whatever the page says
			g.mu.Lock()
			g.escaped = append(g.escaped, r.Method+" "+r.URL.RequestURI())
			g.mu.Unlock()
		}
		http.NotFound(w, r)
		return
	}
	g.proxy.ServeHTTP(w, r)
}

func (g *browserGateway) escapedRequests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.escaped)
}

// browserDashboard runs the browser checks with the dashboard served at prefix+"/" ("" for /).
func browserDashboard(t *testing.T, prefix string) {
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
	pageURL := hs.URL + "/"
	var gw *browserGateway
	if prefix != "" {
		up, err := url.Parse(hs.URL)
		if err != nil {
			t.Fatal(err)
		}
		gw = newBrowserGateway(prefix, up)
		gs := httptest.NewServer(gw)
		t.Cleanup(gs.Close)
		pageURL = gs.URL + prefix + "/"
		t.Cleanup(func() {
			if e := gw.escapedRequests(); len(e) > 0 {
				t.Errorf("the page made %d request(s) outside %s/, which a gateway would not route to the dashboard: %q", len(e), prefix, e)
			}
		})
	}

	bctx, poll := browserOpen(t, chromium, pageURL)
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).textContent`))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](`window.__marker = 42`)); err != nil {
		t.Fatal(err)
	}
	// The style sheet loaded (a wrong URL leaves the page unstyled but working).
	poll("style sheet", `[...document.styleSheets].some(s => s.href && s.href.includes('static/app.css') && s.cssRules.length > 0)`)

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
	if prefix != "" {
		out = filepath.Join("artifacts", "dashboard-"+strings.ReplaceAll(strings.Trim(prefix, "/"), "/", "-")+".png")
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: tests/%s (%d bytes)", out, len(png))
}

// TestBrowserDrivers drives headless Chromium against a window with "battery" in 4 of its 5
// negative messages and "ANC" in 3 of its 4 positive ones, and a message dated 60 years ahead
// that arrived before them: the drivers panel lists each term on its side with its count, a click
// on a term fills the search box and searches for it, the mood panel says one future-dated
// message is left out, and the latest messages mark it without putting it on top.
func TestBrowserDrivers(t *testing.T) {
	pool := pgstoretest.Open(t)
	ix := esindextest.New(t)
	es := esindextest.Client(t)
	chromium := browserPath(t)
	ctx := t.Context()
	if err := ix.EnsureTemplate(ctx); err != nil {
		t.Fatalf("EnsureTemplate: %v", err)
	}
	browserInsert(t, pool, ix, []browserRow{{-60 * 365 * 24 * time.Hour, 0, "A message from a clock 60 years ahead"}})
	browserInsert(t, pool, ix, []browserRow{
		{30 * time.Second, -0.6, "The battery died on the train"},
		{45 * time.Second, -0.5, "Battery drains too fast"},
		{60 * time.Second, -0.4, "My battery is at zero again"},
		{75 * time.Second, -0.5, "Why does the battery die so fast"},
		{90 * time.Second, -0.5, "The app crashed"},
		{100 * time.Second, 0.7, "The ANC is wonderful"},
		{110 * time.Second, 0.6, "ANC on the plane was a blessing"},
		{120 * time.Second, 0.8, "Loving the ANC"},
		{130 * time.Second, 0.5, "Nice fit"},
		{140 * time.Second, 0, "Ordered a pair"},
		{150 * time.Second, 0, "Does the case charge wirelessly"},
	})
	d, err := dashboard.New(dashboard.Config{Index: ix.Name(), Refresh: 500 * time.Millisecond, CacheTTL: -1},
		dashboard.Deps{DB: pool, Search: es}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.New(serve.Config{}, nil, nil, nil)
	d.Register(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	bctx, poll := browserOpen(t, chromium, hs.URL+"/")
	poll("drivers", `document.querySelector('#drivers-negative li[data-term="battery"] .count')?.textContent === '4 · 80.0%' &&
		document.querySelector('#drivers-positive li[data-term="anc"] .count')?.textContent === '3 · 75.0%'`)
	terms, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#drivers .term')].map(b => b.textContent)`))
	if err != nil || !slices.Equal(terms, []string{"battery", "anc"}) {
		t.Errorf("driver terms = %q (%v), want battery (negative) and anc (positive) only", terms, err)
	}
	poll("future-dated note", `!document.getElementById('mood-future').hidden &&
		/^1 message dated in the future/.test(document.getElementById('mood-future').textContent) &&
		document.getElementById('mood-count').textContent === '11'`)
	poll("latest", `document.querySelectorAll('#latest-list li').length === 12 &&
		document.querySelectorAll('#latest-list li.future').length === 1 &&
		!document.querySelector('#latest-list li').classList.contains('future') &&
		document.querySelector('#latest-list li.future .badge.future') !== null`)

	if _, err := chromedp.Run(bctx, chromedp.Click(`#drivers-negative li[data-term="battery"] button`)); err != nil {
		t.Fatal(err)
	}
	poll("search for the clicked term", `document.getElementById('search-q').value === 'battery' &&
		document.getElementById('search-count').textContent === '4 matches' &&
		document.querySelectorAll('#search-results mark').length === 4`)

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("artifacts", "dashboard-drivers.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: tests/%s (%d bytes)", out, len(png))
}

// browserOpen starts a headless Chromium, opens url, and returns the page's context and a poll
// that waits up to 20 s for a JavaScript condition, failing t with the page's text when it never
// holds.
func browserOpen(t *testing.T, chromium, url string) (context.Context, func(what, expr string)) {
	t.Helper()
	actx, cancel := chromedp.NewExecAllocator(t.Context(),
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
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	bctx, cancel = context.WithTimeout(bctx, 2*time.Minute)
	t.Cleanup(cancel)
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	return bctx, poll
}

// TestBrowserShiftBanner seeds two hours at 35% negative and then a minute at 90%: the page
// shows the mood-shift banner the watch rule gives (/api/shift), and without that minute it
// shows none.
func TestBrowserShiftBanner(t *testing.T) {
	chromium := browserPath(t)
	var baseline, burst []browserRow
	for i := range 600 {
		c, s := 0.6, "Works great"
		if i%20 < 7 {
			c, s = -0.6, "It broke"
		}
		baseline = append(baseline, browserRow{11*time.Minute + time.Duration(i)*11*time.Second, c, s})
	}
	for i := range 150 {
		c, s := -0.7, "It broke again"
		if i%10 == 0 {
			c, s = 0.5, "Fine"
		}
		burst = append(burst, browserRow{time.Minute + time.Duration(i)*100*time.Millisecond, c, s})
	}
	for _, tt := range []struct {
		name    string
		rows    []browserRow
		shifted bool
	}{{"shifted", append(baseline, burst...), true}, {"steady", baseline, false}} {
		t.Run(tt.name, func(t *testing.T) {
			pool := pgstoretest.Open(t)
			ix := esindextest.New(t)
			if err := ix.EnsureTemplate(t.Context()); err != nil {
				t.Fatalf("EnsureTemplate: %v", err)
			}
			browserInsert(t, pool, ix, tt.rows)
			d, err := dashboard.New(dashboard.Config{Index: ix.Name(), Refresh: 500 * time.Millisecond, CacheTTL: -1},
				dashboard.Deps{DB: pool, Search: esindextest.Client(t)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv := serve.New(serve.Config{}, nil, nil, nil)
			d.Register(srv)
			hs := httptest.NewServer(srv)
			t.Cleanup(hs.Close)
			bctx, poll := browserOpen(t, chromium, hs.URL+"/")
			poll("the first refresh", `document.getElementById('mood-count').textContent !== '–'`)
			if tt.shifted {
				poll("the banner", `!document.getElementById('shift-banner').hidden &&
					/^Mood shift \(negative\): 9\d% of the last 10 min negative, against 35% before/.test(document.getElementById('shift-banner').textContent)`)
				return
			}
			time.Sleep(time.Second) // two more refreshes
			hidden, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById('shift-banner').hidden`))
			if err != nil || !hidden {
				t.Errorf("banner hidden = %v (%v), want hidden without a shift", hidden, err)
			}
		})
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// TestDashboardUnderPrefix checks, without a browser, the page's URLs and the dashboard behind
// both kinds of proxy: one that strips its prefix (the OpenFaaS gateway) and one that keeps it
// and says so with X-Forwarded-Prefix. Every URL in the page and its script is relative; the
// page, its assets and the API answer under the prefix; the prefix without its slash redirects
// to it with the slash.
func TestDashboardUnderPrefix(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{CacheTTL: -1}, dashboard.Deps{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.New(serve.Config{}, nil, nil, nil)
	d.Register(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	up, err := url.Parse(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	strip := httptest.NewServer(newBrowserGateway(browserGatewayPrefix, up))
	t.Cleanup(strip.Close)
	keep := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(up)
		pr.Out.Header.Set("X-Forwarded-Prefix", "/dash")
	}})
	t.Cleanup(keep.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, http.Header, string) {
		t.Helper()
		res, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}

	code, _, page := get(hs.URL + "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	attr := regexp.MustCompile(`(?i)\s(?:href|src|action)="([^"]*)"`)
	var links []string
	for _, m := range attr.FindAllStringSubmatch(page, -1) {
		links = append(links, m[1])
		if u, err := url.Parse(m[1]); err != nil || u.IsAbs() || strings.HasPrefix(m[1], "/") {
			t.Errorf("the page links %q: want a URL relative to the page", m[1])
		}
	}
	_, _, script := get(hs.URL + "/static/app.js")
	for _, m := range regexp.MustCompile(`(?:fetch|api)\(\s*['"`+"`"+`](/[^'"`+"`"+`]*)`).FindAllStringSubmatch(script, -1) {
		t.Errorf("app.js requests %q: want a URL relative to the page", m[1])
	}

	for _, base := range []string{strip.URL + browserGatewayPrefix + "/", keep.URL + "/dash/"} {
		if code, _, body := get(base); code != http.StatusOK || !strings.Contains(body, "How people feel right now") {
			t.Errorf("GET %s = %d, want the page", base, code)
		}
		for _, l := range links {
			code, _, _ := get(base + l)
			switch {
			case strings.HasPrefix(l, "static/") && code != http.StatusOK:
				t.Errorf("GET %s = %d, want 200", base+l, code)
			case code == http.StatusNotFound:
				t.Errorf("GET %s = 404: the page links what the dashboard does not serve there", base+l)
			}
		}
		// No store is configured: the API answers 503 with its JSON reason, from the dashboard.
		if code, hdr, _ := get(base + "api/latest"); code != http.StatusServiceUnavailable || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("GET %sapi/latest = %d %q, want the dashboard's 503 JSON", base, code, hdr.Get("Content-Type"))
		}
	}
	if code, hdr, _ := get(keep.URL + "/dash"); code != http.StatusMovedPermanently || hdr.Get("Location") != "/dash/" {
		t.Errorf("GET /dash behind a prefix-keeping proxy = %d, Location %q; want 301 to /dash/", code, hdr.Get("Location"))
	}
	if code, _, _ := get(keep.URL + "/elsewhere/api/mood"); code != http.StatusNotFound {
		t.Errorf("GET /elsewhere/api/mood with X-Forwarded-Prefix /dash = %d, want 404", code)
	}
}
