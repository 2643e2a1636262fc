package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// payload is the decoded seed JSON.
type payload struct {
	sentence     string
	createdAt    time.Time // UTC; valid only when hasCreatedAt
	hasCreatedAt bool
}

// jsonMediaType reports whether data labelled with the media type ct (parameters allowed,
// "" for none) is decoded as JSON: no type, text/plain (KafkaSource and kafka-connector often
// label JSON so), application/json, text/json and any structured +json suffix.
func jsonMediaType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	switch ct {
	case "", "text/plain", "application/json", "text/json":
		return true
	}
	return strings.HasSuffix(ct, "+json") && strings.Contains(ct, "/")
}

// parseObject decodes data as one JSON object, keeping each member's raw value.
func parseObject(data []byte) (map[string]json.RawMessage, *Error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, unprocessable("", "data is not a JSON object")
		}
		return nil, badRequest("", "data is not JSON")
	}
	return m, nil
}

// payload reads sentence and created_at from the members of a decoded object.
func (d *Decoder) payload(m map[string]json.RawMessage) (payload, *Error) {
	var p payload
	raw := m["sentence"]
	switch {
	case raw == nil || isNull(raw):
		return p, unprocessable("sentence", "sentence is missing")
	case raw[0] != '"':
		return p, unprocessable("sentence", "sentence is not a string")
	case !validJSONString(raw):
		return p, badRequest("sentence", "sentence is not valid UTF-8")
	}
	var ok bool
	if p.sentence, ok = jsonString(raw); !ok {
		return p, badRequest("sentence", "sentence is not valid JSON")
	}
	if strings.IndexByte(p.sentence, 0) >= 0 {
		return p, badRequest("sentence", "sentence contains a NUL character")
	}
	if strings.TrimFunc(p.sentence, unicode.IsSpace) == "" {
		return p, unprocessable("sentence", "sentence is empty")
	}
	if len(p.sentence) > d.maxChars && utf8.RuneCountInString(p.sentence) > d.maxChars {
		return p, tooLarge("sentence", "sentence is too long")
	}

	raw = m["created_at"]
	if raw == nil || isNull(raw) {
		return p, nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return p, unprocessable("created_at", "created_at is not a string")
	}
	t, ok := parseTime(s)
	if !ok {
		return p, unprocessable("created_at", "created_at is not a valid time")
	}
	p.createdAt, p.hasCreatedAt = t, true
	return p, nil
}

// jsonString decodes raw, a JSON value from a valid document, if it is a string. A string
// without escapes is its bytes between the quotes.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(raw, []byte("null")) }

// timeLayouts are the accepted created_at forms, by separator and zone. time.Parse accepts
// fractional seconds after the seconds field even where the layout has none, and a layout
// without a zone yields UTC.
var timeLayouts = [2][2]string{
	{"2006-01-02T15:04:05", time.RFC3339},
	{"2006-01-02 15:04:05", "2006-01-02 15:04:05Z07:00"},
}

// parseTime parses created_at in one of timeLayouts and returns it in UTC. It refuses the zero
// time, which callers use to mean "unset". It tries only the layout that can match, told by the
// separator and by whether a zone follows the time of day, so a zoneless time (the seed's form)
// costs no failed parse. FuzzParseTime holds it to trying each layout in turn.
func parseTime(s string) (time.Time, bool) {
	const dateLen = len("2006-01-02")
	if len(s) <= dateLen {
		return time.Time{}, false
	}
	var sep int
	switch s[dateLen] {
	case 'T':
	case ' ':
		sep = 1
	default:
		return time.Time{}, false
	}
	zone := 0
	if strings.ContainsAny(s[dateLen+1:], "Zz+-") {
		zone = 1 // a time of day holds none of these, a zone must start with one
	}
	t, err := time.Parse(timeLayouts[sep][zone], s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	return t, !t.IsZero()
}

// validJSONString reports whether the JSON string literal raw (quotes included, already
// known to be valid JSON) decodes to valid Unicode: its bytes are UTF-8 and every \u escape
// of a surrogate is part of a high-low pair. encoding/json would silently turn both kinds of
// fault into U+FFFD.
func validJSONString(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character; valid JSON guarantees it exists
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			return false
		}
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r >= 0xDC00 { // a low surrogate with no high one before it
			return false
		}
		if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
			return false
		}
		lo, ok := hex4(raw, i+3)
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return false
		}
		i += 6
	}
	return true
}

// hex4 decodes the four hex digits at raw[i:i+4].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
