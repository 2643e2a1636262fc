package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/serve"
)

// maxQueryLen bounds a search query, in bytes.
const maxQueryLen = 500

// SearchResult is the answer of /api/search.
type SearchResult struct {
	Query string `json:"query"`
	// Total is the number of matching documents; with TotalAtLeast, a lower bound (the count
	// stops at esindex.TotalLimit, 10,000).
	Total        int64 `json:"total"`
	TotalAtLeast bool  `json:"total_at_least"`
	// Hits are the best matches, best first (newest by arrival first when the query is empty).
	Hits []Hit `json:"hits"`
	// TookMillis is Elasticsearch's own search time.
	TookMillis int64 `json:"took_ms"`
}

// Hit is one search result.
type Hit struct {
	Key       string `json:"key"`
	Sentence  string `json:"sentence"`
	Truncated bool   `json:"truncated,omitempty"`
	// Compound is the document's VADER compound score (its sentiment field), named as in
	// /api/latest.
	Compound  *float64  `json:"compound"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	// Future marks a document dated in the future (see the package doc).
	Future bool `json:"future,omitempty"`
	// Highlight is the sentence cut into spans; Match marks the spans the query matched. It is nil
	// when Elasticsearch highlighted nothing (an empty query).
	Highlight []Span `json:"highlight,omitempty"`
}

// Span is a piece of a highlighted sentence.
type Span struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// searchParams are a validated search request.
type searchParams struct {
	q        string
	label    string
	from, to time.Time
	size     int
}

func (p searchParams) key() string {
	return fmt.Sprintf("search %q %s %d %d %d", p.q, p.label, p.from.UnixNano(), p.to.UnixNano(), p.size)
}

func (d *Dashboard) parseSearch(r *http.Request) (searchParams, error) {
	q := r.URL.Query()
	p := searchParams{q: strings.TrimSpace(q.Get("q")), label: q.Get("label")}
	if len(p.q) > maxQueryLen {
		return p, &serve.Error{Code: http.StatusBadRequest, Msg: fmt.Sprintf("the search is too long: at most %d characters", maxQueryLen), Detail: map[string]any{"param": "q"}}
	}
	if !utf8.ValidString(p.q) {
		return p, badParam("q", "UTF-8 text", nil)
	}
	if p.label != "" && !labels[p.label] {
		return p, badParam("label", "positive, neutral or negative", nil)
	}
	var err error
	if p.size, err = intParam(q, "size", 20, 1, 100); err != nil {
		return p, err
	}
	if p.from, err = timeParam(q, "from"); err != nil {
		return p, err
	}
	if p.to, err = timeParam(q, "to"); err != nil {
		return p, err
	}
	span, err := spanParam(q, "range", 0, time.Minute, 366*24*time.Hour, "a duration from 1m to 366d, e.g. 1h, 7d")
	if err != nil {
		return p, err
	}
	if span > 0 {
		// Rounded to the second so identical polls share a cache entry. "The last hour" ends
		// where future-dated documents start.
		now := d.cfg.Now().UTC()
		p.from = now.Add(-span).Truncate(time.Second)
		p.to = d.futureFrom(now)
	}
	return p, nil
}

func (d *Dashboard) serveSearch(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	p, err := d.parseSearch(r)
	if err != nil {
		return err
	}
	v, err := d.cache.get(r.Context(), p.key(), 1, d.cfg.QueryTimeout, func(ctx context.Context) (any, error) {
		return d.search(ctx, p)
	})
	if err != nil {
		if e, ok := errors.AsType[*esindex.Error](err); ok {
			switch e.Status {
			case http.StatusBadRequest: // a query Elasticsearch cannot run
				return &serve.Error{Code: http.StatusBadRequest, Msg: "this search could not be run; try fewer or simpler words", Err: err}
			case http.StatusNotFound:
				return &serve.Error{Code: http.StatusServiceUnavailable, Msg: "the search index does not exist yet", Detail: map[string]any{"unavailable": depElasticsearch}, Err: err}
			}
		}
		return unavailable(depElasticsearch, err)
	}
	writeLive(w, v)
	return nil
}

func (d *Dashboard) search(ctx context.Context, p searchParams) (*SearchResult, error) {
	if d.es == nil {
		return nil, errNotConfigured
	}
	res, err := d.es.Search(ctx, esindex.Query{Text: p.q, Label: p.label, From: p.from, To: p.to, Size: p.size})
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	future := d.futureFrom(d.cfg.Now())
	out := &SearchResult{Query: p.q, Total: res.Total, TotalAtLeast: res.TotalAtLeast, TookMillis: res.Took.Milliseconds(), Hits: make([]Hit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		doc := h.Doc
		hit := Hit{Key: doc.Key, Compound: ptr(doc.Scores.Compound), Label: doc.Label, CreatedAt: doc.CreatedAt, Future: !doc.CreatedAt.Before(future)}
		hit.Sentence, hit.Truncated = shorten(doc.Sentence)
		if !hit.Truncated { // spans of the whole sentence only
			for _, sp := range h.Highlight {
				hit.Highlight = append(hit.Highlight, Span(sp))
			}
		}
		out.Hits = append(out.Hits, hit)
	}
	return out, nil
}
