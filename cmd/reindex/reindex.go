package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/pgstore"
)

// options tune a reindex.
type options struct {
	fresh    bool          // build a new index and switch the alias to it
	keepOld  bool          // with fresh: keep the indices the alias pointed to before
	batch    int           // rows per page and per _bulk request
	workers  int           // concurrent _bulk requests
	progress time.Duration // how often to print progress; 0 means never
	retries  int           // attempts per document for transient failures
}

// result is what a reindex did.
type result struct {
	rows    int64         // rows read from PostgreSQL
	indexed int64         // documents written
	failed  []failure     // documents Elasticsearch refused or that kept failing
	into    string        // the concrete index or alias written
	elapsed time.Duration // wall time
}

type failure struct {
	key string
	err error
}

func docOf(r pgstore.ExportRow) esindex.Doc {
	return esindex.Doc{
		Key: r.Record.Key, Sentence: r.Record.Sentence, CreatedAt: esindex.Micro(r.Record.CreatedAt),
		Scores: r.Scores, Label: r.Label, ScoredAt: esindex.Micro(r.ScoredAt), Provenance: r.Record.Provenance,
	}
}

// reindex copies every row of PostgreSQL into ix (or, with opts.fresh, into a new index that ix's
// name then points to), overwriting documents that exist. It pages through the table by id and
// keeps opts.workers bulk requests in flight.
func reindex(ctx context.Context, pool *pgxpool.Pool, ix *esindex.Index, opts options, out io.Writer) (result, error) {
	start := time.Now()
	res := result{into: ix.Name()}
	if err := ix.EnsureTemplate(ctx); err != nil {
		return res, fmt.Errorf("install template: %w", err)
	}
	target := ix
	if opts.fresh {
		name := ix.FreshName(start)
		var err error
		if target, err = ix.CreateFresh(ctx, name); err != nil {
			return res, fmt.Errorf("create %s: %w", name, err)
		}
		res.into = name
		fmt.Fprintf(out, "reindex: building %s for alias %s\n", name, ix.Name())
	}

	lastID, err := copyRows(ctx, pool, target, 0, opts, out, &res, start)
	if opts.fresh {
		if err == nil {
			err = switchTo(ctx, ix, target, opts, out)
		}
		if err != nil {
			// The alias was not switched: drop the half-built index.
			if derr := ix.DeleteConcrete(context.WithoutCancel(ctx), target.Name()); derr != nil {
				fmt.Fprintf(out, "reindex: could not delete %s: %v\n", target.Name(), derr)
			}
			return res, err
		}
		// Rows stored while the fresh index was built went to the old index: copy them again.
		_, err = copyRows(ctx, pool, ix, lastID, opts, io.Discard, &res, start)
	}
	if err != nil {
		return res, err
	}
	if err := ix.Refresh(ctx); err != nil {
		return res, err
	}
	res.elapsed = time.Since(start)
	return res, nil
}

// switchTo makes the fresh index searchable and points ix's name at it.
func switchTo(ctx context.Context, ix, fresh *esindex.Index, opts options, out io.Writer) error {
	if err := fresh.FinishFresh(ctx); err != nil {
		return fmt.Errorf("finish %s: %w", fresh.Name(), err)
	}
	old, err := ix.SwitchAlias(ctx, fresh.Name())
	if err != nil {
		return fmt.Errorf("switch alias %s to %s: %w", ix.Name(), fresh.Name(), err)
	}
	fmt.Fprintf(out, "reindex: alias %s -> %s\n", ix.Name(), fresh.Name())
	for _, o := range old {
		if opts.keepOld {
			fmt.Fprintf(out, "reindex: kept old index %s\n", o)
			continue
		}
		if err := ix.DeleteConcrete(ctx, o); err != nil {
			return fmt.Errorf("delete old index %s: %w", o, err)
		}
		fmt.Fprintf(out, "reindex: deleted old index %s\n", o)
	}
	return nil
}

// copyRows pages through rows with id > afterID and writes them to target, printing progress.
// It returns the last id read.
func copyRows(ctx context.Context, pool *pgxpool.Pool, target *esindex.Index, afterID int64, opts options, out io.Writer, res *result, start time.Time) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pages := make(chan []esindex.Doc, opts.workers)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		rows     atomic.Int64
		indexed  atomic.Int64
		baseRows = res.rows
		baseIdx  = res.indexed
	)
	for range opts.workers {
		wg.Go(func() {
			for docs := range pages {
				n, failed, err := put(ctx, target, docs, opts.retries)
				indexed.Add(n)
				if err != nil {
					cancel(err)
					continue
				}
				if len(failed) > 0 {
					mu.Lock()
					res.failed = append(res.failed, failed...)
					mu.Unlock()
				}
			}
		})
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if opts.progress <= 0 {
			return
		}
		t := time.NewTicker(opts.progress)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				n := baseIdx + indexed.Load()
				fmt.Fprintf(out, "reindex: %d rows read, %d indexed, %.0f rows/s\n",
					baseRows+rows.Load(), n, float64(n)/time.Since(start).Seconds())
			}
		}
	}()

	lastID := afterID
	var readErr error
	store := pgstore.New(pool)
	for {
		batch, err := store.Export(ctx, lastID, opts.batch)
		if err != nil {
			readErr = err
			break
		}
		if len(batch) == 0 {
			break
		}
		docs := make([]esindex.Doc, len(batch))
		for i, r := range batch {
			docs[i] = docOf(r)
		}
		lastID = batch[len(batch)-1].ID
		rows.Add(int64(len(batch)))
		select {
		case pages <- docs:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(pages)
	wg.Wait()
	close(stopProgress)
	<-progressDone
	res.rows += rows.Load()
	res.indexed += indexed.Load()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return lastID, err
	}
	if readErr != nil {
		return lastID, readErr
	}
	return lastID, ctx.Err()
}

// put writes docs, retrying the ones that fail transiently, and returns how many were written,
// the ones refused (or still failing after retries attempts), and an error only when ctx ends.
func put(ctx context.Context, target *esindex.Index, docs []esindex.Doc, retries int) (int64, []failure, error) {
	var written int64
	for attempt := 1; ; attempt++ {
		errs := target.Put(ctx, docs)
		var again []esindex.Doc
		var failed []failure
		for i, err := range errs {
			switch {
			case err == nil:
				written++
			case esindex.Transient(err) && attempt < retries:
				again = append(again, docs[i])
			default:
				failed = append(failed, failure{key: docs[i].Key, err: err})
			}
		}
		if len(again) == 0 {
			return written, failed, nil
		}
		select {
		case <-ctx.Done():
			return written, nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		}
		docs = again
	}
}
