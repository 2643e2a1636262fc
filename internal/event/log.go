package event

import (
	"log/slog"
	"unicode/utf8"
)

// LogAttrs returns the attributes a request's log line carries for r: its key, the sentence's
// length in characters and where it came from — never the sentence itself, which is user content.
func (r Record) LogAttrs() []slog.Attr {
	p := r.Provenance
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("key", r.Key), slog.Int("sentence_chars", utf8.RuneCountInString(r.Sentence)))
	if p.EventID != "" {
		attrs = append(attrs, slog.String("event_id", p.EventID), slog.String("event_source", p.EventSource))
	}
	if p.Topic != "" {
		attrs = append(attrs, slog.String("topic", p.Topic))
	}
	if p.HasOffset {
		attrs = append(attrs, slog.Int("partition", int(p.Partition)), slog.Int64("offset", p.Offset))
	}
	return attrs
}
