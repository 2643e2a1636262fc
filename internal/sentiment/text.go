package sentiment

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file reproduces the Python string semantics the reference relies on:
// str.split() and str.strip() on Unicode whitespace, str.strip of
// string.punctuation, str.lower() and str.isupper().

// token is one whitespace-separated word of the text, with the facts the
// rules ask about it.
type token struct {
	lo, hi int // the lower-cased word is scratch.lower[lo:hi]
	info   wordInfo
	upper  bool // Python's word.isupper()
	neg    bool // a negation word, or contains "n't"
}

// scratch holds the per-call buffers of [Analyzer.Score], reused through a
// sync.Pool so that scoring allocates nothing for plain text.
type scratch struct {
	toks  []token
	vals  []float64
	lower []byte // the lower-cased words, back to back
	key   []byte // an n-gram being looked up
}

// replaceEmoji replaces each emoji by its description, putting a space
// before it unless one precedes it, as the reference does. It returns text
// itself when there is nothing to replace.
func (a *Analyzer) replaceEmoji(text string) string {
	first := -1
	for i := 0; i < len(text); i++ {
		// The lowest code point in the emoji lexicon, U+00A9, starts with
		// 0xc2; smaller bytes are ASCII, continuation bytes or code points
		// below it.
		if text[i] < 0xc2 {
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if _, ok := a.emoji[r]; ok {
			first = i
			break
		}
		i += n - 1
	}
	if first < 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 32)
	b.WriteString(text[:first])
	prevSpace := first == 0 || text[first-1] == ' '
	for i := first; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if desc, ok := a.emoji[r]; ok {
			if !prevSpace {
				b.WriteByte(' ')
			}
			b.WriteString(desc)
			prevSpace = false
		} else {
			b.WriteString(text[i : i+n]) // keeps invalid UTF-8 as is
			prevSpace = r == ' '
		}
		i += n
	}
	return b.String()
}

// tokenize splits text into s.toks as the reference's SentiText does.
func (a *Analyzer) tokenize(s *scratch, text string) {
	s.toks = s.toks[:0]
	s.lower = s.lower[:0]
	for i := 0; i < len(text); {
		// Skip whitespace.
		if c := text[i]; c < utf8.RuneSelf {
			if asciiSpace[c] {
				i++
				continue
			}
		} else if r, n := utf8.DecodeRuneInString(text[i:]); isSpace(r) {
			i += n
			continue
		}
		// Find the end of the word.
		j := i + 1
		for j < len(text) {
			c := text[j]
			if c < utf8.RuneSelf {
				if asciiSpace[c] {
					break
				}
				j++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[j:])
			if isSpace(r) {
				break
			}
			j += n
		}
		start, end := stripPunct(text, i, j)
		i = j

		t := token{lo: len(s.lower)}
		var apostrophe bool
		s.lower, t.upper, apostrophe = appendLower(s.lower, text[start:end])
		t.hi = len(s.lower)
		low := s.lower[t.lo:t.hi]
		t.info = a.vocab[string(low)]
		t.neg = t.info.flags&isNegation != 0 || (apostrophe && bytes.Contains(low, nt))
		s.toks = append(s.toks, t)
	}
}

var nt = []byte("n't")

// appendLower appends word lower-cased to dst and reports whether word is
// upper case (Python's isupper) and whether it has an apostrophe.
func appendLower(dst []byte, word string) (out []byte, upper, apostrophe bool) {
	var hasUpper, hasLower bool
	for i := 0; i < len(word); i++ {
		c := word[i]
		switch {
		case c >= utf8.RuneSelf:
			dst = appendPyLower(dst, word[i:])
			return dst, !hasLower && isUpperUnicode(word[i:], hasUpper), apostrophe || strings.Contains(word[i:], "'")
		case 'A' <= c && c <= 'Z':
			hasUpper = true
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z':
			hasLower = true
		case c == '\'':
			apostrophe = true
		}
		dst = append(dst, c)
	}
	return dst, hasUpper && !hasLower, apostrophe
}

// stripPunct returns the bounds of text[i:j] stripped of leading and
// trailing ASCII punctuation, unless that leaves 2 characters or fewer (an
// emoticon such as ":)" or ":D"), in which case it returns i and j.
func stripPunct(text string, i, j int) (int, int) {
	start, end := i, j
	for start < end && asciiPunct[text[start]] {
		start++
	}
	for end > start && asciiPunct[text[end-1]] {
		end--
	}
	if start == i && end == j {
		return i, j
	}
	if n := end - start; n <= 2 || (n <= 8 && utf8.RuneCountInString(text[start:end]) <= 2) {
		return i, j
	}
	return start, end
}

// asciiPunct reports whether a byte is in Python's string.punctuation.
var asciiPunct = func() (t [256]bool) {
	for _, c := range []byte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") {
		t[c] = true
	}
	return t
}()

// asciiSpace reports whether an ASCII byte is whitespace to Python.
var asciiSpace = func() (t [utf8.RuneSelf]bool) {
	for _, c := range []byte("\t\n\v\f\r\x1c\x1d\x1e\x1f ") {
		t[c] = true
	}
	return t
}()

// isSpace reports whether r is whitespace to Python's str.isspace.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiSpace[r]
	}
	switch r {
	case 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// appendPyLower appends s lower-cased as Python's str.lower does, as far as
// it can matter here: U+0130 becomes "i̇" (two code points) rather than Go's
// "i". Python's final-sigma rule is not reproduced; it changes only Greek
// words, which never match a word list. Invalid UTF-8 is kept as is.
func appendPyLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, s[i])
		case r == 0x130:
			dst = append(dst, "i\u0307"...)
		default:
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		i += n
	}
	return dst
}

// isUpper reports what Python's s.isupper() does: whether s has an
// upper-case character and no lower-case or title-case one.
func isUpper(s string) bool {
	cased := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return isUpperUnicode(s[i:], cased)
		}
		if 'a' <= c && c <= 'z' {
			return false
		}
		if 'A' <= c && c <= 'Z' {
			cased = true
		}
	}
	return cased
}

func isUpperUnicode(s string, cased bool) bool {
	for _, r := range s {
		if unicode.IsLower(r) || unicode.IsTitle(r) || unicode.Is(unicode.Other_Lowercase, r) {
			return false
		}
		if unicode.IsUpper(r) || unicode.Is(unicode.Other_Uppercase, r) {
			cased = true
		}
	}
	return cased
}
