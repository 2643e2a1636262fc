package event

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBinaryAttributesTakes checks that the header-only path takes what KafkaSource delivers,
// so that the equivalence FuzzBinaryAttributes checks is not met by declining everything, and
// declines what it must leave to the SDK.
func TestBinaryAttributesTakes(t *testing.T) {
	tests := []struct {
		name string
		sel  int
		ct   string
		hdr  map[string]string
		want bool
	}{
		{name: "KafkaSource wrapping a plain record", sel: scoreSource, ct: "application/json", want: true},
		{name: "KafkaSource forwarding a binary event", sel: forwarded, ct: "application/json", want: true},
		{name: "no Content-Type", sel: forwarded, want: true},
		{name: "an extension of its own", sel: forwarded, hdr: map[string]string{"Ce-Traceparent": "00-x"}, want: true},
		{name: "zero time", sel: forwarded, hdr: map[string]string{"Ce-Time": "0001-01-01T00:00:00Z"}, want: true},
		{name: "bare POST", sel: bare, ct: "application/json"},
		{name: "kafka-connector", sel: openFaaS, ct: "application/json"},
		{name: "spec 0.3", sel: forwarded, hdr: map[string]string{"Ce-Specversion": "0.3"}},
		{name: "structured Content-Type", sel: forwarded, ct: "application/cloudevents+json"},
		{name: "batch Content-Type", sel: forwarded, ct: "application/cloudevents-batch+json"},
		{name: "Content-Type with parameters", sel: forwarded, ct: "application/json; charset=utf-8"},
		{name: "blank id", sel: forwarded, hdr: map[string]string{"Ce-Id": " "}},
		{name: "no type", sel: forwarded, hdr: map[string]string{"Ce-Type": ""}},
		{name: "no source", sel: forwarded, hdr: map[string]string{"Ce-Source": ""}},
		{name: "source not a URI reference", sel: forwarded, hdr: map[string]string{"Ce-Source": "%zz"}},
		{name: "time not RFC 3339", sel: forwarded, hdr: map[string]string{"Ce-Time": "yesterday"}},
		{name: "blank subject", sel: forwarded, hdr: map[string]string{"Ce-Subject": " "}},
		{name: "dataschema", sel: forwarded, hdr: map[string]string{"Ce-Dataschema": "https://example.com/s"}},
		{name: "datacontenttype as an extension", sel: forwarded, hdr: map[string]string{"Ce-Datacontenttype": "application/json"}},
		{name: "extension name with a dash", sel: forwarded, hdr: map[string]string{"Ce-Trace-Id": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(tt.sel, tt.ct, tt.hdr, seedBody)
			if _, ok := binaryAttributes(r.Header, []byte(seedBody)); ok != tt.want {
				t.Errorf("binaryAttributes took it: %v, want %v", ok, tt.want)
			}
		})
	}
}

// FuzzBinaryAttributes checks that a request the header-only path takes decodes to the same
// record, or the same refusal, as through the SDK.
func FuzzBinaryAttributes(f *testing.F) {
	for _, tt := range decodeCases {
		for k, v := range tt.hdr {
			f.Add([]byte(tt.body), tt.ct, uint8(tt.sel), k, v)
		}
		f.Add([]byte(tt.body), tt.ct, uint8(tt.sel), "", "")
	}
	for _, kv := range [][2]string{
		{"Ce-Id", " partition:2/offset:1234 "}, {"Ce-Type", " dev.knative.kafka.event"},
		{"Ce-Source", "/apis/v1/namespaces/a/kafkasources/b#c d"}, {"Ce-Source", "HTTP://Example.COM/%41"},
		{"Ce-Time", "2025-04-14T08:00:01.123456789+02:00"}, {"Ce-Time", ""},
		{"Ce-Knativekafkapartition", "x"}, {"Ce-Knativekafkaoffset", "-1"}, {"Ce-Knativekafkapartition", "4294967296"},
		{"Ce-Subject", ""}, {"ce-id", "lower-case key"}, {"Ce-Abcdefghijklmnopqrstuvwxyz", "long name"},
	} {
		f.Add([]byte(seedBody), "application/json", uint8(scoreSource), kv[0], kv[1])
		f.Add([]byte(seedBody), "", uint8(forwarded), kv[0], kv[1])
	}

	d := testDecoder()
	f.Fuzz(func(t *testing.T, body []byte, ct string, sel uint8, hk, hv string) {
		r := newRequest(int(sel%numHeaderSets), ct, nil, string(body))
		if hk != "" {
			r.Header[hk] = []string{hv}
		}
		a, ok := binaryAttributes(r.Header, body)
		if !ok {
			return
		}
		got, gotErr := d.fromAttributes(a)
		items, wantErr := d.decodeWithSDK(r, body)
		var want Record
		if len(items) == 1 {
			want = items[0].Record
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("record (-SDK +headers):\n%s", diff)
		}
		if diff := cmp.Diff(asError(wantErr), gotErr); diff != "" {
			t.Errorf("error (-SDK +headers):\n%s", diff)
		}
	})
}

// asError returns err as the *Error it is, nil for nil.
func asError(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Reason: err.Error()}
}

// FuzzParseTime holds parseTime to trying every layout in turn, which it replaced.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2025-04-14T08:00:00.123456", "2025-04-14T08:00:00Z", "2025-04-14 08:00:00+02:00", "2025-04-14 08:00:00",
		"2025-04-14T08:00:00,5", "2025-04-14T08:00:00.5-07:00", "2025-04-14T08:00", "2025-04-14", "0001-01-01T00:00:00Z",
		"2025-04-14T08:00:00.5z", "2025-04-14t08:00:00Z", "2025-04-14T08:00:00 ", "+2025-04-14T08:00:00",
	} {
		f.Add(s)
	}
	layouts := []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05"}
	f.Fuzz(func(t *testing.T, s string) {
		var want time.Time
		wantOK := false
		for _, layout := range layouts {
			if v, err := time.Parse(layout, s); err == nil {
				want, wantOK = v.UTC(), !v.IsZero()
				break
			}
		}
		got, ok := parseTime(s)
		if ok != wantOK || !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("parseTime(%q) = %v, %v; every layout in turn gives %v, %v", s, got, ok, want, wantOK)
		}
	})
}
