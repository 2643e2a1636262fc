package esindex

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Scan calls fn with the index's documents in ascending key order (byte order, as Go compares
// strings), pageSize at a time (default 5000), reading a point-in-time view so that writes
// during the scan do not shift pages. It stops at the first error fn returns and returns it. An
// index that does not exist has no documents.
func (x *Index) Scan(ctx context.Context, pageSize int, fn func([]Doc) error) error {
	if pageSize <= 0 {
		pageSize = 5000
	}
	var pit struct {
		ID string `json:"id"`
	}
	found, err := x.call(ctx, http.MethodPost, "/"+x.name+"/_pit", url.Values{"keep_alive": {"2m"}}, nil, &pit, true)
	if err != nil || !found {
		return err
	}
	defer func() {
		body, _ := json.Marshal(map[string]string{"id": pit.ID})
		// Closing is best effort: the PIT expires on its own after keep_alive.
		_, _ = x.call(context.WithoutCancel(ctx), http.MethodDelete, "/_pit", nil, body, nil, true)
	}()
	var after []any
	for {
		req := map[string]any{
			"size": pageSize,
			"pit":  map[string]any{"id": pit.ID, "keep_alive": "2m"},
			// unmapped_type: an index made before the template (the seed's) may lack key.
			"sort":             []any{map[string]any{"key": map[string]any{"order": "asc", "unmapped_type": "keyword"}}},
			"track_total_hits": false,
		}
		if after != nil {
			req["search_after"] = after
		}
		body, err := json.Marshal(req)
		if err != nil {
			return err
		}
		var page struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					Source Doc   `json:"_source"`
					Sort   []any `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if _, err := x.call(ctx, http.MethodPost, "/_search", nil, body, &page, false); err != nil {
			return err
		}
		if page.PitID != "" {
			pit.ID = page.PitID
		}
		hits := page.Hits.Hits
		if len(hits) == 0 {
			return nil
		}
		docs := make([]Doc, len(hits))
		for i, h := range hits {
			docs[i] = h.Source
		}
		if err := fn(docs); err != nil {
			return err
		}
		if len(hits) < pageSize {
			return nil
		}
		after = hits[len(hits)-1].Sort
	}
}
