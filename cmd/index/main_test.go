package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/esindex"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{
			name: "defaults",
			want: config{
				es:           esindex.ClientConfig{URL: "http://127.0.0.1:9200"},
				index:        "sentence_idx",
				batch:        batch.Config{MaxSize: 500, MaxWait: 2 * time.Millisecond, Flushers: 2, QueueSize: 10000},
				storeTimeout: 5 * time.Second,
			},
		},
		{
			name: "set",
			env: map[string]string{
				"ELASTICSEARCH_URL": "http://es:9200", "ELASTICSEARCH_USERNAME": "u", "ELASTICSEARCH_PASSWORD": "p",
				"ES_INDEX": "idx", "BATCH_MAX_SIZE": "100", "BATCH_MAX_WAIT": "5ms", "BATCH_FLUSHERS": "3",
				"QUEUE_SIZE": "50", "STORE_TIMEOUT": "1s",
			},
			want: config{
				es:           esindex.ClientConfig{URL: "http://es:9200", Username: "u", Password: "p"},
				index:        "idx",
				batch:        batch.Config{MaxSize: 100, MaxWait: 5 * time.Millisecond, Flushers: 3, QueueSize: 50},
				storeTimeout: time.Second,
			},
		},
		{
			name:    "bad values",
			env:     map[string]string{"BATCH_MAX_SIZE": "x", "STORE_TIMEOUT": "0"},
			wantErr: "BATCH_MAX_SIZE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "STORE_TIMEOUT") {
					t.Fatalf("loadConfig = %v, want errors naming %s and STORE_TIMEOUT", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(config{})); diff != "" {
				t.Errorf("loadConfig (-want +got):\n%s", diff)
			}
		})
	}
}
