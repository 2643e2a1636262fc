// Package pgstoretest gives integration tests a real PostgreSQL schema of their own, migrated and
// dropped when the test ends. It reads the database from [testenv.DatabaseURL], so tests skip (or,
// under CI, fail) when none is configured.
package pgstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/testenv"
)

// Open returns a pool whose connections use a fresh schema (named after t.Name() plus a random
// suffix) with every migration applied. The pool is closed and the schema dropped in t.Cleanup.
func Open(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg := Config(t)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgstoretest: new pool: %v", err)
	}
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatalf("pgstoretest: migrate: %v", err)
	}
	return pool
}

// Config creates a fresh, empty schema (dropped in t.Cleanup) and returns a pool config whose
// connections use it as their search_path, for tests that tune the pool or run migrations
// themselves. Close pools built from it before the test ends.
func Config(t testing.TB) *pgxpool.Config {
	t.Helper()
	url := testenv.DatabaseURL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgstoretest: parse %s: %v", testenv.DatabaseVar, err)
	}
	schema := SchemaName(t.Name())
	ident := pgx.Identifier{schema}.Sanitize()
	exec(t, cfg, "CREATE SCHEMA "+ident)
	t.Cleanup(func() { exec(t, cfg, "DROP SCHEMA "+ident+" CASCADE") })
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	return cfg
}

// SchemaName returns a schema name for a test: its name, lower-cased, with characters other than
// letters and digits turned into '_', cut to fit, and a random suffix.
func SchemaName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix[:]))
	return b.String()
}

// exec runs sql on a connection of its own (the test's pool may be closed or broken by then).
func exec(t testing.TB, cfg *pgxpool.Config, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		t.Errorf("pgstoretest: connect: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Errorf("pgstoretest: %s: %v", sql, err)
	}
}
