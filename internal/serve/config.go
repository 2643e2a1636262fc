package serve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sentistream/sentistream/internal/env"
)

// Config tunes a [Server]. The zero value of each field means its default, written in its comment.
type Config struct {
	// Addr is the TCP address to listen on; default ":8080". LoadConfig sets ":"+PORT.
	Addr string
	// ReadHeaderTimeout bounds reading a request's headers; default 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included; default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to the end of the response;
	// default 30s. A handler that streams (server-sent events) extends it with
	// [http.ResponseController.SetWriteDeadline].
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its next request; default 120s.
	IdleTimeout time.Duration
	// MaxBodyBytes limits every request body through [http.MaxBytesReader]; default 1 MiB. Reading
	// past it gives the handler an *[http.MaxBytesError], which [Adapt] answers with 413.
	MaxBodyBytes int64
	// DrainDelay is how long Run keeps serving, with /readyz answering 503, after its ctx is
	// cancelled and before it shuts the server down; default 0 (Knative's queue-proxy drains for us).
	DrainDelay time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight requests to finish; default 10s.
	// Keep it below the pod's termination grace period.
	ShutdownTimeout time.Duration
	// PprofAddr, when set, is a second listener serving net/http/pprof's /debug/pprof/ for
	// profiling, never the main port; default none. Bind it to 127.0.0.1.
	PprofAddr string
}

// Defaults of [Config].
const (
	defaultAddr              = ":8080"
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultMaxBodyBytes      = 1 << 20
	defaultShutdownTimeout   = 10 * time.Second
)

// withDefaults returns c with every zero (or negative) field replaced by its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	dur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	dur(&c.ReadHeaderTimeout, defaultReadHeaderTimeout)
	dur(&c.ReadTimeout, defaultReadTimeout)
	dur(&c.WriteTimeout, defaultWriteTimeout)
	dur(&c.IdleTimeout, defaultIdleTimeout)
	dur(&c.ShutdownTimeout, defaultShutdownTimeout)
	if c.DrainDelay < 0 {
		c.DrainDelay = 0
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	return c
}

// LoadConfig reads the runtime's environment variables and returns the server config and the log
// level:
//
//	PORT              8080  TCP port to listen on (Knative sets it)
//	MAX_BODY_BYTES    1MiB  request body limit, e.g. 1048576, 512KiB, 10MB; must be > 0
//	DRAIN_DELAY       0     keep serving with /readyz at 503 this long after SIGTERM
//	SHUTDOWN_TIMEOUT  10s   wait this long for in-flight requests; must be > 0
//	LOG_LEVEL         info  debug, info, warn or error
//	PPROF_ADDR        none  serve /debug/pprof/ on this address, e.g. 127.0.0.1:6060
//
// It reports every bad variable at once, joined with [errors.Join]. The timeouts not listed keep
// their defaults.
func LoadConfig(getenv env.Getenv) (Config, slog.Level, error) {
	var (
		cfg  Config
		errs []error
	)
	port, err := env.Int(getenv, "PORT", 8080)
	if err == nil && (port < 0 || port > 65535) {
		err = fmt.Errorf("PORT: want an integer from 0 to 65535, got %q", getenv("PORT"))
	}
	errs = append(errs, err)
	cfg.Addr = ":" + strconv.Itoa(port)

	cfg.MaxBodyBytes, err = env.Bytes(getenv, "MAX_BODY_BYTES", defaultMaxBodyBytes)
	if err == nil && cfg.MaxBodyBytes <= 0 {
		err = fmt.Errorf("MAX_BODY_BYTES: want a positive size such as 1MiB, got %q", getenv("MAX_BODY_BYTES"))
	}
	errs = append(errs, err)

	cfg.DrainDelay, err = env.Duration(getenv, "DRAIN_DELAY", 0)
	errs = append(errs, err)

	cfg.ShutdownTimeout, err = env.Duration(getenv, "SHUTDOWN_TIMEOUT", defaultShutdownTimeout)
	if err == nil && cfg.ShutdownTimeout <= 0 {
		err = fmt.Errorf("SHUTDOWN_TIMEOUT: want a positive duration such as 10s, got %q", getenv("SHUTDOWN_TIMEOUT"))
	}
	errs = append(errs, err)

	cfg.PprofAddr = getenv("PPROF_ADDR")

	level := slog.LevelInfo
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL: want debug, info, warn or error, got %q", v))
		}
	}

	if err := errors.Join(errs...); err != nil {
		return Config{}, 0, err
	}
	return cfg.withDefaults(), level, nil
}

// NewLogger returns a logger writing JSON lines to w, at level and above. The level sits in a
// [slog.LevelVar].
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	lv := new(slog.LevelVar)
	lv.Set(level)
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

// NewRegistry returns a new Prometheus registry holding the Go runtime and process collectors.
// Pass it to [New] and to the packages that export NewMetrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
