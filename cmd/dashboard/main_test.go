package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/dashboard"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{name: "defaults", env: nil, check: func(t *testing.T, c config) {
			if c.db.URL != "postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable" || c.es.URL != "http://127.0.0.1:9200" {
				t.Errorf("urls = %q, %q", c.db.URL, c.es.URL)
			}
			want := dashboard.Config{
				Index: "sentence_idx", Topic: "sentence", DeadLetterTopic: "sentence-dlq",
				Groups:  []dashboard.Group{{Name: "sentistream-score", Sink: "score (PostgreSQL)"}, {Name: "sentistream-index", Sink: "index (Elasticsearch)"}},
				Refresh: 2 * time.Second, QueryTimeout: 1500 * time.Millisecond, CacheTTL: time.Second, LagWarn: 1000,
			}
			if diff := cmp.Diff(want, c.dash); diff != "" {
				t.Errorf("dashboard config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"127.0.0.1:9092"}, c.brokers); diff != "" {
				t.Errorf("brokers (-want +got):\n%s", diff)
			}
		}},
		{name: "set", env: map[string]string{
			"ES_INDEX": "other", "KAFKA_BROKERS": "a:1,b:2", "REFRESH_INTERVAL": "5s", "CACHE_TTL": "0",
			"SCORE_GROUP": "g1", "INDEX_GROUP": "g2", "LAG_WARN": "10",
		}, check: func(t *testing.T, c config) {
			if c.dash.Index != "other" || len(c.brokers) != 2 || c.dash.Refresh != 5*time.Second || c.dash.CacheTTL >= 0 ||
				c.dash.Groups[0].Name != "g1" || c.dash.Groups[1].Name != "g2" || c.dash.LagWarn != 10 {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "drivers and time", env: map[string]string{"PRODUCT_NAMES": "Acme Phone, AcmeOS,", "FUTURE_SKEW": "2m"}, check: func(t *testing.T, c config) {
			if diff := cmp.Diff([]string{"Acme Phone", "AcmeOS"}, c.dash.ProductNames); diff != "" || c.dash.FutureSkew != 2*time.Minute {
				t.Errorf("product names (-want +got):\n%s; future skew %v, want 2m", diff, c.dash.FutureSkew)
			}
		}},
		{name: "bad skew", env: map[string]string{"FUTURE_SKEW": "soon"}, wantErr: "FUTURE_SKEW"},
		{name: "bad values", env: map[string]string{"REFRESH_INTERVAL": "soon", "LAG_WARN": "x"}, wantErr: "REFRESH_INTERVAL"},
		{name: "too fast", env: map[string]string{"REFRESH_INTERVAL": "10ms"}, wantErr: "REFRESH_INTERVAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}
