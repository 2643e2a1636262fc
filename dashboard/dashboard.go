// Package dashboard is the read side of sentistream for people: an HTML page that answers "how do
// people feel right now?" and keeps itself up to date, and the JSON API behind it.
//
// # Routes
//
//	GET /                  the page (html/template, assets embedded, no CDN)
//	GET /static/{file}     its script and style sheet (cached; the page links them by content hash)
//	GET /api/mood          mean compound, label shares and volume over a window, with the change
//	                       against the window before (?window=5m, 1m…24h)
//	GET /api/timeline      per-bucket volume by label and mean compound over a range
//	                       (?range=1h, 15m…7d; 1-minute buckets up to 3h, coarser beyond)
//	GET /api/latest        the messages that arrived last, by scored_at (?limit=50, 1…200)
//	GET /api/search        full-text search in Elasticsearch with highlights, a label filter, a time
//	                       filter and the hit count (?q=&label=&range= or &from=&to= RFC 3339, &size=20)
//	GET /api/drivers       the words and two-word phrases over-represented in the window's negative
//	                       and positive messages, with counts, shares, mean compound and the change
//	                       against the window before (?window=5m, 1m…24h; see [esindex.Index.Drivers])
//	GET /api/pipeline      Kafka lag per partition per consumer group, dead letters (count, latest
//	                       with decoded reasons), the age of the newest scored message, events/s,
//	                       and warnings when a sink is behind or down
//	GET /api/shift         the watch function's mood-shift verdict for this minute (package watch):
//	                       baseline and window, z, and direction ("" when the mood holds)
//	POST /api/events       a sink for the watch function's dev.sentistream.mood.shifted events (K_SINK
//	                       locally); GET /api/events lists the last 20 this instance received
//
// Every /api answer is JSON with Cache-Control: no-store. A panel whose dependency cannot answer
// gets 503 {"error": "...", "unavailable": "postgres"|"elasticsearch"|"kafka"}; the pipeline
// answer is partial instead, listing what it could not reach under "unavailable". Nothing a
// dependency says (DSNs, hosts, stack traces) reaches a client: causes go to the log only.
//
// # Live updates
//
// The page polls the panel endpoints every [Config.Refresh] (2 s by default) and redraws them in
// place. Polling rather than server-sent events keeps every request short and independent, which
// suits an instance that may scale to zero or die at any moment, and any proxy in between.
//
// # Charts
//
// Charts are SVG drawn by the page's own script (web/static/app.js): no charting library, no npm
// build step, nothing fetched at run time, and every text node is set with textContent, so user
// text is never parsed as HTML.
//
// # Dependencies
//
// The dashboard holds no queries of its own: it reads through [pgstore.Store] (mood, timeline,
// latest, scored stats), [esindex.Index] (search, count) and package kafkasource (lag, offsets,
// dead letters), and keeps the handlers, the caching and the page. All reads are bounded by
// [Config.QueryTimeout] and, under load, served from a per-answer cache that lives
// [Config.CacheTTL] (1 s by default), filled by one query at a time. main opens the PostgreSQL
// pool in read-only mode (default_transaction_read_only). The timeline reads the per-minute
// rollup table sentences_minute when it exists, and the sentences table otherwise (see
// [pgstore.Store.Timeline]). Search input goes only to Elasticsearch, as a simple_query_string
// query, which cannot fail on user syntax.
//
// # Time
//
// created_at is the producer's clock, and a producer with a wrong clock or zone (the seed's sends
// zone-less times) stamps records in the future. Records created at or after now +
// [Config.FutureSkew] (rounded down to the minute) are future-dated: the mood windows and the
// timeline, which end now, leave them out and say how many there are ("future"); latest
// messages and search hits mark them ("future": true). Latest messages, and a search without
// words, list by arrival (scored_at), so such a record does not stay on top for good.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/kafkasource"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/watch"
)

// Deps are the dashboard's clients; the dashboard reads through the stores built on them
// ([pgstore.Store], [esindex.Index], package kafkasource's readers). A nil field means that
// dependency is not configured: the panels that need it answer that it is unavailable.
type Deps struct {
	// DB is the PostgreSQL pool the sentences are read from (mood, timeline, latest, newest
	// scored message), a *pgxpool.Pool; main opens it read-only.
	DB pgstore.DB
	// Search performs Elasticsearch requests (search, indexed documents); an
	// *elasticsearch.Client satisfies it.
	Search esindex.Transport
	// Kafka reads consumer group lag and topic offsets; a *kadm.Client satisfies it.
	Kafka kafkasource.Admin
	// DeadLetters reads the newest records of the dead-letter topic; see [NewDeadLetterReader].
	DeadLetters DeadLetterReader
}

// Config tunes a [Dashboard]. Zero fields take the defaults in their comments.
type Config struct {
	// Index is the Elasticsearch index (or alias) searched; default "sentence_idx".
	Index string
	// Topic is the topic the sinks consume; default "sentence".
	Topic string
	// DeadLetterTopic is the dead-letter topic; default "sentence-dlq".
	DeadLetterTopic string
	// Groups maps each sink's consumer group to the sink's name shown on the page; default
	// sentistream-score → "score (PostgreSQL)" and sentistream-index → "index (Elasticsearch)".
	Groups []Group
	// Refresh is how often the page polls; default 2s.
	Refresh time.Duration
	// QueryTimeout bounds each dependency call of a request; default 1.5s.
	QueryTimeout time.Duration
	// CacheTTL is how long an answer is reused for identical requests; default 1s. Negative
	// disables the cache (tests).
	CacheTTL time.Duration
	// LagWarn is the total lag of a consumer group above which the page warns that its sink is
	// behind; default 1000.
	LagWarn int64
	// ProductNames are our own product names, whose words are never listed as drivers (every
	// message names the product); default Zephyr Buds and ZephyrSync, the producer's product.
	ProductNames []string
	// FutureSkew is how far ahead of now a created_at may be before the record counts as
	// future-dated (see the package doc); default 5m.
	FutureSkew time.Duration
	// Watch is the mood-shift rule /api/shift applies (the watch function's); its zero value
	// means the watch package's defaults.
	Watch watch.Config
	// Now returns the current time; default time.Now. Tests fix it.
	Now func() time.Time
}

// Group is a consumer group whose lag the pipeline panel shows.
type Group struct {
	// Name is the Kafka consumer group, e.g. "sentistream-score".
	Name string
	// Sink names what the group feeds, e.g. "score (PostgreSQL)".
	Sink string
}

func (c Config) withDefaults() Config {
	if c.Index == "" {
		c.Index = "sentence_idx"
	}
	if c.Topic == "" {
		c.Topic = "sentence"
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = "sentence-dlq"
	}
	if len(c.Groups) == 0 {
		c.Groups = []Group{
			{Name: "sentistream-score", Sink: "score (PostgreSQL)"},
			{Name: "sentistream-index", Sink: "index (Elasticsearch)"},
		}
	}
	if c.Refresh <= 0 {
		c.Refresh = 2 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 1500 * time.Millisecond
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = time.Second
	}
	if c.LagWarn <= 0 {
		c.LagWarn = 1000
	}
	if len(c.ProductNames) == 0 {
		c.ProductNames = []string{"Zephyr Buds", "ZephyrSync"}
	}
	if c.FutureSkew <= 0 {
		c.FutureSkew = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Dashboard serves the page and the JSON API. Build it with [New]; it is safe for concurrent use
// and holds only short-lived caches.
type Dashboard struct {
	cfg    Config
	deps   Deps
	pg     *pgstore.Store // nil when deps.DB is
	es     *esindex.Index // nil when deps.Search is
	log    *slog.Logger
	page   *template.Template
	assets map[string]asset // by file name under static/
	cache  *cache
	rate   *rateMeter
	dlq    *deadLetterCache
	// analyzer scores candidate drivers; New starts building it (~10 ms) in the background, so
	// that a new instance's first drivers request does not wait for it after its search.
	analyzer func() *sentiment.Analyzer
	watch    *watch.Watcher // nil when deps.DB is
	events   shiftEvents
}

// asset is an embedded static file with its content hash.
type asset struct {
	body []byte
	hash string
	mime string
}

//go:embed web/index.html.tmpl web/static
var webFS embed.FS

// New returns a dashboard reading from deps. It does no I/O: connections are made by the first
// request that needs them, so a new instance is ready at once.
func New(cfg Config, deps Deps, log *slog.Logger) (*Dashboard, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{
		cfg:      cfg,
		deps:     deps,
		log:      log,
		assets:   map[string]asset{},
		cache:    newCache(cfg.CacheTTL, cfg.Now),
		rate:     &rateMeter{},
		dlq:      &deadLetterCache{},
		analyzer: sync.OnceValue(sentiment.New),
	}
	go d.analyzer()
	if deps.DB != nil {
		d.pg = pgstore.New(deps.DB)
		d.watch = watch.New(cfg.Watch, d.pg)
	}
	if deps.Search != nil {
		d.es = esindex.New(deps.Search, cfg.Index)
	}
	entries, err := fs.ReadDir(webFS, "web/static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: read assets: %w", err)
	}
	for _, e := range entries {
		b, err := webFS.ReadFile("web/static/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("dashboard: read asset: %w", err)
		}
		sum := sha256.Sum256(b)
		d.assets[e.Name()] = asset{body: b, hash: hex.EncodeToString(sum[:8]), mime: mimeOf(e.Name())}
	}
	d.page, err = template.New("index.html.tmpl").Funcs(template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := d.assets[name]
			if !ok {
				return "", fmt.Errorf("no asset %q", name)
			}
			// Relative, like every URL the page uses: it works wherever the page is mounted.
			return "static/" + name + "?v=" + a.hash, nil
		},
	}).ParseFS(webFS, "web/index.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("dashboard: parse page: %w", err)
	}
	return d, nil
}

func mimeOf(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	default:
		return "application/octet-stream"
	}
}

// Router is where [Dashboard.Register] adds its routes; *serve.Server satisfies it.
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the dashboard's routes (listed in the package doc) to r, each wrapped with
// [serve.Adapt] logging to log.
//
// Every URL the page uses is relative to the page, so the dashboard works at / and under any
// path prefix that a proxy strips before forwarding (the OpenFaaS gateway forwards
// /function/dashboard/api/mood as /api/mood). For a proxy that keeps the prefix, the routes are
// also served under the X-Forwarded-Prefix the proxy sends (/dash/api/mood with
// X-Forwarded-Prefix: /dash). Open the page with its trailing slash (/function/dashboard/):
// without it the browser resolves the relative URLs one level up.
func (d *Dashboard) Register(r Router) {
	routes := http.NewServeMux()
	for pattern, h := range map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /{$}":           d.servePage,
		"GET /static/{file}": d.serveAsset,
		"GET /api/mood":      d.serveMood,
		"GET /api/timeline":  d.serveTimeline,
		"GET /api/latest":    d.serveLatest,
		"GET /api/search":    d.serveSearch,
		"GET /api/drivers":   d.serveDrivers,
		"GET /api/pipeline":  d.servePipeline,
		"GET /api/shift":     d.serveShift,
		"GET /api/events":    d.serveEvents,
		"POST /api/events":   d.serveEvent,
	} {
		a := serve.Adapt(d.log, h)
		r.Handle(pattern, a)
		routes.Handle(pattern, a)
	}
	r.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		prefix := strings.TrimSuffix(req.Header.Get("X-Forwarded-Prefix"), "/")
		rest, ok := strings.CutPrefix(req.URL.Path, prefix)
		if prefix == "" || !ok || (rest != "" && rest[0] != '/') {
			http.NotFound(w, req)
			return
		}
		if rest == "" { // the prefix without its slash: relative URLs need the slash
			http.Redirect(w, req, "./"+path.Base(prefix)+"/", http.StatusMovedPermanently)
			return
		}
		r2 := req.Clone(req.Context())
		r2.URL.Path, r2.URL.RawPath = rest, ""
		routes.ServeHTTP(w, r2)
	}))
}

// securityHeaders are sent with every page and asset: scripts and styles only from this origin, no
// inline script, no framing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// pageData is what the page template sees.
type pageData struct {
	RefreshMillis int64
	Index         string
	Groups        []Group
}

func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) error {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := d.page.Execute(w, pageData{
		RefreshMillis: d.cfg.Refresh.Milliseconds(),
		Index:         d.cfg.Index,
		Groups:        d.cfg.Groups,
	})
	if err != nil {
		return fmt.Errorf("render page: %w", err)
	}
	return nil
}

func (d *Dashboard) serveAsset(w http.ResponseWriter, r *http.Request) error {
	a, ok := d.assets[r.PathValue("file")]
	if !ok {
		return serve.Errorf(http.StatusNotFound, "no such file", nil)
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", a.mime)
	if r.URL.Query().Get("v") == a.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+a.hash+`"`)
	if r.Header.Get("If-None-Match") == `"`+a.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	_, _ = w.Write(a.body)
	return nil
}

// Names of the dependencies in "unavailable" answers.
const (
	depPostgres      = "postgres"
	depElasticsearch = "elasticsearch"
	depKafka         = "kafka"
)

// errNotConfigured is the cause logged when a panel's dependency has no client.
var errNotConfigured = errors.New("dashboard: dependency not configured")

// unavailable is the answer of a panel whose dependency dep failed with err.
func unavailable(dep string, err error) *serve.Error {
	if errors.Is(err, pgstore.ErrNoTable) {
		return &serve.Error{
			Code:   http.StatusServiceUnavailable,
			Msg:    "PostgreSQL has no sentences table yet: the score function creates it on start-up",
			Detail: map[string]any{"unavailable": dep},
			Err:    err,
		}
	}
	msg := map[string]string{
		depPostgres:      "PostgreSQL is unavailable",
		depElasticsearch: "Elasticsearch is unavailable",
		depKafka:         "Kafka is unavailable",
	}[dep]
	return &serve.Error{
		Code:   http.StatusServiceUnavailable,
		Msg:    msg,
		Detail: map[string]any{"unavailable": dep},
		Err:    err,
	}
}

// futureFrom returns the created_at from which a record counts as future-dated at now: now +
// FutureSkew, rounded down to the minute so that the timeline's per-minute rollup can stop there.
func (d *Dashboard) futureFrom(now time.Time) time.Time {
	return now.Add(d.cfg.FutureSkew).Truncate(time.Minute)
}

// writeLive sends v as a live-data JSON answer.
func writeLive(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	serve.WriteJSON(w, http.StatusOK, v)
}
