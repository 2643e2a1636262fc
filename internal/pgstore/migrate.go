package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the pg_advisory_lock key that serialises migrations across processes
// ("sentistr" in ASCII).
const migrationLockID int64 = 0x73656e7469737472

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations, named NNNN_name.sql, in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("two migrations with version %d", ms[i].version)
		}
	}
	return ms, nil
}

// Migrate brings the schema in the pool's search_path up to date with the embedded migrations and
// returns how many it applied. When everything is applied already it costs one query. Otherwise it
// takes a PostgreSQL advisory lock, so concurrent instances migrate one at a time, and applies each
// missing migration in its own transaction, recording it in schema_migrations. Running it again is
// a no-op.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	ms, err := migrations()
	if err != nil {
		return 0, err
	}
	latest := ms[len(ms)-1].version

	// Fast path: one query.
	var current int
	err = pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current)
	var pgErr *pgconn.PgError
	switch {
	case err == nil && current >= latest:
		return 0, nil
	case err == nil, errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
	default:
		return 0, fmt.Errorf("read schema version: %w", err)
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A failed unlock leaves the lock with the session; closing the connection releases it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := 0
	for _, m := range ms {
		// Re-read under the lock: another instance may have applied it meanwhile.
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.version).Scan(&done); err != nil {
			return applied, fmt.Errorf("migrate: %w", err)
		}
		if done {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
		}
		applied++
	}
	return applied, nil
}

// MigrateRetrying calls [Migrate] until it succeeds, waiting every between attempts and reporting
// each failure to onErr (which may be nil), and returns how many migrations it applied. It returns
// ctx's error if ctx ends first. Each attempt is bounded by 30s. Run it in a goroutine at start-up
// so that a process starts, and answers its liveness probe, while PostgreSQL is down.
func MigrateRetrying(ctx context.Context, pool *pgxpool.Pool, every time.Duration, onErr func(error)) (int, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := Migrate(actx, pool)
		cancel()
		if err == nil {
			return n, nil
		}
		if onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}
