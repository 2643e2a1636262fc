// Command reindex rebuilds the Elasticsearch index from PostgreSQL, the source of truth.
//
//	reindex [--fresh [--keep-old]] [--batch 2000] [--workers 4] [--retries 5] [--progress 1s]
//
// It pages through the sentences table by id and writes every row with the bulk action index
// (overwriting, so a rerun is safe and repairs documents that differ), printing progress (rows,
// rows/s) every --progress and a final count. Without --fresh it writes into ES_INDEX as it is
// (an index or an alias; a missing one is created from the template). With --fresh it builds a
// new index ES_INDEX-<timestamp> with refreshes and replicas off, then in one atomic request points
// the alias ES_INDEX at it (deleting a concrete index of that name, or removing the alias from its
// old indices, which are deleted unless --keep-old), then copies the rows stored meanwhile. Search
// keeps working throughout. Events indexed by the function while a fresh build runs go to the old
// index; run reconcile --fix afterwards to pick up any the catch-up missed.
//
// Environment: DATABASE_URL (postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable),
// DATABASE_PASSWORD (+_FILE), ELASTICSEARCH_URL (http://127.0.0.1:9200), ELASTICSEARCH_USERNAME
// and ELASTICSEARCH_PASSWORD (+_FILE), ES_INDEX (sentence_idx).
//
// Exit status: 0 when every row is indexed, 1 when some were refused or kept failing, 2 on error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/pgstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// connect builds the PostgreSQL pool config and the Elasticsearch index from the environment.
func connect(getenv env.Getenv, maxConns int32) (*pgstore.PoolConfig, *esindex.Index, error) {
	pc, err1 := pgstore.LoadPoolConfig(getenv)
	ec, err2 := esindex.LoadClientConfig(getenv)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, err
	}
	es, err := esindex.NewClient(ec)
	if err != nil {
		return nil, nil, err
	}
	pc.MaxConns = maxConns
	return &pc, esindex.New(es, env.String(getenv, "ES_INDEX", esindex.DefaultName)), nil
}

func run(ctx context.Context, args []string, getenv env.Getenv, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	fs.BoolVar(&opts.fresh, "fresh", false, "build a new index ES_INDEX-<timestamp> and switch the alias ES_INDEX to it")
	fs.BoolVar(&opts.keepOld, "keep-old", false, "with --fresh, keep the indices the alias pointed to")
	fs.IntVar(&opts.batch, "batch", 2000, "rows per page and per _bulk request")
	fs.IntVar(&opts.workers, "workers", 4, "concurrent _bulk requests")
	fs.IntVar(&opts.retries, "retries", 5, "attempts per document when Elasticsearch fails transiently")
	fs.DurationVar(&opts.progress, "progress", time.Second, "progress interval (0: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.batch <= 0 || opts.workers <= 0 || opts.retries <= 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "reindex: --batch, --workers and --retries must be > 0; no arguments")
		return 2
	}
	pc, ix, err := connect(getenv, 4)
	if err != nil {
		fmt.Fprintln(stderr, "reindex:", err)
		return 2
	}
	pool, err := pgstore.NewPool(ctx, *pc)
	if err != nil {
		fmt.Fprintln(stderr, "reindex:", err)
		return 2
	}
	defer pool.Close()
	res, err := reindex(ctx, pool, ix, opts, stdout)
	return report(res, err, stdout, stderr)
}

// report prints the outcome and returns the exit status.
func report(res result, err error, stdout, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "reindex: %v (after %d rows read, %d indexed)\n", err, res.rows, res.indexed)
		return 2
	}
	rate := float64(res.indexed) / res.elapsed.Seconds()
	fmt.Fprintf(stdout, "reindex: done: %d rows read, %d documents indexed into %s in %s (%.0f rows/s), %d failed\n",
		res.rows, res.indexed, res.into, res.elapsed.Round(time.Millisecond), rate, len(res.failed))
	for i, f := range res.failed {
		if i == 20 {
			fmt.Fprintf(stdout, "reindex: … and %d more\n", len(res.failed)-i)
			break
		}
		fmt.Fprintf(stdout, "reindex: failed %s: %v\n", f.key, f.err)
	}
	if len(res.failed) > 0 {
		return 1
	}
	return 0
}
