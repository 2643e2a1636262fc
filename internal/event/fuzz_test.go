package event

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// fuzzHeader is, per header set, the header the fuzzer's string replaces (when not empty).
var fuzzHeader = [numHeaderSets]string{
	bare:        "Ce-Specversion",
	scoreSource: "Ce-Id",
	indexSource: "Ce-Source",
	forwarded:   "Ce-Time",
	openFaaS:    "X-Kafka-Offset",
}

func FuzzDecode(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body), tt.ct, uint8(tt.sel), tt.hdr[fuzzHeader[tt.sel]])
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.http"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		r := requestFromFile(f, filepath.Base(name))
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		_, b, _ := strings.Cut(string(body), "\n\n")
		for sel := range numHeaderSets {
			f.Add([]byte(b), r.Header.Get("Content-Type"), uint8(sel), "")
		}
	}

	d := testDecoder()
	f.Fuzz(func(t *testing.T, body []byte, ct string, sel uint8, hv string) {
		s := int(sel % numHeaderSets)
		var hdr map[string]string
		if hv != "" {
			hdr = map[string]string{fuzzHeader[s]: hv}
		}
		items, err := d.Decode(newRequest(s, ct, hdr, string(body)))
		if err != nil {
			checkMalformed(t, err)
			if items != nil {
				t.Fatalf("Decode failed with %v and returned %d items", err, len(items))
			}
			return
		}
		if len(items) == 0 {
			t.Fatal("Decode succeeded with no items")
		}
		for i, it := range items {
			if it.Err != nil {
				checkMalformed(t, it.Err)
				if diff := cmp.Diff(Record{}, it.Record); diff != "" {
					t.Fatalf("item %d has error %v and a record (-want +got):\n%s", i, it.Err, diff)
				}
				continue
			}
			rec := it.Record
			switch {
			case rec.Key == "" || len(rec.Key) > maxKeyLen || !keySafe(rec.Key):
				t.Fatalf("item %d: bad key %q", i, rec.Key)
			case strings.TrimSpace(rec.Sentence) == "" || !utf8.ValidString(rec.Sentence) || strings.ContainsRune(rec.Sentence, 0):
				t.Fatalf("item %d: bad sentence %q", i, rec.Sentence)
			case utf8.RuneCountInString(rec.Sentence) > d.maxChars:
				t.Fatalf("item %d: sentence of %d runes", i, utf8.RuneCountInString(rec.Sentence))
			case rec.CreatedAt.IsZero() || rec.CreatedAt.Location() != receipt.Location():
				t.Fatalf("item %d: CreatedAt %v, want non-zero UTC", i, rec.CreatedAt)
			case rec.Provenance.HasOffset && (rec.Provenance.Partition < 0 || rec.Provenance.Offset < 0):
				t.Fatalf("item %d: provenance %+v", i, rec.Provenance)
			}
		}
	})
}

// checkMalformed fails t unless err is a 4xx *Error that matches ErrMalformed.
func checkMalformed(t *testing.T, err error) {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error %v is %T, want *Error", err, err)
	}
	switch e.Status {
	case 400, 413, 415, 422:
	default:
		t.Fatalf("error %v has status %d", err, e.Status)
	}
	if !errors.Is(err, ErrMalformed) || e.Reason == "" {
		t.Fatalf("error %+v: not ErrMalformed or no reason", e)
	}
}
