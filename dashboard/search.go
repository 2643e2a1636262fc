package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sentistream/sentistream/internal/serve"
)

// Highlight markers: two private-use characters, so a highlight is split into plain text and
// matched spans on the server and the page never parses HTML from Elasticsearch.
const (
	hlPre  = "\uE000"
	hlPost = "\uE001"
)

// maxQueryLen bounds a search query, in bytes.
const maxQueryLen = 500

// SearchResult is the answer of /api/search.
type SearchResult struct {
	Query string `json:"query"`
	// Total is the number of matching documents.
	Total int64 `json:"total"`
	// Hits are the best matches, best first (newest first when the query is empty).
	Hits []Hit `json:"hits"`
	// TookMillis is Elasticsearch's own search time.
	TookMillis int64 `json:"took_ms"`
}

// Hit is one search result.
type Hit struct {
	Key       string    `json:"key"`
	Sentence  string    `json:"sentence"`
	Truncated bool      `json:"truncated,omitempty"`
	Compound  *float64  `json:"compound"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	// Highlight is the sentence cut into spans; Match marks the spans the query matched. It is nil
	// when Elasticsearch highlighted nothing (an empty query).
	Highlight []Span `json:"highlight,omitempty"`
}

// Span is a piece of a highlighted sentence.
type Span struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// splitHighlight cuts an Elasticsearch highlight marked with hlPre/hlPost into spans.
func splitHighlight(s string) []Span {
	var spans []Span
	for s != "" {
		i := strings.Index(s, hlPre)
		if i < 0 {
			spans = append(spans, Span{Text: s})
			break
		}
		if i > 0 {
			spans = append(spans, Span{Text: s[:i]})
		}
		s = s[i+len(hlPre):]
		j := strings.Index(s, hlPost)
		if j < 0 {
			j = len(s)
		}
		if j > 0 {
			spans = append(spans, Span{Text: s[:j], Match: true})
		}
		s = strings.TrimPrefix(s[j:], hlPost)
	}
	return spans
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
		// Rounded to the second so identical polls share a cache entry.
		p.from = d.cfg.Now().UTC().Add(-span).Truncate(time.Second)
		p.to = time.Time{}
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
		if errors.Is(err, errSearchRejected) {
			return &serve.Error{Code: http.StatusBadRequest, Msg: "this search could not be run; try fewer or simpler words", Err: err}
		}
		if errors.Is(err, errNoIndex) {
			return &serve.Error{Code: http.StatusServiceUnavailable, Msg: "the search index does not exist yet", Detail: map[string]any{"unavailable": depElasticsearch}, Err: err}
		}
		return unavailable(depElasticsearch, err)
	}
	writeLive(w, v)
	return nil
}

var (
	// errSearchRejected: Elasticsearch answered 400 to a search (a query it cannot run).
	errSearchRejected = errors.New("dashboard: search rejected")
	// errNoIndex: the index does not exist.
	errNoIndex = errors.New("dashboard: index not found")
)

// searchBody builds the Elasticsearch request body of p. The query is a simple_query_string with
// lenient parsing, which never fails on user syntax ("+", "\"", "(" and the like are read as text
// or operators as best it can).
func searchBody(p searchParams) map[string]any {
	var filter []any
	if p.label != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"label": p.label}})
	}
	if !p.from.IsZero() || !p.to.IsZero() {
		rng := map[string]any{}
		if !p.from.IsZero() {
			rng["gte"] = p.from.Format(time.RFC3339Nano)
		}
		if !p.to.IsZero() {
			rng["lt"] = p.to.Format(time.RFC3339Nano)
		}
		filter = append(filter, map[string]any{"range": map[string]any{"created_at": rng}})
	}
	boolQ := map[string]any{"filter": filter}
	body := map[string]any{
		"size":             p.size,
		"track_total_hits": true,
		"_source":          []string{"sentence", "created_at", "label", "key", "sentiment", "compound"},
	}
	if p.q == "" {
		body["sort"] = []any{map[string]any{"created_at": map[string]any{"order": "desc", "unmapped_type": "date"}}}
	} else {
		boolQ["must"] = []any{map[string]any{"simple_query_string": map[string]any{
			"query":            p.q,
			"fields":           []string{"sentence", "sentence.english"},
			"default_operator": "and",
			"lenient":          true,
		}}}
		body["highlight"] = map[string]any{
			"pre_tags":            []string{hlPre},
			"post_tags":           []string{hlPost},
			"require_field_match": false,
			"fields": map[string]any{
				"sentence":         map[string]any{"number_of_fragments": 0},
				"sentence.english": map[string]any{"number_of_fragments": 0},
			},
		}
	}
	body["query"] = map[string]any{"bool": boolQ}
	return body
}

// esSearchResponse is the part of a search response the dashboard reads.
type esSearchResponse struct {
	Took int64 `json:"took"`
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []struct {
			ID     string `json:"_id"`
			Source struct {
				Sentence  string    `json:"sentence"`
				CreatedAt time.Time `json:"created_at"`
				Label     string    `json:"label"`
				Key       string    `json:"key"`
				Sentiment *float64  `json:"sentiment"`
				Compound  *float64  `json:"compound"`
			} `json:"_source"`
			Highlight map[string][]string `json:"highlight"`
		} `json:"hits"`
	} `json:"hits"`
}

func (d *Dashboard) search(ctx context.Context, p searchParams) (*SearchResult, error) {
	if d.deps.Search == nil {
		return nil, errNotConfigured
	}
	body, err := json.Marshal(searchBody(p))
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	res, err := esapi.SearchRequest{
		Index:             []string{d.cfg.Index},
		Body:              bytes.NewReader(body),
		IgnoreUnavailable: esapi.BoolPtr(false),
	}.Do(ctx, d.deps.Search)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("search: read: %w", err)
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("search %s: %w", d.cfg.Index, errNoIndex)
	case res.StatusCode == http.StatusBadRequest:
		return nil, fmt.Errorf("search: %s: %w", snippet(raw), errSearchRejected)
	case res.IsError():
		return nil, fmt.Errorf("search: status %d: %s", res.StatusCode, snippet(raw))
	}
	var er esSearchResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return nil, fmt.Errorf("search: decode: %w", err)
	}
	out := &SearchResult{Query: p.q, Total: er.Hits.Total.Value, TookMillis: er.Took, Hits: make([]Hit, 0, len(er.Hits.Hits))}
	for _, h := range er.Hits.Hits {
		s := h.Source
		hit := Hit{Key: s.Key, CreatedAt: s.CreatedAt, Label: s.Label, Compound: s.Compound}
		if hit.Key == "" {
			hit.Key = h.ID
		}
		if hit.Compound == nil {
			hit.Compound = s.Sentiment
		}
		hit.Sentence, hit.Truncated = shorten(s.Sentence)
		hl := h.Highlight["sentence"]
		if len(hl) == 0 {
			hl = h.Highlight["sentence.english"]
		}
		if len(hl) > 0 && !hit.Truncated {
			hit.Highlight = splitHighlight(hl[0])
		}
		out.Hits = append(out.Hits, hit)
	}
	return out, nil
}

// snippet returns the start of an error body for the log.
func snippet(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}
