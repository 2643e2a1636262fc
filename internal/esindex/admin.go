package esindex

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Count returns the number of documents in the index, as of its last refresh; 0 when it does not
// exist.
func (x *Index) Count(ctx context.Context) (int64, error) {
	var out struct {
		Count int64 `json:"count"`
	}
	_, err := x.call(ctx, http.MethodGet, "/"+x.name+"/_count", nil, nil, &out, true)
	return out.Count, err
}

// Refresh makes every write so far searchable. A missing index is not an error.
func (x *Index) Refresh(ctx context.Context) error {
	_, err := x.call(ctx, http.MethodPost, "/"+x.name+"/_refresh", nil, nil, nil, true)
	return err
}

// Delete deletes the documents with the given keys (one _bulk request) and returns one error per
// key, nil also when the document did not exist. Tests and operators use it; the functions never
// delete.
func (x *Index) Delete(ctx context.Context, keys []string) []error {
	errs := make([]error, len(keys))
	if len(keys) == 0 {
		return errs
	}
	var buf []byte
	for _, k := range keys {
		id, _ := json.Marshal(k)
		buf = fmt.Appendf(buf, "{\"delete\":{\"_id\":%s}}\n", id)
	}
	var answer struct {
		Items []map[string]struct {
			Status int      `json:"status"`
			Error  *esError `json:"error"`
		} `json:"items"`
	}
	if _, err := x.call(ctx, http.MethodPost, "/"+x.name+"/_bulk", bulkQuery, buf, &answer, false); err != nil {
		return fill(errs, err)
	}
	for i, item := range answer.Items {
		for _, r := range item {
			if i < len(errs) && r.Status != http.StatusNotFound {
				errs[i] = itemError(r.Status, r.Error)
			}
		}
	}
	return errs
}

// DeleteIndex deletes the concrete indices behind x's name (x's name itself when it is an index,
// every index it points to when it is an alias). A missing name is not an error.
func (x *Index) DeleteIndex(ctx context.Context) error {
	indices, _, err := x.Resolve(ctx)
	if err != nil || len(indices) == 0 {
		return err
	}
	for _, ix := range indices {
		if _, err := x.call(ctx, http.MethodDelete, "/"+ix, nil, nil, nil, true); err != nil {
			return err
		}
	}
	return nil
}

// Resolve returns the concrete indices x's name stands for, and whether the name is an alias. A
// name that does not exist gives no indices.
func (x *Index) Resolve(ctx context.Context) (indices []string, alias bool, _ error) {
	var out map[string]json.RawMessage
	found, err := x.call(ctx, http.MethodGet, "/_alias/"+x.name, nil, nil, &out, true)
	if err != nil {
		return nil, false, err
	}
	if found && len(out) > 0 {
		for ix := range out {
			indices = append(indices, ix)
		}
		slices.Sort(indices)
		return indices, true, nil
	}
	found, err = x.call(ctx, http.MethodHead, "/"+x.name, nil, nil, nil, true)
	if err != nil || !found {
		return nil, false, err
	}
	return []string{x.name}, false, nil
}

// FreshName returns the name of a new concrete index for x's alias, built at t:
// <name>-<yyyymmddthhmmss.ms>, lowercase as ES requires.
func (x *Index) FreshName(t time.Time) string {
	return x.tmpl.base + "-" + t.UTC().Format("20060102t150405.000")
}

// CreateFresh creates the concrete index name (which must match the template: see
// [Index.FreshName]) tuned for a bulk load: no refreshes, no replicas and no fsync per request
// until [Index.FinishFresh]. It installs the template first.
func (x *Index) CreateFresh(ctx context.Context, name string) (*Index, error) {
	if err := x.EnsureTemplate(ctx); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{"settings": map[string]any{
		"index": map[string]any{
			"refresh_interval":   "-1",
			"number_of_replicas": 0,
			// No fsync per bulk request: a crash during the build loses only the build, which
			// is rerun from PostgreSQL.
			"translog": map[string]any{"durability": "async"},
		},
	}})
	if _, err := x.call(ctx, http.MethodPut, "/"+name, nil, body, nil, false); err != nil {
		return nil, err
	}
	return x.Concrete(name), nil
}

// FinishFresh restores the template's refresh interval and the defaults for replicas and
// translog durability (fsync per request) on the fresh index x, and refreshes it so that every
// document is searchable.
func (x *Index) FinishFresh(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{"index": map[string]any{
		"refresh_interval": RefreshInterval, "number_of_replicas": nil, "translog.durability": nil,
	}})
	if _, err := x.call(ctx, http.MethodPut, "/"+x.name+"/_settings", nil, body, nil, false); err != nil {
		return err
	}
	return x.Refresh(ctx)
}

// SwitchAlias points x's name at the concrete index fresh in one atomic _aliases request, so
// searches and writes never see the name missing. If the name was a concrete index, that index
// is deleted in the same request (an index and an alias cannot share a name); if it was an alias,
// it is removed from its old indices, which are returned so the caller can delete them.
func (x *Index) SwitchAlias(ctx context.Context, fresh string) (old []string, _ error) {
	current, alias, err := x.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	var actions []map[string]any
	for _, ix := range current {
		if ix == fresh {
			continue
		}
		if alias {
			actions = append(actions, map[string]any{"remove": map[string]any{"index": ix, "alias": x.name}})
			old = append(old, ix)
		} else {
			actions = append(actions, map[string]any{"remove_index": map[string]any{"index": ix}})
		}
	}
	actions = append(actions, map[string]any{"add": map[string]any{"index": fresh, "alias": x.name}})
	body, _ := json.Marshal(map[string]any{"actions": actions})
	if _, err := x.call(ctx, http.MethodPost, "/_aliases", nil, body, nil, false); err != nil {
		return nil, err
	}
	return old, nil
}

// DeleteConcrete deletes the concrete index name; a missing one is not an error.
func (x *Index) DeleteConcrete(ctx context.Context, name string) error {
	_, err := x.call(ctx, http.MethodDelete, "/"+url.PathEscape(name), nil, nil, nil, true)
	return err
}
