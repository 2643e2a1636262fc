// Command reconcile compares PostgreSQL, the source of truth, with the Elasticsearch index by key.
//
//	reconcile [--fix] [--show 20] [--page 5000]
//
// It reads the sentences table ordered by key (byte order) and the index's documents sorted on
// key (a point-in-time search_after scan), both streamed, and walks them together, so memory stays
// bounded by the page size. It prints the counts on both sides, the keys missing on either side,
// and the keys whose document differs from the row (sentiment, pos, neu, neg, label, sentence,
// created_at; scored_at and provenance are not compared), listing up to --show keys of each.
//
// With --fix it writes every missing or differing document from its row (bulk action index).
// Documents without a row are only reported: the two functions store independently, so a document
// can precede its row for a moment; a persistent one means the row was lost or deleted.
//
// Both sides are read at slightly different instants, so events in flight show as drift for a
// moment: rerun before acting on a small drift in a live system.
//
// Environment: as reindex (DATABASE_URL, DATABASE_PASSWORD(+_FILE), ELASTICSEARCH_URL,
// ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD (+_FILE), ES_INDEX).
//
// Exit status: 0 when there is no drift (or --fix resolved all of it), 1 when drift remains,
// 2 on error.
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

func run(ctx context.Context, args []string, getenv env.Getenv, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	fs.BoolVar(&opts.fix, "fix", false, "index what is missing or differs in Elasticsearch, from PostgreSQL")
	fs.IntVar(&opts.show, "show", 20, "keys to list per kind of drift")
	fs.IntVar(&opts.page, "page", 5000, "rows and documents read per page")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.page <= 0 || opts.show < 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "reconcile: --page must be > 0, --show >= 0; no arguments")
		return 2
	}
	pc, err1 := pgstore.LoadPoolConfig(getenv)
	ec, err2 := esindex.LoadClientConfig(getenv)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(stderr, "reconcile:", err)
		return 2
	}
	es, err := esindex.NewClient(ec)
	if err != nil {
		fmt.Fprintln(stderr, "reconcile:", err)
		return 2
	}
	ix := esindex.New(es, env.String(getenv, "ES_INDEX", esindex.DefaultName))
	pc.MaxConns = 2
	pool, err := pgstore.NewPool(ctx, pc)
	if err != nil {
		fmt.Fprintln(stderr, "reconcile:", err)
		return 2
	}
	defer pool.Close()
	rep, err := reconcile(ctx, pool, ix, opts)
	if err != nil {
		fmt.Fprintln(stderr, "reconcile:", err)
		return 2
	}
	rep.print(stdout, opts.fix)
	if rep.unresolved(opts.fix) > 0 {
		return 1
	}
	return 0
}
