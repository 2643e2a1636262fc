package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxKeyLen is the longest key, in bytes: Elasticsearch refuses longer document _ids.
const maxKeyLen = 512

// kafkaKey returns kafka:<topic>/<partition>/<offset>. The topic must be legal (see legalTopic).
func kafkaKey(topic string, partition int32, offset int64) string {
	b := make([]byte, 0, len("kafka:")+len(topic)+1+10+1+19)
	b = append(b, "kafka:"...)
	b = append(b, topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, offset, 10)
	return string(b)
}

var sourceEscaper = strings.NewReplacer("%", "%25", "#", "%23")

// cloudEventKey returns ce:<escaped source>#<id>, or an error when source or id cannot be
// part of a key.
func cloudEventKey(source, id string) (string, *Error) {
	if !keySafe(source) {
		return "", badRequest("source", "source has invalid characters")
	}
	if !keySafe(id) {
		return "", badRequest("id", "id has invalid characters")
	}
	if strings.ContainsAny(source, "%#") {
		source = sourceEscaper.Replace(source)
	}
	key := "ce:" + source + "#" + id
	if len(key) > maxKeyLen {
		return "", badRequest("id", "source and id are too long")
	}
	return key, nil
}

// hashKey returns sha256:<hex(SHA-256(created_at RFC3339Nano UTC + "\n" + sentence))>.
func hashKey(sentence string, createdAt time.Time) string {
	h := sha256.New()
	var buf [64]byte
	h.Write(createdAt.UTC().AppendFormat(buf[:0], time.RFC3339Nano))
	h.Write([]byte{'\n'})
	h.Write([]byte(sentence))
	var sum [sha256.Size]byte
	return "sha256:" + hex.EncodeToString(h.Sum(sum[:0]))
}

// keySafe reports whether s is valid UTF-8 without control characters.
func keySafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

// legalTopic reports whether s is a legal Kafka topic name: 1 to 249 of [a-zA-Z0-9._-].
func legalTopic(s string) bool {
	if s == "" || len(s) > 249 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parsePartition parses a Kafka partition: a non-negative int32 in decimal.
func parsePartition(s string) (int32, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil && n >= 0
}

// parseOffset parses a Kafka offset: a non-negative int64 in decimal.
func parseOffset(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}
