package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sentistream/sentistream/internal/env"
)

// The analyzers of sentence.english. Every Elasticsearch distribution has the built-in English
// one; only a stripped-down build lacks it (the integ-test-zip the local stack runs from Maven
// Central has no analysis-common module), and there the template defines FallbackAnalyzer from
// what every build has.
const (
	// EnglishAnalyzer is Elasticsearch's built-in English analyzer: English stop words,
	// possessives removed, Porter stemming.
	EnglishAnalyzer = "english"
	// FallbackAnalyzer is standard tokenizer, lowercase and English stop words, without stemming:
	// "loved" does not find "love".
	FallbackAnalyzer = "sentistream_english"
)

// DriversField is the sub-field [Index.Drivers] finds terms in: sentence analysed by
// DriversAnalyzer into lower-cased words without stop words, and two-word phrases of adjacent
// ones. It is indexed for document counts only (no frequencies, positions or norms).
const DriversField = "sentence.drivers"

// DriversAnalyzer is the analyzer of [DriversField], which the template's settings define from
// parts every build has: standard tokenizer, lowercase, a stop filter with [driverStopWords] and a
// shingle filter for two-word phrases (a phrase across a removed stop word gets an empty filler,
// " battery", which Drivers never lists).
const DriversAnalyzer = "sentistream_drivers"

// properties is the explicit mapping for sentence.english analysed by analyzer; the package doc
// lists it. drivers adds [DriversField], which needs the analysis settings of [Settings].
func properties(analyzer string, drivers bool) map[string]any {
	kw := map[string]any{"type": "keyword"}
	dbl := map[string]any{"type": "double"}
	date := map[string]any{"type": "date"}
	fields := map[string]any{
		"english": map[string]any{"type": "text", "analyzer": analyzer},
	}
	if drivers {
		fields["drivers"] = driversMapping()
	}
	return map[string]any{
		"key": kw,
		"sentence": map[string]any{
			"type":   "text",
			"fields": fields,
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

// Mappings returns the index mapping the template installs, with sentence.english analysed by
// analyzer ([EnglishAnalyzer] or [FallbackAnalyzer]).
func Mappings(analyzer string) map[string]any {
	return map[string]any{"dynamic": "strict", "properties": properties(analyzer, true)}
}

// driversMapping is the mapping of [DriversField].
func driversMapping() map[string]any {
	return map[string]any{"type": "text", "analyzer": DriversAnalyzer, "index_options": "docs", "norms": false}
}

// Settings returns the index settings the template installs for analyzer; they define
// [DriversAnalyzer], and [FallbackAnalyzer] when it is the one chosen.
func Settings(analyzer string) map[string]any {
	filters := map[string]any{
		"sentistream_drivers_stop": map[string]any{"type": "stop", "stopwords": driverStopWords},
		"sentistream_drivers_shingle": map[string]any{
			"type": "shingle", "min_shingle_size": 2, "max_shingle_size": 2, "output_unigrams": true, "filler_token": "",
		},
	}
	analyzers := map[string]any{
		DriversAnalyzer: map[string]any{
			"type":      "custom",
			"tokenizer": "standard",
			"filter":    []string{"lowercase", "sentistream_drivers_stop", "sentistream_drivers_shingle"},
		},
	}
	if analyzer == FallbackAnalyzer {
		filters["sentistream_en_stop"] = map[string]any{"type": "stop", "stopwords": "_english_"}
		analyzers[FallbackAnalyzer] = map[string]any{
			"type":      "custom",
			"tokenizer": "standard",
			"filter":    []string{"lowercase", "sentistream_en_stop"},
		}
	}
	return map[string]any{
		"index": map[string]any{
			"number_of_shards": 1,
			"refresh_interval": RefreshInterval,
		},
		"analysis": map[string]any{"filter": filters, "analyzer": analyzers},
	}
}

// RefreshInterval is how often the index makes what was written searchable; the package doc
// says why this value.
const RefreshInterval = "500ms"

// templatePriority puts the template above Elasticsearch's built-in ones (priority 100).
const templatePriority = 200

// template returns the index template body for the index or alias name (it matches name and
// name-*), with sentence.english analysed by analyzer.
func template(name, analyzer string) map[string]any {
	return map[string]any{
		"index_patterns": []string{name, name + "-*"},
		"priority":       templatePriority,
		"template": map[string]any{
			"settings": Settings(analyzer),
			"mappings": Mappings(analyzer),
		},
		"_meta": map[string]any{"managed_by": "sentistream"},
	}
}

// EnsureTemplate installs the index template (PUT /_index_template/<name>, which replaces an older
// version) and adds its fields to the index if the index exists; see the package doc. It first
// asks the node whether it has the built-in English analyzer (its module list) and chooses [FallbackAnalyzer] only
// where it has not ([Index.Analyzer] tells which). It does so once per Index: later calls return
// nil at once. Writes call it first, so calling it is needed only to surface problems early
// (readiness checks and reindex do). A template the cluster refuses is an [env.MisconfigError]:
// no retry gets past it. A mapping conflict with an existing index is not an error here: the
// documents it affects fail one by one and reconcile reports them; such an index keeps its old
// mapping until `reindex --fresh` rebuilds it.
func (x *Index) EnsureTemplate(ctx context.Context) error {
	t := x.tmpl
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	analyzer, err := x.englishAnalyzer(ctx)
	if err != nil {
		return err
	}
	body, err := json.Marshal(template(t.base, analyzer))
	if err != nil {
		return err
	}
	if _, err := x.call(ctx, http.MethodPut, "/_index_template/"+t.base, nil, body, nil, false); err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Status == http.StatusBadRequest {
			e.Err = &env.MisconfigError{Reason: "elasticsearch refused the index template " + t.base + " (" + e.Type + ": " +
				e.Reason + "): remove the conflicting template or set ES_INDEX to another name", Err: errors.New(e.Reason)}
		}
		return err
	}
	// An index created before the template defined DriversAnalyzer refuses DriversField
	// (analysis settings of an existing index are never changed); the other fields must still
	// get in, so they are sent again without it. Such an index goes without DriversField until
	// `reindex --fresh`, and Drivers reads sentence there.
	for _, drivers := range []bool{true, false} {
		mapping, err := json.Marshal(map[string]any{"properties": properties(analyzer, drivers)})
		if err != nil {
			return err
		}
		_, err = x.call(ctx, http.MethodPut, "/"+t.base+"/_mapping", nil, mapping, nil, true)
		if e, ok := err.(*Error); ok && e.Status == http.StatusBadRequest {
			if drivers && strings.Contains(e.Reason, DriversAnalyzer) {
				continue
			}
			err = nil // a conflicting existing index; see above
		}
		if err != nil {
			return err
		}
		break
	}
	t.done, t.analyzer = true, analyzer
	return nil
}

// Analyzer returns the analyzer of sentence.english chosen by [Index.EnsureTemplate], or "" before
// it has succeeded.
func (x *Index) Analyzer() string {
	x.tmpl.mu.Lock()
	defer x.tmpl.mu.Unlock()
	return x.tmpl.analyzer
}

// englishAnalyzer returns [EnglishAnalyzer] unless the node lists its modules and
// analysis-common, which provides it, is not among them: then [FallbackAnalyzer]. Listing
// modules needs the monitor cluster privilege (as Ping does); where it is refused, or the answer
// says nothing of modules, the node is taken to be a full distribution, as every one has it.
func (x *Index) englishAnalyzer(ctx context.Context) (string, error) {
	type module struct {
		Name string `json:"name"`
	}
	var nodes struct {
		Nodes map[string]struct {
			Modules []module `json:"modules"`
		} `json:"nodes"`
	}
	query := url.Values{"filter_path": {"nodes.*.modules.name"}}
	_, err := x.call(ctx, http.MethodGet, "/_nodes/_local/plugins", query, nil, &nodes, false)
	if e, ok := errors.AsType[*Error](err); ok && e.Status == http.StatusForbidden {
		return EnglishAnalyzer, nil
	}
	if err != nil {
		return "", err
	}
	for _, n := range nodes.Nodes {
		if len(n.Modules) == 0 {
			continue
		}
		if !slices.Contains(n.Modules, module{Name: "analysis-common"}) {
			return FallbackAnalyzer, nil
		}
	}
	return EnglishAnalyzer, nil
}
