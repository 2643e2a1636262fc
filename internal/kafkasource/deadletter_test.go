package kafkasource

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestReadDeadLetter(t *testing.T) {
	b64 := func(s string) []byte { return []byte(base64.StdEncoding.EncodeToString([]byte(s))) }
	ts := time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		headers     []kgo.RecordHeader
		want        DeadLetter
		wantMessage string
	}{
		{"json reason with field", []kgo.RecordHeader{
			{Key: "ce_id", Value: []byte("id-1")}, {Key: "ce_source", Value: []byte("/src")}, {Key: "ce_type", Value: []byte("t")},
			{Key: "ce_knativeerrorcode", Value: []byte("422")}, {Key: "ce_knativeerrordest", Value: []byte("http://score")},
			{Key: "ce_knativeerrordata", Value: b64(`{"error":"invalid field","field":"data.created_at"}`)},
		}, DeadLetter{ID: "id-1", Source: "/src", Type: "t", Code: 422, Dest: "http://score",
			Reason: []byte(`{"error":"invalid field","field":"data.created_at"}`)}, "invalid field (data.created_at)"},
		{"json reason without field", []kgo.RecordHeader{{Key: "ce_knativeerrordata", Value: b64(`{"error":"not yet"}`)}},
			DeadLetter{Reason: []byte(`{"error":"not yet"}`)}, "not yet"},
		{"text reason, unpadded", []kgo.RecordHeader{
			{Key: "ce_knativeerrordata", Value: []byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("bad gateway!")), "="))},
		}, DeadLetter{Reason: []byte("bad gateway!")}, "bad gateway!"},
		{"not base64, dashed and upper-case names", []kgo.RecordHeader{
			{Key: "ce-knativeerrordata", Value: []byte("%%% raw")}, {Key: "CE_ID", Value: []byte("x")},
		}, DeadLetter{ID: "x", Reason: []byte("%%% raw")}, "%%% raw"},
		{"no response", []kgo.RecordHeader{{Key: "ce_knativeerrordest", Value: []byte("http://index")}},
			DeadLetter{Dest: "http://index"}, ""},
		{"invalid utf-8 reason", []kgo.RecordHeader{{Key: "ce_knativeerrordata", Value: b64("\xffa ")}},
			DeadLetter{Reason: []byte("\xffa ")}, "\uFFFDa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &kgo.Record{Partition: 1, Offset: 7, Timestamp: ts, Headers: tt.headers}
			tt.want.At = ts
			got := ReadDeadLetter(rec)
			if got.Record != rec {
				t.Errorf("ReadDeadLetter(rec).Record = %p, want rec %p", got.Record, rec)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(DeadLetter{}, "Record")); diff != "" {
				t.Errorf("ReadDeadLetter (-want +got):\n%s", diff)
			}
			if m := got.Message(); m != tt.wantMessage {
				t.Errorf("Message() = %q, want %q", m, tt.wantMessage)
			}
		})
	}
}
