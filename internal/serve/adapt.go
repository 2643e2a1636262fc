package serve

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// HandlerFunc is an HTTP handler that returns an error instead of writing one. [Adapt] turns it into
// an [http.Handler].
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is an HTTP error answer: a status code and client-safe text, with a cause that is logged and
// never sent.
type Error struct {
	// Code is the HTTP status code to send.
	Code int
	// Msg is the short, fixed, client-safe message sent as "error"; empty means the status text.
	Msg string
	// Detail holds extra top-level fields for the JSON body, e.g. {"field": "data.text"}. It must
	// not hold user content or secrets. The "error" key is reserved for Msg.
	Detail map[string]any
	// Err is the cause. It is logged and never sent.
	Err error
}

// Errorf returns an [Error] with the given code, client-safe message and cause (which may be nil).
func Errorf(code int, msg string, err error) *Error {
	return &Error{Code: code, Msg: msg, Err: err}
}

// Error returns the message and the cause.
func (e *Error) Error() string {
	if e == nil {
		return "<nil *serve.Error>"
	}
	msg := e.Msg
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	if e.Err == nil {
		return msg
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Adapt returns an [http.Handler] that calls h and answers its error:
//
//   - nil: nothing more; h wrote the response (net/http sends 200 if h wrote nothing).
//   - an *[Error] anywhere in the chain ([errors.As]): its Code and the JSON body
//     {"error": Msg, ...Detail}. A 503 also gets "Retry-After: 1" unless h set Retry-After.
//   - an *[http.MaxBytesError] (the body passed [Config.MaxBodyBytes]): 413 {"error":"request body too large"}.
//   - any other error while the client has gone away (the request ctx is cancelled and the error is
//     [context.Canceled]): 503 {"error":"request cancelled"}, logged at Warn.
//   - any other error: 500 {"error":"internal error"}.
//
// If h returns an error after it has started the response, Adapt cannot change the answer and only
// logs it.
//
// Adapt writes exactly one log line per request when h returns, with message "request" and the keys
// status, duration (nanoseconds), method, path, error (the full error text, when there is one) and
// whatever h attached with [AddLogAttrs]. The level is Debug below 400, Warn for other 4xx and for 503,
// and Error for every other 5xx.
func Adapt(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		la := &logAttrs{}
		r = r.WithContext(context.WithValue(r.Context(), logAttrsKey{}, la))
		sw := &statusWriter{ResponseWriter: w}

		err := h(sw, r)

		if err != nil && sw.status == 0 {
			code, body := answer(r, err)
			if code == http.StatusServiceUnavailable && sw.Header().Get("Retry-After") == "" {
				sw.Header().Set("Retry-After", "1")
			}
			WriteJSON(sw, code, body)
		}

		status := sw.statusOrOK()
		level := slog.LevelDebug
		switch {
		case status >= 500 && status != http.StatusServiceUnavailable:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		if err != nil && level < slog.LevelWarn {
			level = slog.LevelError // an error after a 1xx-3xx response was started: a bug
		}
		if !log.Enabled(r.Context(), level) {
			return
		}
		attrs := make([]slog.Attr, 0, 5+len(la.attrs))
		attrs = append(attrs,
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
		)
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		attrs = append(attrs, la.get()...)
		log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// answer maps a handler's error to a status code and a JSON body.
func answer(r *http.Request, err error) (int, map[string]any) {
	var he *Error
	if errors.As(err, &he) && he != nil && he.Code >= 400 && he.Code <= 599 {
		body := make(map[string]any, len(he.Detail)+1)
		for k, v := range he.Detail {
			body[k] = v
		}
		msg := he.Msg
		if msg == "" {
			msg = http.StatusText(he.Code)
		}
		body["error"] = msg
		return he.Code, body
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, map[string]any{"error": "request body too large"}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return http.StatusServiceUnavailable, map[string]any{"error": "request cancelled"}
	default:
		return http.StatusInternalServerError, map[string]any{"error": "internal error"}
	}
}

// WriteJSON sends v as a JSON body with status code and Content-Type application/json. If v cannot
// be encoded it sends 500 {"error":"internal error"} instead.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// logAttrsKey is the context key of a request's *logAttrs.
type logAttrsKey struct{}

// logAttrs collects the attributes handlers add to the request's log line.
type logAttrs struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

func (la *logAttrs) get() []slog.Attr {
	la.mu.Lock()
	defer la.mu.Unlock()
	return la.attrs
}

// AddLogAttrs adds attrs to the single log line [Adapt] writes for the request whose context (or a
// context derived from it) is ctx, such as event_id, event_source, topic, partition and offset. It
// does nothing outside a request served through Adapt. It is safe for concurrent use.
func AddLogAttrs(ctx context.Context, attrs ...slog.Attr) {
	la, ok := ctx.Value(logAttrsKey{}).(*logAttrs)
	if !ok {
		return
	}
	la.mu.Lock()
	defer la.mu.Unlock()
	la.attrs = append(la.attrs, attrs...)
}

// statusWriter records the status code a handler sends.
type statusWriter struct {
	http.ResponseWriter
	status int // 0 until the final (non-1xx) header is written
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets handlers that stream use w as an [http.Flusher].
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets [http.ResponseController] reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusOrOK returns the status sent, or 200 when the handler wrote nothing (net/http sends 200).
func (w *statusWriter) statusOrOK() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
