package sink

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/batch"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr []string
	}{
		{
			name: "defaults",
			want: Config{Batch: batch.Config{MaxSize: 500, MaxWait: 2 * time.Millisecond, Flushers: 1, QueueSize: 10000},
				StoreTimeout: 5 * time.Second, MaxSentenceChars: 10000},
		},
		{
			name: "set",
			env: map[string]string{"BATCH_MAX_SIZE": "100", "BATCH_MAX_WAIT": "5ms", "BATCH_FLUSHERS": "1",
				"QUEUE_SIZE": "50", "STORE_TIMEOUT": "1s", "MAX_SENTENCE_CHARS": "280"},
			want: Config{Batch: batch.Config{MaxSize: 100, MaxWait: 5 * time.Millisecond, Flushers: 1, QueueSize: 50},
				StoreTimeout: time.Second, MaxSentenceChars: 280},
		},
		{
			name: "bad",
			env: map[string]string{"BATCH_MAX_SIZE": "0", "BATCH_MAX_WAIT": "soon", "BATCH_FLUSHERS": "-1",
				"QUEUE_SIZE": "x", "STORE_TIMEOUT": "0s", "MAX_SENTENCE_CHARS": "20000"},
			wantErr: []string{"BATCH_MAX_SIZE", "BATCH_MAX_WAIT", "BATCH_FLUSHERS", "QUEUE_SIZE", "STORE_TIMEOUT", "MAX_SENTENCE_CHARS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != nil {
				for _, name := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), name) {
						t.Errorf("LoadConfig error %v does not name %s", err, name)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b func() time.Time) bool { return a == nil && b == nil })); diff != "" {
				t.Errorf("LoadConfig (-want +got):\n%s", diff)
			}
		})
	}
}
