package dashboard

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/watch"
)

// serveShift answers /api/shift: the watch function's verdict for the current minute (package
// watch), computed here from the same store with the same rule, so the page shows a shift for as
// long as it lasts, whether or not this instance received the event (it may have scaled to zero
// since).
func (d *Dashboard) serveShift(w http.ResponseWriter, r *http.Request) error {
	if d.watch == nil {
		return unavailable("postgresql", errors.New("no database configured"))
	}
	v, err := d.cache.get(r.Context(), "shift", 1, d.cfg.QueryTimeout, func(ctx context.Context) (any, error) {
		return d.watch.At(ctx, d.cfg.Now())
	})
	if err != nil {
		return unavailable("postgresql", err)
	}
	writeLive(w, v)
	return nil
}

// shiftEvents keeps the last mood-shift events this instance received, newest first, one per id.
type shiftEvents struct {
	mu     sync.Mutex
	events []ShiftEvent
}

// ShiftEvent is a mood.shifted CloudEvent as /api/events lists it.
type ShiftEvent struct {
	ID        string        `json:"id"`
	Time      time.Time     `json:"time"`
	Direction string        `json:"direction"`
	Received  time.Time     `json:"received"`
	Verdict   watch.Verdict `json:"verdict"`
}

const keepEvents = 20

func (s *shiftEvents) add(e ShiftEvent) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.events, func(x ShiftEvent) bool { return x.ID == e.ID }) {
		return false
	}
	s.events = append([]ShiftEvent{e}, s.events...)
	if len(s.events) > keepEvents {
		s.events = s.events[:keepEvents]
	}
	return true
}

func (s *shiftEvents) list() []ShiftEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ShiftEvent{}, s.events...)
}

// serveEvent is a sink for the watch function's events (K_SINK): it accepts
// dev.sentistream.mood.shifted CloudEvents, binary or structured, logs each once and keeps the
// last few for /api/events. A redelivery of the same id is accepted and not kept twice.
func (d *Dashboard) serveEvent(w http.ResponseWriter, r *http.Request) error {
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		return serve.Errorf(http.StatusBadRequest, "not a CloudEvent", err)
	}
	if e.Type() != watch.EventType {
		return serve.Errorf(http.StatusUnprocessableEntity, "only "+watch.EventType+" events are accepted here", nil)
	}
	se := ShiftEvent{ID: e.ID(), Time: e.Time(), Direction: e.Subject(), Received: d.cfg.Now()}
	if err := e.DataAs(&se.Verdict); err != nil {
		return serve.Errorf(http.StatusBadRequest, "event data is not a mood verdict", err)
	}
	if d.events.add(se) {
		d.log.Info("mood shift event received", "id", se.ID, "direction", se.Direction, "z", se.Verdict.Z)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// serveEvents answers /api/events: the mood-shift events this instance received, newest first.
func (d *Dashboard) serveEvents(w http.ResponseWriter, _ *http.Request) error {
	writeLive(w, map[string]any{"events": d.events.list()})
	return nil
}
