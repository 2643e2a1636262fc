package esindex

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Error is Elasticsearch's refusal of one document, or the failure of a whole request (then every
// document of it gets the same Error). Its text never includes ES's reason, which can quote
// document content.
type Error struct {
	// Status is the HTTP status ES gave the item or the request; 0 when it gave none (no
	// connection, a timeout).
	Status int
	// Type is ES's error type, such as document_parsing_exception; empty when ES gave none.
	Type string
	// Field is the document field ES names in a mapping or parsing failure (created_at), if any.
	Field string
	// Reason is ES's reason without its preview of the field's value. It can still hold
	// document details: log it only where document content may be logged.
	Reason string
	// Err is the cause of a failure without an ES answer, if any.
	Err error

	transient bool
}

// Error returns a short text: the status, the error type and the field.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("elasticsearch: ")
	switch {
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Status != 0:
		b.WriteString("status ")
		b.WriteString(strconv.Itoa(e.Status))
		if e.Type != "" {
			b.WriteString(" ")
			b.WriteString(e.Type)
		}
	default:
		b.WriteString("failed")
	}
	if e.Field != "" {
		b.WriteString(" (field ")
		b.WriteString(e.Field)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether retrying the same document later may succeed: ES was unreachable,
// slow, overloaded or misconfigured, rather than refusing the document itself.
func (e *Error) Transient() bool { return e.transient }

// Transient reports whether err is worth retrying: a transient [*Error], a context deadline or a
// network error. A cancellation is not, as in pgstore.Transient: the caller gave up, and the
// sink runtime answers that case itself. A permanent *Error (the document was refused) and any other
// error report false.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.transient
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	_, ok := errors.AsType[net.Error](err)
	return ok
}

// ErrExists is [Index.Bulk]'s result for a document whose _id is already indexed: a redelivery,
// which is success.
var ErrExists = errors.New("elasticsearch: document already indexed")

// itemError classifies one bulk item's outcome, as the package doc lists. It returns nil for
// success and for a create that found the document already there.
func itemError(status int, e *esError) error {
	if status < 300 && e == nil {
		return nil
	}
	var typ, reason string
	if e != nil {
		typ, reason = e.Type, e.Reason
	}
	if status == http.StatusConflict && typ == "version_conflict_engine_exception" {
		return nil // create of an existing _id: a redelivery
	}
	out := &Error{Status: status, Type: typ, Reason: shortReason(reason), Field: reasonField(reason)}
	switch {
	case status == http.StatusTooManyRequests, status >= 500,
		typ == "es_rejected_execution_exception", typ == "cluster_block_exception",
		status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusNotFound, status == http.StatusRequestTimeout:
		out.transient = true
	}
	return out
}

// shortReason drops ES's preview of a refused value from a reason.
func shortReason(r string) string {
	if i := strings.Index(r, ". Preview of field's value"); i >= 0 {
		return r[:i]
	}
	return r
}

// reasonField returns the field a mapping or parsing reason names: "failed to parse field
// [created_at] of type [date] …" or "dynamic introduction of [x] within [_doc] is not allowed".
func reasonField(r string) string {
	for _, p := range []string{"failed to parse field [", "dynamic introduction of ["} {
		if _, rest, ok := strings.Cut(r, p); ok {
			if f, _, ok := strings.Cut(rest, "]"); ok {
				return f
			}
		}
	}
	return ""
}
