package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAdapt(t *testing.T) {
	const dsn = "postgres://app:hunter2@db:5432/app"
	tests := []struct {
		name       string
		h          HandlerFunc
		cancel     bool // cancel the request ctx before calling the handler
		wantStatus int
		wantBody   map[string]any // nil: don't decode the body
		wantRaw    string         // when wantBody is nil
		wantRetry  string
		wantLog    map[string]any // without time and duration
	}{
		{
			name: "nil error, handler wrote 204",
			h: func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(http.StatusNoContent)
				return nil
			},
			wantStatus: 204,
			wantLog:    map[string]any{"level": "DEBUG", "msg": "request", "status": 204.0, "method": "POST", "path": "/e"},
		},
		{
			name:       "nil error, handler wrote nothing",
			h:          func(w http.ResponseWriter, r *http.Request) error { return nil },
			wantStatus: 200,
			wantLog:    map[string]any{"level": "DEBUG", "msg": "request", "status": 200.0, "method": "POST", "path": "/e"},
		},
		{
			name: "Error gives its code and message",
			h: func(w http.ResponseWriter, r *http.Request) error {
				return Errorf(http.StatusBadRequest, "malformed event", errors.New("invalid character 'x'"))
			},
			wantStatus: 400,
			wantBody:   map[string]any{"error": "malformed event"},
			wantLog: map[string]any{"level": "WARN", "msg": "request", "status": 400.0, "method": "POST", "path": "/e",
				"error": "malformed event: invalid character 'x'"},
		},
		{
			name: "Error detail is merged, error key reserved",
			h: func(w http.ResponseWriter, r *http.Request) error {
				return &Error{Code: 422, Msg: "invalid field", Detail: map[string]any{"field": "data.text", "error": "ignored"}}
			},
			wantStatus: 422,
			wantBody:   map[string]any{"error": "invalid field", "field": "data.text"},
			wantLog: map[string]any{"level": "WARN", "msg": "request", "status": 422.0, "method": "POST", "path": "/e",
				"error": "invalid field"},
		},
		{
			name: "Error without message uses the status text",
			h: func(w http.ResponseWriter, r *http.Request) error {
				return &Error{Code: http.StatusUnsupportedMediaType}
			},
			wantStatus: 415,
			wantBody:   map[string]any{"error": "Unsupported Media Type"},
			wantLog: map[string]any{"level": "WARN", "msg": "request", "status": 415.0, "method": "POST", "path": "/e",
				"error": "Unsupported Media Type"},
		},
		{
			name: "wrapped 503 adds Retry-After",
			h: func(w http.ResponseWriter, r *http.Request) error {
				return fmt.Errorf("save score: %w", Errorf(503, "store unavailable", errors.New("dial "+dsn)))
			},
			wantStatus: 503,
			wantBody:   map[string]any{"error": "store unavailable"},
			wantRetry:  "1",
			wantLog: map[string]any{"level": "WARN", "msg": "request", "status": 503.0, "method": "POST", "path": "/e",
				"error": "save score: store unavailable: dial " + dsn},
		},
		{
			name: "503 keeps the handler's Retry-After",
			h: func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Retry-After", "5")
				return Errorf(503, "busy", nil)
			},
			wantStatus: 503,
			wantBody:   map[string]any{"error": "busy"},
			wantRetry:  "5",
			wantLog:    map[string]any{"level": "WARN", "msg": "request", "status": 503.0, "method": "POST", "path": "/e", "error": "busy"},
		},
		{
			name:       "429 is a warning without Retry-After",
			h:          func(w http.ResponseWriter, r *http.Request) error { return Errorf(429, "overloaded", nil) },
			wantStatus: 429,
			wantBody:   map[string]any{"error": "overloaded"},
			wantLog:    map[string]any{"level": "WARN", "msg": "request", "status": 429.0, "method": "POST", "path": "/e", "error": "overloaded"},
		},
		{
			name: "other error is a 500 that hides the cause",
			h: func(w http.ResponseWriter, r *http.Request) error {
				return fmt.Errorf("connect %s: %w", dsn, errors.New("refused"))
			},
			wantStatus: 500,
			wantBody:   map[string]any{"error": "internal error"},
			wantLog: map[string]any{"level": "ERROR", "msg": "request", "status": 500.0, "method": "POST", "path": "/e",
				"error": "connect " + dsn + ": refused"},
		},
		{
			name:       "Error with a non-error code is a 500",
			h:          func(w http.ResponseWriter, r *http.Request) error { return Errorf(200, "fine?", nil) },
			wantStatus: 500,
			wantBody:   map[string]any{"error": "internal error"},
			wantLog:    map[string]any{"level": "ERROR", "msg": "request", "status": 500.0, "method": "POST", "path": "/e", "error": "fine?"},
		},
		{
			name:       "nil *Error is a 500",
			h:          func(w http.ResponseWriter, r *http.Request) error { return fmt.Errorf("x: %w", (*Error)(nil)) },
			wantStatus: 500,
			wantBody:   map[string]any{"error": "internal error"},
		},
		{
			name: "MaxBytesError is a 413",
			h: func(w http.ResponseWriter, r *http.Request) error {
				return fmt.Errorf("decode: %w", &http.MaxBytesError{Limit: 10})
			},
			wantStatus: 413,
			wantBody:   map[string]any{"error": "request body too large"},
			wantLog: map[string]any{"level": "WARN", "msg": "request", "status": 413.0, "method": "POST", "path": "/e",
				"error": "decode: http: request body too large"},
		},
		{
			name:       "cancelled by the client is a 503 warning",
			cancel:     true,
			h:          func(w http.ResponseWriter, r *http.Request) error { return fmt.Errorf("save: %w", r.Context().Err()) },
			wantStatus: 503,
			wantBody:   map[string]any{"error": "request cancelled"},
			wantRetry:  "1",
			wantLog: map[string]any{"level": "WARN", "msg": "request", "status": 503.0, "method": "POST", "path": "/e",
				"error": "save: context canceled"},
		},
		{
			name: "error after the response started is logged only",
			h: func(w http.ResponseWriter, r *http.Request) error {
				_, _ = io.WriteString(w, "partial")
				return errors.New("late failure")
			},
			wantStatus: 200,
			wantRaw:    "partial",
			wantLog: map[string]any{"level": "ERROR", "msg": "request", "status": 200.0, "method": "POST", "path": "/e",
				"error": "late failure"},
		},
		{
			name: "attrs from AddLogAttrs, also via a derived ctx",
			h: func(w http.ResponseWriter, r *http.Request) error {
				AddLogAttrs(r.Context(), slog.String("event_id", "e1"), slog.Int64("offset", 42))
				ctx, cancel := context.WithCancel(r.Context())
				defer cancel()
				AddLogAttrs(ctx, slog.String("topic", "sentence"))
				return Errorf(400, "bad", nil)
			},
			wantStatus: 400,
			wantBody:   map[string]any{"error": "bad"},
			wantLog: map[string]any{"level": "WARN", "msg": "request", "status": 400.0, "method": "POST", "path": "/e",
				"error": "bad", "event_id": "e1", "offset": 42.0, "topic": "sentence"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := Adapt(NewLogger(&logs, slog.LevelDebug), tt.h)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/e?q=1", strings.NewReader("{}"))
			if tt.cancel {
				ctx, cancel := context.WithCancel(req.Context())
				cancel()
				req = req.WithContext(ctx)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if tt.wantBody != nil {
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				var got map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				if diff := cmp.Diff(tt.wantBody, got); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			} else if got := rec.Body.String(); got != tt.wantRaw {
				t.Errorf("body = %q, want %q", got, tt.wantRaw)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Errorf("body %q leaks the cause", rec.Body)
			}

			lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1:\n%s", len(lines), logs.String())
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatalf("log line %q: %v", lines[0], err)
			}
			if _, ok := got["duration"].(float64); !ok {
				t.Errorf("log line %q has no numeric duration", lines[0])
			}
			delete(got, "time")
			delete(got, "duration")
			if tt.wantLog != nil {
				if diff := cmp.Diff(tt.wantLog, got); diff != "" {
					t.Errorf("log line (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAdaptLevelFilter(t *testing.T) {
	var logs bytes.Buffer
	h := Adapt(NewLogger(&logs, slog.LevelInfo), func(w http.ResponseWriter, r *http.Request) error { return nil })
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", nil))
	if logs.Len() != 0 {
		t.Errorf("a 200 at LOG_LEVEL info logged %q, want nothing", logs.String())
	}
}

func TestAddLogAttrsOutsideAdapt(t *testing.T) {
	AddLogAttrs(t.Context(), slog.String("k", "v")) // must not panic
}

func TestErrorText(t *testing.T) {
	cause := errors.New("timeout")
	tests := []struct {
		err  *Error
		want string
	}{
		{Errorf(503, "store unavailable", cause), "store unavailable: timeout"},
		{Errorf(400, "bad", nil), "bad"},
		{&Error{Code: 404}, "Not Found"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if err := Errorf(503, "x", cause); !errors.Is(err, cause) {
		t.Errorf("errors.Is(%v, cause) = false, want true", err)
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name     string
		v        any
		wantCode int
		wantBody string
	}{
		{"value", map[string]int{"n": 1}, 201, `{"n":1}` + "\n"},
		{"unencodable", func() {}, 500, `{"error":"internal error"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteJSON(rec, 201, tt.v)
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
				t.Errorf("WriteJSON = %d %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
}
