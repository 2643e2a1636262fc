package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is an [http.Server] with the built-in routes, request metrics and graceful shutdown
// described in the package doc. Register routes with [Server.Handle] before calling [Server.Run].
// A Server runs once.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	srv     *http.Server
	ready   *readiness
	metrics *metrics
	addr    atomic.Pointer[net.Addr]

	// drainWait returns a channel that fires when the drain delay d is over; tests replace it.
	drainWait func(d time.Duration) <-chan time.Time
}

// New returns a server with cfg (zero fields mean their defaults), logging to log, serving reg on
// /metrics and registering its request series there, and reporting ready only while every check in
// checks passes. The keys of checks name the dependencies in /readyz answers and in logs: use
// short names ("postgres", "elasticsearch"), never DSNs. A nil log discards; a nil reg means a new
// empty registry.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry, checks map[string]ReadyCheck) *Server {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		mux:       http.NewServeMux(),
		ready:     newReadiness(log, checks),
		metrics:   newMetrics(reg),
		drainWait: time.After,
	}
	if len(s.ready.names) > 0 {
		_ = register(reg, prometheus.Collector(newReadyCollector(s.ready)))
	}
	health := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeOK(w) })
	s.mux.Handle("GET /healthz", health)
	s.mux.Handle("GET /_/health", health)
	s.mux.Handle("GET /readyz", s.ready)
	s.mux.Handle("GET /_/ready", s.ready)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
	}))

	s.srv = &http.Server{
		Addr:              cfg.Addr,
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s
}

// serveHTTP limits the request body and routes the request.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	s.mux.ServeHTTP(w, r)
}

// Handle registers h for pattern (an [http.ServeMux] pattern such as "POST /") and counts its
// requests in the request series, labelled with pattern. Wrap a [HandlerFunc] with [Adapt]. Handle
// panics, as [http.ServeMux.Handle] does, if pattern is invalid or conflicts with another route,
// built-in ones included; call it from main before Run.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.metrics.instrument(pattern, h))
}

// ServeHTTP serves r as the running server would (body limit and routing), without a listener.
// It is meant for tests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r) }

// Addr returns the address the server listens on, or nil before Run or RunListener has opened it.
// With Config.Addr ":0" it tells which port was picked.
func (s *Server) Addr() net.Addr {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return nil
}

// Run listens on Config.Addr and serves until ctx is cancelled, then shuts down gracefully as
// [Server.RunListener] does. It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return s.RunListener(ctx, ln)
}

// RunListener serves on ln until ctx is cancelled, then: /readyz answers 503, it keeps serving for
// Config.DrainDelay, and it calls [http.Server.Shutdown] with a fresh Config.ShutdownTimeout, so
// the listener closes and in-flight requests finish. It returns nil after a clean shutdown, an
// error wrapping [context.DeadlineExceeded] if requests were still running at the timeout (their
// connections are then closed), or the error that stopped serving early. It closes ln.
func (s *Server) RunListener(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr()
	s.addr.Store(&addr)
	s.log.Info("serving", slog.String("addr", addr.String()))

	if s.cfg.PprofAddr != "" {
		stop, err := servePprof(s.cfg.PprofAddr, s.log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		s.ready.draining.Store(true)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	s.ready.draining.Store(true)
	s.log.Info("shutting down", slog.Duration("drain_delay", s.cfg.DrainDelay), slog.Duration("shutdown_timeout", s.cfg.ShutdownTimeout))
	if s.cfg.DrainDelay > 0 {
		select {
		case <-s.drainWait(s.cfg.DrainDelay):
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		}
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
		if err := s.srv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close: %w", err))
		}
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.log.Info("stopped")
	return nil
}
