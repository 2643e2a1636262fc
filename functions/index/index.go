// Package index is the indexing function: the [sink] runtime with Elasticsearch as its store. An
// item is an [esindex.Doc] (the record, its VADER scores and the time it was scored), written by
// [Writer] in one _bulk request per batch. Answers and metrics are the sink package's, with
// function="index".
package index

import (
	"context"
	"errors"
	"time"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/sink"
)

// Bulker writes a batch of documents, one error per document. [esindex.Index] is one.
type Bulker interface {
	Bulk(ctx context.Context, docs []esindex.Doc) []error
}

// New returns the index function's handler writing through b; now gives the scored_at time (nil:
// time.Now). m may be nil.
func New(cfg sink.Config, b Bulker, m *sink.Metrics, now func() time.Time) *sink.Handler[esindex.Doc] {
	if now == nil {
		now = time.Now
	}
	build := func(rec event.Record, s sentiment.Scores) esindex.Doc { return esindex.NewDoc(rec, s, now()) }
	return sink.New(cfg, sink.Sink[esindex.Doc]{Store: "elasticsearch", Build: build, Writer: Writer{b}}, m)
}

// Writer is the [sink.Writer] of documents.
type Writer struct{ Bulker Bulker }

// Write indexes docs in one _bulk request and marks each failure for the sink: a document ES
// refuses (a mapping or parsing failure) is [sink.Refused], a retryable one [sink.Unavailable].
func (w Writer) Write(ctx context.Context, docs []esindex.Doc) []error {
	errs := w.Bulker.Bulk(ctx, docs)
	for i, err := range errs {
		errs[i] = classify(err)
	}
	return errs
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, esindex.ErrExists) {
		return sink.ErrDuplicate
	}
	if e, ok := errors.AsType[*esindex.Error](err); ok && !e.Transient() {
		detail := map[string]any{"cause": e.Type}
		if e.Field != "" {
			detail["field"] = e.Field
		}
		return sink.Refused(err, "refused by elasticsearch", detail)
	}
	if esindex.Transient(err) {
		return sink.Unavailable(err)
	}
	return err
}
