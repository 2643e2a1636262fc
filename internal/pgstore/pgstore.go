// Package pgstore stores scored sentences in PostgreSQL through a pgx pool and reads them back: the
// batch insert that makes redelivery a no-op, the reads of the dashboard ([Store.Mood],
// [Store.Timeline], [Store.Latest], [Store.ScoredStats]) and of reindex and reconcile
// ([Store.Export], [Store.ScanByKey]), the embedded schema migrations ([Migrate]), and
// [Transient], which tells a failure worth retrying from one that is not.
//
// The table is the seed's sentences(id, sentence, sentiment, created_at), sentiment being VADER's
// compound, plus key (unique), pos, neu, neg, label, scored_at, topic, kafka_partition, kafka_offset,
// event_id and event_source; see migrations/.
package pgstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// PoolConfig tunes [NewPool]. The zero value of each optional field means its default.
type PoolConfig struct {
	// URL is the connection string (postgres://user@host:port/db?sslmode=...); required.
	URL string
	// Password, when set, replaces the URL's password (from DATABASE_PASSWORD or its _FILE).
	Password string
	// MaxConns is the most connections the pool opens; default 8.
	MaxConns int32
	// ConnectTimeout bounds establishing one connection; default 2s.
	ConnectTimeout time.Duration
	// RuntimeParams are session settings (default_transaction_read_only, statement_timeout, …)
	// added to the URL's; application_name defaults to "sentistream".
	RuntimeParams map[string]string
}

// NewPool returns a pool for cfg without connecting: connections open on first use, so a process
// starts, and answers its liveness probe, while PostgreSQL is down. Close it after the server has
// stopped.
func NewPool(ctx context.Context, cfg PoolConfig) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's parse error masks the password.
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.Password != "" {
		pc.ConnConfig.Password = cfg.Password
	}
	pc.MaxConns = orDefault(cfg.MaxConns, 8)
	pc.ConnConfig.ConnectTimeout = orDefault(cfg.ConnectTimeout, 2*time.Second)
	for k, v := range cfg.RuntimeParams {
		pc.ConnConfig.RuntimeParams[k] = v
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "sentistream"
	}
	return pgxpool.NewWithConfig(ctx, pc)
}

func orDefault[T int32 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// DB is the part of a pgx pool a [Store] runs its statements on; a *pgxpool.Pool (from [NewPool])
// satisfies it.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Ping(ctx context.Context) error
}

// Store writes scored sentences and reads them back: the batch insert, the exports of reindex and
// reconcile, and the dashboard's reads (read.go). It is safe for concurrent use.
type Store struct {
	pool DB
	// rollupMissingUntil is when, in Unix nanoseconds, [Store.Timeline] looks for the rollup table
	// again after finding it missing.
	rollupMissingUntil atomic.Int64
}

// New returns a Store on pool, usually a *pgxpool.Pool; a Store that only reads may be given a
// read-only pool (default_transaction_read_only). The caller keeps ownership of pool and closes it.
func New(pool DB) *Store {
	return &Store{pool: pool}
}

// Row is one scored sentence to store.
type Row struct {
	Record event.Record
	Scores sentiment.Scores
}

const insertSQL = `INSERT INTO sentences
	(key, sentence, sentiment, created_at, pos, neu, neg, label, topic, kafka_partition, kafka_offset, event_id, event_source)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::timestamptz[], $5::float8[], $6::float8[], $7::float8[],
	$8::text[], $9::text[], $10::int4[], $11::int8[], $12::text[], $13::text[])
ON CONFLICT (key) DO NOTHING
RETURNING key`

// Insert writes rows in one statement (a multi-row INSERT from arrays, one round trip, one
// transaction) and reports for each row whether it was newly inserted (true) or its key was
// already stored (false: a duplicate, which is success too). Rows that repeat a key within rows
// count as duplicates after the first. On error nothing is written; [Transient] tells whether a
// retry could succeed.
func (s *Store) Insert(ctx context.Context, rows []Row) ([]bool, error) {
	inserted := make([]bool, len(rows))
	if len(rows) == 0 {
		return inserted, nil
	}
	// One row per key, sorted by key: concurrent batches then take row locks in the same order and
	// cannot deadlock on each other's keys.
	first := make(map[string]int, len(rows))
	order := make([]int, 0, len(rows))
	for i, r := range rows {
		if _, ok := first[r.Record.Key]; !ok {
			first[r.Record.Key] = i
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(rows[a].Record.Key, rows[b].Record.Key) })

	n := len(order)
	var (
		keys, sentences, labels = make([]string, n), make([]string, n), make([]string, n)
		compound, pos, neu, neg = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		created                 = make([]time.Time, n)
		topics, ids, sources    = make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
		partitions              = make([]pgtype.Int4, n)
		offsets                 = make([]pgtype.Int8, n)
	)
	for j, i := range order {
		r := rows[i]
		p := r.Record.Provenance
		keys[j], sentences[j] = r.Record.Key, r.Record.Sentence
		compound[j], pos[j], neu[j], neg[j] = r.Scores.Compound, r.Scores.Pos, r.Scores.Neu, r.Scores.Neg
		labels[j] = sentiment.Label(r.Scores.Compound)
		created[j] = r.Record.CreatedAt
		topics[j] = pgtype.Text{String: p.Topic, Valid: p.Topic != ""}
		ids[j] = pgtype.Text{String: p.EventID, Valid: p.EventID != ""}
		sources[j] = pgtype.Text{String: p.EventSource, Valid: p.EventSource != ""}
		partitions[j] = pgtype.Int4{Int32: p.Partition, Valid: p.HasOffset}
		offsets[j] = pgtype.Int8{Int64: p.Offset, Valid: p.HasOffset}
	}
	res, err := s.pool.Query(ctx, insertSQL, keys, sentences, compound, created, pos, neu, neg,
		labels, topics, partitions, offsets, ids, sources)
	if err != nil {
		return nil, fmt.Errorf("insert %d sentences: %w", n, Misconfigured(err))
	}
	defer res.Close()
	var key string
	for res.Next() {
		if err := res.Scan(&key); err != nil {
			return nil, fmt.Errorf("insert %d sentences: %w", n, err)
		}
		if i, ok := first[key]; ok {
			inserted[i] = true
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("insert %d sentences: %w", n, err)
	}
	return inserted, nil
}

// Ping reports whether PostgreSQL answers, opening a connection if the pool has none.
func (s *Store) Ping(ctx context.Context) error {
	return Misconfigured(s.pool.Ping(ctx))
}

// Misconfigured wraps err in an [env.MisconfigError] naming the variable to change when it is a
// failure no retry gets past: the password or role refused, the database missing, the server's
// certificate not trusted or not valid for the host, TLS required but refused. Any other error
// (nil included) is returned as it is.
func Misconfigured(err error) error {
	if err == nil {
		return nil
	}
	const url = "DATABASE_URL(_FILE)"
	var pgErr *pgconn.PgError
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	reason := ""
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			reason = "postgresql refused the login (" + pgErr.Code + " " + pgErr.Message + "): check the user and password in " +
				url + " or DATABASE_PASSWORD(_FILE), and pg_hba.conf"
		case "3D000": // invalid_catalog_name
			reason = "postgresql has no such database (" + pgErr.Message + "): create it, or fix the database name in " + url
		case "42501": // insufficient_privilege
			reason = "postgresql denied a privilege (" + pgErr.Message + "): the role in " + url +
				" must own the database's schema (or be granted CREATE and INSERT on it)"
		}
	case errors.As(err, &host):
		reason = "postgresql's certificate is not valid for the host in " + url + " (" + host.Error() + "): use a host name it names"
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		reason = "postgresql's certificate is not trusted: set sslrootcert=/path/to/ca.crt in " + url
	case strings.Contains(err.Error(), "server refused TLS connection"):
		reason = "postgresql does not accept TLS, but " + url + " asks for it (sslmode): enable ssl on the server or change sslmode"
	}
	if reason == "" {
		return err
	}
	return &env.MisconfigError{Reason: reason, Err: err}
}

// Transient reports whether err is a failure that a later retry of the same write could get past:
// PostgreSQL unreachable or going away (connection refused, reset or closed, a connection
// exception, admin or crash shutdown, "cannot connect now" while it starts or stops), the
// operation timing out (ctx deadline, pool acquire timeout, statement timeout or cancel),
// resource exhaustion (too many connections, out of memory or disk), a read-only server (a
// standby the pool reached during a failover, or default_transaction_read_only), and concurrency
// conflicts (serialization failure, deadlock, lock not available). Everything else, such as a constraint
// violation, a value too long for its column or an undefined table, is permanent until someone
// changes the code, the data or the schema.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"), // insufficient resources
			pgErr.Code == "25006",               // read_only_sql_transaction: a standby, until failover completes
			pgErr.Code == "40001",               // serialization_failure
			pgErr.Code == "40P01",               // deadlock_detected
			pgErr.Code == "55P03",               // lock_not_available
			pgErr.Code == "57014",               // query_canceled (statement timeout)
			pgErr.Code == "57P01",               // admin_shutdown
			pgErr.Code == "57P02",               // crash_shutdown
			pgErr.Code == "57P03":               // cannot_connect_now
			return true
		}
		return false
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		pgconn.Timeout(err),
		pgconn.SafeToRetry(err),
		errors.As(err, &connectErr),
		errors.As(err, &netErr),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// LoadPoolConfig reads the connection settings every binary shares from the environment:
// DATABASE_URL (default: the local stack's database), a libpq URL or key=value string with
// libpq's own parameters (sslmode=verify-full, sslrootcert, sslcert, sslkey, password), and
// DATABASE_PASSWORD; each is also readable from the file named by its _FILE variable, so a URL
// holding a password can be a secret. Tuning fields are left at their defaults.
func LoadPoolConfig(getenv env.Getenv) (PoolConfig, error) {
	url, err1 := env.Secret(getenv, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable")
	password, err2 := env.Secret(getenv, "DATABASE_PASSWORD", "")
	return PoolConfig{URL: url, Password: password}, errors.Join(err1, err2)
}
