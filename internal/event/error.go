package event

import (
	"errors"
	"net/http"
)

// ErrMalformed matches every rejection by [Decoder.Decode]: errors.Is(err, ErrMalformed) is
// true for each [*Error]. A malformed event is final; redelivering it cannot succeed.
var ErrMalformed = errors.New("event: malformed")

// Error is a client-safe rejection of a request or of one event in a batch.
type Error struct {
	// Status is the HTTP status to answer: 400, 413, 415 or 422.
	Status int
	// Reason is a short fixed human text; it never contains message content.
	Reason string
	// Field names the offending field, attribute or header ("sentence", "created_at", "id",
	// "datacontenttype", "Content-Type", "X-Kafka-Offset", …), or is empty.
	Field string
}

// Error returns "event: " followed by the reason and, if set, the field.
func (e *Error) Error() string {
	if e.Field == "" {
		return "event: " + e.Reason
	}
	return "event: " + e.Reason + " (" + e.Field + ")"
}

// Is reports whether target is [ErrMalformed], so errors.Is(err, ErrMalformed) holds for every *Error.
func (e *Error) Is(target error) bool { return target == ErrMalformed }

func badRequest(field, reason string) *Error {
	return &Error{Status: http.StatusBadRequest, Reason: reason, Field: field}
}

func unprocessable(field, reason string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Reason: reason, Field: field}
}

func unsupported(field, reason string) *Error {
	return &Error{Status: http.StatusUnsupportedMediaType, Reason: reason, Field: field}
}

func tooLarge(field, reason string) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Reason: reason, Field: field}
}
