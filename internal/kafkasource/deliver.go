package kafkasource

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// NewHTTPClient returns the client the runner posts to https:// sinks with when [Config].HTTPClient
// is nil (http:// sinks then get the runner's own minimal client): keep-alive
// connections, enough idle ones per host for the in-flight bound of several sources, no
// compression, no client-wide timeout (each attempt has its own).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}}
}

// result is the final outcome of delivering one event.
type result struct {
	delivered bool
	code      int    // last status code, 0 when there was no response
	body      []byte // at most errorDataMax bytes of the last response body
	err       error  // last transport error, when there was no response
	attempts  int
}

// errorDataMax is how much of a failed response KafkaSource keeps in knativeerrordata.
const errorDataMax = 1024

// retryable reports whether KafkaSource retries a response with this status.
func retryable(code int) bool {
	return code >= 500 || code == http.StatusNotFound || code == http.StatusRequestTimeout ||
		code == http.StatusConflict || code == http.StatusTooManyRequests
}

// sender posts events to one sink: through its own minimal HTTP/1.1 client for an http://
// sink (raw), else through client.
type sender struct {
	client    *http.Client
	raw       *rawClient // nil: use client
	target    *url.URL
	namespace string
	policy    policy
	onRetry   func()
	log       *slog.Logger
}

// deliver posts ev until it is accepted, refused for good, or its retries run out. It returns
// ctx's error, and no result, when ctx ends first: the event is then abandoned.
func (s *sender) deliver(ctx context.Context, ev *outEvent) (result, error) {
	var r result
	for n := 0; ; n++ {
		if n > 0 {
			s.onRetry()
			t := time.NewTimer(s.policy.backoff(n))
			select {
			case <-ctx.Done():
				t.Stop()
				return result{}, ctx.Err()
			case <-t.C:
			}
		}
		r = s.attempt(ctx, ev)
		r.attempts = n + 1
		if ctx.Err() != nil {
			return result{}, ctx.Err()
		}
		if r.delivered {
			return r, nil
		}
		if r.code != 0 && !retryable(r.code) || n >= s.policy.retry {
			return r, nil
		}
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("retrying", slog.String("event_id", ev.id), slog.Int("code", r.code), slog.Any("error", r.err), slog.Int("attempt", n+1))
		}
	}
}

// attempt makes one POST with the per-attempt timeout.
func (s *sender) attempt(ctx context.Context, ev *outEvent) result {
	if s.raw != nil {
		return s.raw.post(ctx, ev, s.policy.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, s.policy.timeout)
	defer cancel()
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           s.target,
		Host:          s.target.Host,
		Header:        ev.header,
		Body:          io.NopCloser(bytes.NewReader(ev.body)),
		ContentLength: int64(len(ev.body)),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
	}
	if len(ev.body) == 0 {
		req.Body = http.NoBody
	}
	req = req.WithContext(ctx)
	resp, err := s.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return result{delivered: true, code: resp.StatusCode}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, errorDataMax))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return result{code: resp.StatusCode, body: body}
}

// deadLetterRecord returns ev as a Kafka binary-mode CloudEvent record, as KafkaSink writes it,
// with the knativeerror* extensions KafkaSource adds: the destination, and when there was a
// response its code and the base64 of the first 1024 bytes of its body.
func deadLetterRecord(topic string, ev *outEvent, dest string, r result) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Value: ev.body, Headers: make([]kgo.RecordHeader, 0, len(ev.header)+3)}
	for k, vs := range ev.header {
		if len(vs) == 0 {
			continue
		}
		switch {
		case k == hContentType:
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "content-type", Value: []byte(vs[0])})
		case strings.HasPrefix(k, "Ce-"):
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "ce_" + strings.ToLower(k[3:]), Value: []byte(vs[0])})
		}
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "ce_knativeerrordest", Value: []byte(dest)})
	if r.code != 0 {
		rec.Headers = append(rec.Headers,
			kgo.RecordHeader{Key: "ce_knativeerrorcode", Value: []byte(strconv.Itoa(r.code))},
			kgo.RecordHeader{Key: "ce_knativeerrordata", Value: []byte(base64.StdEncoding.EncodeToString(r.body))})
	}
	if len(ev.header[hPartKey]) > 0 {
		rec.Key = []byte(ev.header[hPartKey][0])
	}
	return rec
}

// errInvalidHeader is the outcome of an event whose attributes cannot be sent as HTTP headers.
var errInvalidHeader = errors.New("kafkasource: attribute value has control characters")
