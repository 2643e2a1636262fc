package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/pgstore"
)

// options tune a reconcile.
type options struct {
	fix  bool // index what is missing or differs, from PostgreSQL
	show int  // keys listed per kind of drift
	page int  // rows and documents read per page, and documents per fixing _bulk
}

// report is what a reconcile found.
type report struct {
	index      string
	rows, docs int64
	missingES  []string // keys in PostgreSQL, not in Elasticsearch (up to show)
	missingPG  []string // keys in Elasticsearch, not in PostgreSQL (up to show)
	mismatched []string // "key: field, field" for documents that differ from their row (up to show)
	nMissingES int64
	nMissingPG int64
	nMismatch  int64
	fixed      int64
	fixFailed  int64
}

// drift reports whether PostgreSQL and Elasticsearch disagree.
func (r *report) drift() bool { return r.nMissingES+r.nMissingPG+r.nMismatch > 0 }

// unresolved is the drift left after --fix: documents without a row are never deleted, and fixes
// can fail.
func (r *report) unresolved(fix bool) int64 {
	if !fix {
		return r.nMissingES + r.nMissingPG + r.nMismatch
	}
	return r.nMissingPG + r.fixFailed
}

func (r *report) print(w io.Writer, fix bool) {
	fmt.Fprintf(w, "reconcile: postgres %d rows, elasticsearch %s %d documents\n", r.rows, r.index, r.docs)
	list := func(what string, n int64, keys []string) {
		fmt.Fprintf(w, "%s: %d\n", what, n)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s\n", k)
		}
		if n > int64(len(keys)) {
			fmt.Fprintf(w, "  … and %d more\n", n-int64(len(keys)))
		}
	}
	list("missing in elasticsearch", r.nMissingES, r.missingES)
	list("missing in postgres", r.nMissingPG, r.missingPG)
	list("mismatched", r.nMismatch, r.mismatched)
	if fix {
		fmt.Fprintf(w, "fixed: %d indexed from postgres, %d failed\n", r.fixed, r.fixFailed)
	}
	if !r.drift() {
		fmt.Fprintln(w, "drift: none")
		return
	}
	fmt.Fprintf(w, "drift: %d unresolved\n", r.unresolved(fix))
}

func docOf(r pgstore.ExportRow) esindex.Doc {
	return esindex.Doc{
		Key: r.Record.Key, Sentence: r.Record.Sentence, CreatedAt: esindex.Micro(r.Record.CreatedAt),
		Scores: r.Scores, Label: r.Label, ScoredAt: esindex.Micro(r.ScoredAt), Provenance: r.Record.Provenance,
	}
}

// differences names the fields in which the document es differs from the row pg: the scores, the
// label, the sentence and created_at. scored_at and provenance are not compared: the two
// functions score at different instants, and two deliveries of one record can describe their
// source differently.
func differences(pg, es esindex.Doc) []string {
	var f []string
	if pg.Scores.Compound != es.Scores.Compound {
		f = append(f, "sentiment")
	}
	if pg.Scores.Pos != es.Scores.Pos {
		f = append(f, "pos")
	}
	if pg.Scores.Neu != es.Scores.Neu {
		f = append(f, "neu")
	}
	if pg.Scores.Neg != es.Scores.Neg {
		f = append(f, "neg")
	}
	if pg.Label != es.Label {
		f = append(f, "label")
	}
	if pg.Sentence != es.Sentence {
		f = append(f, "sentence")
	}
	if !pg.CreatedAt.Equal(es.CreatedAt) {
		f = append(f, "created_at")
	}
	return f
}

var errStop = errors.New("stop")

// esDocs yields ix's documents in key order; *errp receives the scan's error.
func esDocs(ctx context.Context, ix *esindex.Index, page int, errp *error) iter.Seq[esindex.Doc] {
	return func(yield func(esindex.Doc) bool) {
		err := ix.Scan(ctx, page, func(docs []esindex.Doc) error {
			for _, d := range docs {
				if !yield(d) {
					return errStop
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			*errp = err
		}
	}
}

// reconcile walks PostgreSQL's rows and ix's documents together, both in key order, and reports
// how they differ; with opts.fix it writes the missing and differing documents from the rows.
// Memory stays bounded by the page size and opts.show.
func reconcile(ctx context.Context, pool *pgxpool.Pool, ix *esindex.Index, opts options) (*report, error) {
	rep := &report{index: ix.Name()}
	if err := ix.Refresh(ctx); err != nil {
		return rep, err
	}
	var esErr error
	next, stop := iter.Pull(esDocs(ctx, ix, opts.page, &esErr))
	defer stop()
	cur, ok := next()
	if ok {
		rep.docs++
	}
	advance := func() {
		if cur, ok = next(); ok {
			rep.docs++
		}
	}
	var toFix []esindex.Doc
	flush := func() {
		if len(toFix) == 0 {
			return
		}
		for _, err := range ix.Put(ctx, toFix) {
			if err != nil {
				rep.fixFailed++
			} else {
				rep.fixed++
			}
		}
		toFix = toFix[:0]
	}
	note := func(keys *[]string, n *int64, s string) {
		*n++
		if len(*keys) < opts.show {
			*keys = append(*keys, s)
		}
	}

	err := pgstore.New(pool).ScanByKey(ctx, opts.page, func(rows []pgstore.ExportRow) error {
		for _, r := range rows {
			rep.rows++
			pg := docOf(r)
			for ok && cur.Key < pg.Key {
				note(&rep.missingPG, &rep.nMissingPG, cur.Key)
				advance()
			}
			switch {
			case ok && cur.Key == pg.Key:
				if diff := differences(pg, cur); len(diff) > 0 {
					note(&rep.mismatched, &rep.nMismatch, pg.Key+": "+strings.Join(diff, ", "))
					if opts.fix {
						toFix = append(toFix, pg)
					}
				}
				advance()
			default:
				note(&rep.missingES, &rep.nMissingES, pg.Key)
				if opts.fix {
					toFix = append(toFix, pg)
				}
			}
			if len(toFix) >= opts.page {
				flush()
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for ok {
		note(&rep.missingPG, &rep.nMissingPG, cur.Key)
		advance()
	}
	if esErr != nil {
		return rep, fmt.Errorf("scan %s: %w", ix.Name(), esErr)
	}
	flush()
	if opts.fix && rep.fixed > 0 {
		if err := ix.Refresh(ctx); err != nil {
			return rep, err
		}
	}
	return rep, ctx.Err()
}
