package serve

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadConfig(t *testing.T) {
	defaults := Config{
		Addr:              ":8080",
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxBodyBytes:      1 << 20,
		ShutdownTimeout:   10 * time.Second,
	}
	tests := []struct {
		name      string
		env       map[string]string
		want      Config
		wantLevel slog.Level
		wantErrs  []string // substrings of the error; nil means no error
	}{
		{name: "defaults", want: defaults, wantLevel: slog.LevelInfo},
		{
			name: "all set",
			env: map[string]string{"PORT": "9090", "MAX_BODY_BYTES": "512KiB", "DRAIN_DELAY": "5s",
				"SHUTDOWN_TIMEOUT": "20s", "LOG_LEVEL": "debug"},
			want: func() Config {
				c := defaults
				c.Addr, c.MaxBodyBytes, c.DrainDelay, c.ShutdownTimeout = ":9090", 512<<10, 5*time.Second, 20*time.Second
				return c
			}(),
			wantLevel: slog.LevelDebug,
		},
		{
			name:      "port 0 and level WARN",
			env:       map[string]string{"PORT": "0", "LOG_LEVEL": "WARN"},
			want:      func() Config { c := defaults; c.Addr = ":0"; return c }(),
			wantLevel: slog.LevelWarn,
		},
		{name: "bad port", env: map[string]string{"PORT": "http"}, wantErrs: []string{`PORT: want an integer, got "http"`}},
		{name: "port out of range", env: map[string]string{"PORT": "70000"}, wantErrs: []string{`PORT: want an integer from 0 to 65535, got "70000"`}},
		{name: "zero body limit", env: map[string]string{"MAX_BODY_BYTES": "0"}, wantErrs: []string{`MAX_BODY_BYTES: want a positive size`}},
		{name: "zero shutdown timeout", env: map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, wantErrs: []string{`SHUTDOWN_TIMEOUT: want a positive duration`}},
		{name: "bad log level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErrs: []string{`LOG_LEVEL: want debug, info, warn or error, got "loud"`}},
		{
			name:     "every error at once",
			env:      map[string]string{"PORT": "x", "MAX_BODY_BYTES": "1 lot", "DRAIN_DELAY": "-1s", "SHUTDOWN_TIMEOUT": "soon", "LOG_LEVEL": "loud"},
			wantErrs: []string{"PORT:", "MAX_BODY_BYTES:", "DRAIN_DELAY:", "SHUTDOWN_TIMEOUT:", "LOG_LEVEL:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, level, err := LoadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErrs != nil {
				if err == nil {
					t.Fatalf("LoadConfig(%v) = %+v, want an error", tt.env, got)
				}
				for _, s := range tt.wantErrs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("LoadConfig(%v) error = %q, want it to contain %q", tt.env, err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig(%v) error = %v", tt.env, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LoadConfig(%v) config (-want +got):\n%s", tt.env, diff)
			}
			if level != tt.wantLevel {
				t.Errorf("LoadConfig(%v) level = %v, want %v", tt.env, level, tt.wantLevel)
			}
		})
	}
}

func TestConfigWithDefaults(t *testing.T) {
	got := Config{Addr: ":1", DrainDelay: -time.Second, WriteTimeout: -1}.withDefaults()
	want := Config{
		Addr:              ":1",
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxBodyBytes:      1 << 20,
		ShutdownTimeout:   10 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("withDefaults (-want +got):\n%s", diff)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelWarn)
	log.Info("hidden")
	log.Warn("shown", slog.String("k", "v"))
	got := buf.String()
	if strings.Contains(got, "hidden") || !strings.Contains(got, `"msg":"shown","k":"v"`) {
		t.Errorf("NewLogger(warn) wrote %q, want only the JSON warning", got)
	}
}
