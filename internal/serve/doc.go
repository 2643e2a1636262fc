// Package serve is the functions' shared HTTP runtime: an [http.Server] with timeouts and a request
// body limit, liveness, readiness and metrics endpoints, an adapter from error-returning handlers to
// status codes and one log line per request, and graceful shutdown.
//
// main wires it:
//
//	cfg, level, err := serve.LoadConfig(os.Getenv)
//	log := serve.NewLogger(os.Stdout, level)
//	reg := serve.NewRegistry()
//	s := serve.New(cfg, log, reg, map[string]serve.ReadyCheck{"postgres": pool.Ping})
//	s.Handle("POST /", serve.Adapt(log, h.ServeEvent))
//	err = s.Run(ctx) // ctx from signal.NotifyContext
//	// then close the pgx pool and the ES transport
//
// # Built-in routes
//
//   - GET /healthz and GET /_/health: 200 "ok" while the process lives.
//   - GET /readyz and GET /_/ready: 200 "ok" when the server is not shutting down and every
//     [ReadyCheck] passes; otherwise 503 with a JSON body naming the unavailable dependencies, e.g.
//     {"error":"not ready: postgres unavailable","unavailable":["postgres"]}, or
//     {"error":"shutting down"}. Checks run concurrently with a 1s timeout and their result is cached
//     for 500ms, so probes do not hammer the dependencies. A check's error is logged (Warn, once per
//     change), never sent.
//   - GET /metrics: the registry passed to [New], in the Prometheus exposition format.
//
// # Metrics
//
// [New] registers these series on the registry it is given. They cover routes registered with
// [Server.Handle] only, not the built-in routes above. route is the pattern passed to Handle, method
// is a standard HTTP method or "other", code is the status code sent.
//
//   - sentistream_http_requests_total{route,method,code}: counter of finished requests.
//   - sentistream_http_request_duration_seconds{route,method}: histogram of request durations.
//   - sentistream_http_requests_in_flight: gauge of requests being served.
//
// [NewRegistry] also adds the Go runtime (go_*) and process (process_*) collectors.
//
// # Shutdown
//
// When the ctx given to [Server.Run] is cancelled, /readyz answers 503, Run waits
// [Config.DrainDelay], then calls [http.Server.Shutdown] with a fresh [Config.ShutdownTimeout]: the
// listener closes, idle connections close and in-flight requests finish. Run returns once the
// server has stopped; the caller then closes its clients (pgx pool, ES transport).
package serve
