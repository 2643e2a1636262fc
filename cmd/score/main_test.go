package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// The shared variables (BATCH_*, QUEUE_SIZE, STORE_TIMEOUT, MAX_SENTENCE_CHARS) are tested in
// internal/sink; these are score's own, and that the shared ones are read.
func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []any
	}{
		{"defaults", nil, []any{"postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable", "", true, 500}},
		{"set", map[string]string{"DATABASE_URL": "postgres://u@db:5432/x", "DATABASE_PASSWORD": "pw",
			"MIGRATE_ON_START": "false", "BATCH_MAX_SIZE": "100"}, []any{"postgres://u@db:5432/x", "pw", false, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(getenv(tt.env))
			if err != nil {
				t.Fatalf("loadConfig() = %v", err)
			}
			got := []any{c.db.URL, c.db.Password, c.migrateOnStart, c.sink.Batch.MaxSize}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	_, err := loadConfig(getenv(map[string]string{
		"STORE_TIMEOUT": "0s", "MIGRATE_ON_START": "maybe", "DATABASE_PASSWORD": "a", "DATABASE_PASSWORD_FILE": "/x",
	}))
	if err == nil {
		t.Fatal("loadConfig with bad values = nil")
	}
	for _, name := range []string{"STORE_TIMEOUT", "MIGRATE_ON_START", "DATABASE_PASSWORD"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("loadConfig error %q does not name %s", err, name)
		}
	}
}
