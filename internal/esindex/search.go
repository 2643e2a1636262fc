package esindex

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Query is a full-text search of an [Index].
type Query struct {
	// Text is searched for in sentence and sentence.english as a simple_query_string with
	// lenient parsing and every word required: user syntax ("+", "\"", "(" and the like) is read
	// as text or operators as best it can and never fails the search. Empty matches every
	// document, newest first: by scored_at (arrival), then created_at.
	Text string
	// Label keeps only the documents with this label; empty keeps all.
	Label string
	// From and To keep the documents created in [From, To); a zero time leaves that side open.
	From, To time.Time
	// Size is the most hits returned; default 20.
	Size int
}

// SearchResult is the answer to a [Query].
type SearchResult struct {
	// Total is the number of matching documents, counted up to TotalLimit: past it, Total is
	// TotalLimit and TotalAtLeast is set.
	Total        int64
	TotalAtLeast bool
	// Hits are the best matches, best first (newest by arrival first for an empty Text).
	Hits []Hit
	// Took is Elasticsearch's own search time.
	Took time.Duration
}

// Hit is one matching document.
type Hit struct {
	// Doc is the document, read as [Doc.UnmarshalJSON] reads it (zone-less times as UTC). Its Key
	// is the document's _id when the _source has none, as documents of other writers may lack it.
	Doc Doc
	// Highlight is the sentence cut into spans, those the query matched marked; nil when
	// Elasticsearch highlighted nothing (an empty Text).
	Highlight []Span
}

// Span is a piece of a highlighted sentence.
type Span struct {
	Text string
	// Match reports whether the query matched this span.
	Match bool
}

// Highlight markers: two private-use characters, so a highlight is split into plain text and
// matched spans here and nobody parses HTML from Elasticsearch.
const (
	hlPre  = "\uE000"
	hlPost = "\uE001"
)

// Search runs q against the index. Elasticsearch's refusal of a query (a 400) and a missing
// index (a 404) are [*Error]s with that Status.
func (x *Index) Search(ctx context.Context, q Query) (*SearchResult, error) {
	body, err := json.Marshal(searchBody(q))
	if err != nil {
		return nil, err
	}
	var answer struct {
		Took int64 `json:"took"`
		Hits struct {
			Total struct {
				Value    int64  `json:"value"`
				Relation string `json:"relation"`
			} `json:"total"`
			Hits []struct {
				ID        string              `json:"_id"`
				Source    Doc                 `json:"_source"`
				Highlight map[string][]string `json:"highlight"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if _, err := x.call(ctx, http.MethodPost, "/"+x.name+"/_search", url.Values{"ignore_unavailable": {"false"}}, body, &answer, false); err != nil {
		return nil, err
	}
	out := &SearchResult{Total: answer.Hits.Total.Value, TotalAtLeast: answer.Hits.Total.Relation == "gte", Took: time.Duration(answer.Took) * time.Millisecond, Hits: make([]Hit, 0, len(answer.Hits.Hits))}
	for _, h := range answer.Hits.Hits {
		hit := Hit{Doc: h.Source}
		if hit.Doc.Key == "" {
			hit.Doc.Key = h.ID
		}
		hl := h.Highlight["sentence"]
		if len(hl) == 0 {
			hl = h.Highlight["sentence.english"]
		}
		if len(hl) > 0 {
			hit.Highlight = splitHighlight(hl[0])
		}
		out.Hits = append(out.Hits, hit)
	}
	return out, nil
}

// TotalLimit is how far Search counts matches exactly.
const TotalLimit = 10000

// searchBody builds the Elasticsearch request body of q.
func searchBody(q Query) map[string]any {
	size := q.Size
	if size <= 0 {
		size = 20
	}
	var filter []any
	if q.Label != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"label": q.Label}})
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		rng := map[string]any{}
		if !q.From.IsZero() {
			rng["gte"] = q.From.UTC().Format(time.RFC3339Nano)
		}
		if !q.To.IsZero() {
			rng["lt"] = q.To.UTC().Format(time.RFC3339Nano)
		}
		filter = append(filter, map[string]any{"range": map[string]any{"created_at": rng}})
	}
	boolQ := map[string]any{"filter": filter}
	body := map[string]any{
		"size": size,
		// Counting every match of a common word in a large index is most of a search's cost;
		// past TotalLimit the answer says "at least", and Elasticsearch may skip the rest.
		"track_total_hits": TotalLimit,
		// A search that would take longer answers with what it found by then.
		"timeout": "1s",
	}
	if q.Text == "" {
		// Newest by arrival (scored_at), as the dashboard's latest messages: created_at is the
		// producer's clock, and one document stamped years ahead would otherwise head every
		// listing for good. Documents without scored_at (the seed's) come last, by created_at.
		body["sort"] = []any{
			map[string]any{"scored_at": map[string]any{"order": "desc", "unmapped_type": "date"}},
			map[string]any{"created_at": map[string]any{"order": "desc", "unmapped_type": "date"}},
		}
	} else {
		boolQ["must"] = []any{map[string]any{"simple_query_string": map[string]any{
			"query":            q.Text,
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
