package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sentistream/sentistream/internal/env"
)

// RunFunc is a function's main: it serves until ctx ends, reading its settings with getenv and
// logging to stdout.
type RunFunc func(ctx context.Context, getenv env.Getenv, stdout io.Writer) error

// Main runs run until SIGINT or SIGTERM with the process's environment and stdout, and exits 1,
// the error on stderr after name, when it fails.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Setup reads the server's settings ([LoadConfig]) and the function's own (load), reporting every
// bad variable of both at once, and makes the JSON logger on stdout the default.
func Setup[C any](getenv env.Getenv, stdout io.Writer, load func(env.Getenv) (C, error)) (Config, C, *slog.Logger, error) {
	scfg, level, err := LoadConfig(getenv)
	cfg, cerr := load(getenv)
	if err := errors.Join(err, cerr); err != nil {
		var zero C
		return Config{}, zero, nil, err
	}
	log := NewLogger(stdout, level)
	slog.SetDefault(log)
	return scfg, cfg, log, nil
}
