package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(getenv(nil))
	if err != nil {
		t.Fatalf("loadConfig() = %v", err)
	}
	got := []any{c.db.URL, c.db.Password, c.score.Batch.MaxSize, c.score.Batch.MaxWait, c.score.Batch.Flushers,
		c.score.Batch.QueueSize, c.score.StoreTimeout, c.maxSentenceChars, c.migrateOnStart}
	want := []any{"postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable", "", 500, 2 * time.Millisecond, 2,
		10000, 2 * time.Second, 10000, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestLoadConfig(t *testing.T) {
	c, err := loadConfig(getenv(map[string]string{
		"DATABASE_URL": "postgres://u@db:5432/x", "DATABASE_PASSWORD": "pw", "BATCH_MAX_SIZE": "100",
		"BATCH_MAX_WAIT": "5ms", "BATCH_FLUSHERS": "1", "QUEUE_SIZE": "50", "STORE_TIMEOUT": "1s",
		"MAX_SENTENCE_CHARS": "280", "MIGRATE_ON_START": "false",
	}))
	if err != nil {
		t.Fatalf("loadConfig() = %v", err)
	}
	got := []any{c.db.URL, c.db.Password, c.score.Batch.MaxSize, c.score.Batch.MaxWait, c.score.Batch.Flushers,
		c.score.Batch.QueueSize, c.score.StoreTimeout, c.maxSentenceChars, c.migrateOnStart}
	want := []any{"postgres://u@db:5432/x", "pw", 100, 5 * time.Millisecond, 1, 50, time.Second, 280, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	_, err := loadConfig(getenv(map[string]string{
		"BATCH_MAX_SIZE": "0", "BATCH_MAX_WAIT": "soon", "QUEUE_SIZE": "-1", "STORE_TIMEOUT": "0s",
		"MAX_SENTENCE_CHARS": "20000", "MIGRATE_ON_START": "maybe", "DATABASE_PASSWORD": "a", "DATABASE_PASSWORD_FILE": "/x",
	}))
	if err == nil {
		t.Fatal("loadConfig with bad values = nil")
	}
	for _, name := range []string{"BATCH_MAX_SIZE", "BATCH_MAX_WAIT", "QUEUE_SIZE", "STORE_TIMEOUT", "MAX_SENTENCE_CHARS", "MIGRATE_ON_START", "DATABASE_PASSWORD"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("loadConfig error %q does not name %s", err, name)
		}
	}
}
