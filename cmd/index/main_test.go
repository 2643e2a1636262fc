package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/sink"
)

// The shared variables (BATCH_*, QUEUE_SIZE, STORE_TIMEOUT, MAX_SENTENCE_CHARS) are tested in
// internal/sink; these are index's own, and that the shared ones are read.
func TestLoadConfig(t *testing.T) {
	defaults, err := sink.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	set := defaults
	set.Batch.Flushers = 3
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{
			name: "defaults",
			want: config{es: esindex.ClientConfig{URL: "http://127.0.0.1:9200"}, index: "sentence_idx", sink: defaults},
		},
		{
			name: "set",
			env: map[string]string{
				"ELASTICSEARCH_URL": "http://es:9200", "ELASTICSEARCH_USERNAME": "u", "ELASTICSEARCH_PASSWORD": "p",
				"ES_INDEX": "idx", "BATCH_FLUSHERS": "3",
			},
			want: config{es: esindex.ClientConfig{URL: "http://es:9200", Username: "u", Password: "p"}, index: "idx", sink: set},
		},
		{
			name:    "bad values",
			env:     map[string]string{"ELASTICSEARCH_USERNAME": "u", "ELASTICSEARCH_API_KEY": "k", "STORE_TIMEOUT": "0"},
			wantErr: "ELASTICSEARCH_API_KEY",
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
