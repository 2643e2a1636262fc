package esindex

import (
	"context"
	"encoding/json"
	"net/http"
)

// Analyzer is the name of the English analyzer the template defines for sentence.english.
const Analyzer = "sentistream_english"

// properties is the explicit mapping; the package doc lists it.
func properties() map[string]any {
	kw := map[string]any{"type": "keyword"}
	dbl := map[string]any{"type": "double"}
	date := map[string]any{"type": "date"}
	return map[string]any{
		"key": kw,
		"sentence": map[string]any{
			"type": "text",
			"fields": map[string]any{
				"english": map[string]any{"type": "text", "analyzer": Analyzer},
			},
		},
		"created_at":      date,
		"sentiment":       dbl,
		"pos":             dbl,
		"neu":             dbl,
		"neg":             dbl,
		"label":           kw,
		"scored_at":       date,
		"topic":           kw,
		"kafka_partition": map[string]any{"type": "integer"},
		"kafka_offset":    map[string]any{"type": "long"},
		"event_id":        kw,
		"event_source":    kw,
	}
}

// Mappings returns the index mapping the template installs.
func Mappings() map[string]any {
	return map[string]any{"dynamic": "strict", "properties": properties()}
}

// Settings returns the index settings the template installs.
func Settings() map[string]any {
	return map[string]any{
		"index": map[string]any{
			"number_of_shards": 1,
			"refresh_interval": "1s",
		},
		"analysis": map[string]any{
			"filter": map[string]any{
				"sentistream_en_stop": map[string]any{"type": "stop", "stopwords": "_english_"},
				"sentistream_en_stem": map[string]any{"type": "hunspell", "locale": "en_US", "dedup": true},
			},
			"analyzer": map[string]any{
				Analyzer: map[string]any{
					"type":      "custom",
					"tokenizer": "standard",
					"filter":    []string{"lowercase", "sentistream_en_stop", "sentistream_en_stem"},
				},
			},
		},
	}
}

// templatePriority puts the template above Elasticsearch's built-in ones (priority 100).
const templatePriority = 200

// Template returns the index template body for the index or alias name: it matches name and
// name-*.
func Template(name string) map[string]any {
	return map[string]any{
		"index_patterns": []string{name, name + "-*"},
		"priority":       templatePriority,
		"template": map[string]any{
			"settings": Settings(),
			"mappings": Mappings(),
		},
		"_meta": map[string]any{"managed_by": "sentistream"},
	}
}

// EnsureTemplate installs the index template (PUT /_index_template/<name>, which replaces an older
// version) and adds its fields to the index if the index exists; see the package doc. It does so
// once per Index: later calls return nil at once. Writes call it first, so calling it is needed
// only to surface problems early (reindex does). A mapping conflict with an existing index is not
// an error here: the documents it affects fail one by one and reconcile reports them.
func (x *Index) EnsureTemplate(ctx context.Context) error {
	t := x.tmpl
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	body, err := json.Marshal(Template(t.base))
	if err != nil {
		return err
	}
	if _, err := x.call(ctx, http.MethodPut, "/_index_template/"+t.base, nil, body, nil, false); err != nil {
		return err
	}
	mapping, err := json.Marshal(map[string]any{"properties": properties()})
	if err != nil {
		return err
	}
	_, err = x.call(ctx, http.MethodPut, "/"+t.base+"/_mapping", nil, mapping, nil, true)
	if e, ok := err.(*Error); ok && e.Status == http.StatusBadRequest {
		err = nil // a conflicting existing index; see above
	}
	if err != nil {
		return err
	}
	t.done = true
	return nil
}
