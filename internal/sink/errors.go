package sink

import (
	"context"
	"errors"
	"net/http"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/serve"
)

// ErrDuplicate is a [Writer]'s result for an item that was already stored: success, counted apart.
var ErrDuplicate = errors.New("sink: already stored")

// UnavailableError marks a write that failed for a reason a later retry can get past: the store
// was unreachable, overloaded, read-only or blocked. Build it with [Unavailable].
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Unavailable marks err as a store outage: its event is answered 503 and redelivered.
func Unavailable(err error) error { return &UnavailableError{Err: err} }

// RefusedError marks an item the store refuses for good (its content, not the store's state):
// the event is answered 422 with Reason and Detail, and a delivery layer dead-letters it. Build it
// with [Refused].
type RefusedError struct {
	// Reason is the client-safe message; Detail holds extra client-safe fields (e.g. "field").
	Reason string
	Detail map[string]any
	Err    error
}

func (e *RefusedError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused marks err as the store refusing one item for good, with a client-safe reason and detail.
func Refused(err error, reason string, detail map[string]any) error {
	return &RefusedError{Reason: reason, Detail: detail, Err: err}
}

// Outcome is what became of one event; it is the outcome label of sentistream_events_total.
type Outcome string

// The outcomes, in the order they are registered.
const (
	OutcomeOK            Outcome = "ok"            // stored (2xx)
	OutcomeDuplicate     Outcome = "duplicate"     // stored before: a redelivery (2xx)
	OutcomeMalformed     Outcome = "malformed"     // the decoder refused it (4xx)
	OutcomeRefused       Outcome = "refused"       // the store refused it for good (422)
	OutcomeOverloaded    Outcome = "overloaded"    // the queue was full (429)
	OutcomeTransient     Outcome = "transient"     // store down or slow, shutting down, client gone (503)
	OutcomeMisconfigured Outcome = "misconfigured" // credentials, certificate, schema: no retry fixes it (503)
	OutcomeError         Outcome = "error"         // a bug (500)
)

var outcomes = []Outcome{OutcomeOK, OutcomeDuplicate, OutcomeMalformed, OutcomeRefused,
	OutcomeOverloaded, OutcomeTransient, OutcomeMisconfigured, OutcomeError}

// retryable reports whether a batch holding an event with outcome o must be retried whole.
func (o Outcome) retryable() bool {
	switch o {
	case OutcomeOverloaded, OutcomeTransient, OutcomeMisconfigured, OutcomeError:
		return true
	}
	return false
}

// rank orders the retryable answers of a batch: a bug (500) over an outage (503) over overload
// (429).
func rank(code int) int {
	switch code {
	case http.StatusInternalServerError:
		return 3
	case http.StatusServiceUnavailable:
		return 2
	case http.StatusTooManyRequests:
		return 1
	}
	return 0
}

// classify maps an event's error to its outcome and answer (nil for a stored event). reqCtx is the
// request's context, to tell a client that left from a store that timed out.
func (h *Handler[T]) classify(reqCtx context.Context, err error) (Outcome, *serve.Error) {
	if err == nil {
		return OutcomeOK, nil
	}
	if errors.Is(err, ErrDuplicate) {
		return OutcomeDuplicate, nil
	}
	if e, ok := errors.AsType[*event.Error](err); ok {
		se := serve.Errorf(e.Status, e.Reason, err)
		if e.Field != "" {
			se.Detail = map[string]any{"field": e.Field}
		}
		return OutcomeMalformed, se
	}
	if e, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return OutcomeMalformed, serve.Errorf(http.StatusRequestEntityTooLarge, "request body too large", e)
	}
	if e, ok := errors.AsType[*env.MisconfigError](err); ok {
		// No retry fixes it, but the event is fine: 503 keeps it for when someone has.
		return OutcomeMisconfigured, serve.Errorf(http.StatusServiceUnavailable, e.Reason, err)
	}
	if e, ok := errors.AsType[*RefusedError](err); ok {
		return OutcomeRefused, &serve.Error{Code: http.StatusUnprocessableEntity, Msg: e.Reason, Detail: e.Detail, Err: err}
	}
	switch {
	case errors.Is(err, batch.ErrQueueFull):
		return OutcomeOverloaded, serve.Errorf(http.StatusTooManyRequests, "overloaded", err)
	case errors.Is(err, batch.ErrClosed):
		return OutcomeTransient, serve.Errorf(http.StatusServiceUnavailable, "shutting down", err)
	case errors.Is(err, context.Canceled) && reqCtx.Err() != nil:
		// The client went away; it never reads this answer.
		return OutcomeTransient, serve.Errorf(http.StatusServiceUnavailable, "request cancelled", err)
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTransient, serve.Errorf(http.StatusServiceUnavailable, h.sink.Store+" timed out", err)
	}
	if _, ok := errors.AsType[*UnavailableError](err); ok {
		return OutcomeTransient, serve.Errorf(http.StatusServiceUnavailable, h.sink.Store+" unavailable", err)
	}
	return OutcomeError, serve.Errorf(http.StatusInternalServerError, "internal error", err)
}
