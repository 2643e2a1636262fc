package sentiment

// The rules follow vaderSentiment 3.3.2 (SentimentIntensityAnalyzer), quirks
// included, because scores must equal the reference's:
//
//   - A word's valence is scaled by 1.25 whenever the word right before it is
//     "so" or "this" and the word three before it is not in the lexicon: the
//     reference's condition reads `a and b or c`, which Python groups as
//     `(a and b) or c`. That branch also skips the negation check of the
//     word three back: "Hadn't been this happy" is positive.
//   - Boosters, "least" and the negation words are recognised in any case,
//     since the reference lower-cases the preceding words.
//   - Single-word special cases ("badass") never apply; only multi-word ones
//     do.
//   - The "but" rule scales, for each value in turn, the first equal value
//     in the list (Python's list.index), not necessarily the value itself.
//   - An ALL-CAPS lexicon word with a valence of exactly 0 is pushed down,
//     not up.
//   - Emoji are replaced by their descriptions one code point at a time, so
//     multi-code-point emoji never match, "❤️" leaves U+FE0F glued to
//     "heart", and "🔛" ("ON! arrow") adds an exclamation mark.

const (
	capsIncr   = 0.733 // C_INCR: emphasis of an ALL-CAPS word among others
	negScalar  = -0.74 // N_SCALAR: the factor of a negated valence
	emphFactor = 1.25  // "never so", "never this", "so", "this"
	butBefore  = 0.5   // the factor of valences before "but"
	butAfter   = 1.5   // the factor of valences after "but"
	dampenAt2  = 0.95  // a booster two words back counts 95%
	dampenAt3  = 0.9   // a booster three words back counts 90%
)

// valences fills s.vals with the valence of each token.
func (a *Analyzer) valences(s *scratch) {
	toks := s.toks
	n := len(toks)
	capDiff := capDifferential(toks)
	s.vals = s.vals[:0]
	for i := range toks {
		t := &toks[i]
		switch {
		case t.info.flags&isBooster != 0,
			t.info.id == idKind && i < n-1 && toks[i+1].info.id == idOf,
			t.info.flags&inLexicon == 0:
			s.vals = append(s.vals, 0)
		default:
			s.vals = append(s.vals, a.valence(s, i, capDiff))
		}
	}
}

// capDifferential reports whether some but not all tokens are ALL CAPS.
func capDifferential(toks []token) bool {
	upper := 0
	for i := range toks {
		if toks[i].upper {
			upper++
		}
	}
	return upper > 0 && upper < len(toks)
}

// valence returns the valence of the lexicon word s.toks[i], adjusted by the
// words around it.
func (a *Analyzer) valence(s *scratch, i int, capDiff bool) float64 {
	toks := s.toks
	n := len(toks)
	t := &toks[i]
	v := t.info.valence

	// "no" before another lexicon word negates that word instead of counting.
	if t.info.id == idNo && i != n-1 && toks[i+1].info.flags&inLexicon != 0 {
		v = 0
	}
	if (i > 0 && toks[i-1].info.id == idNo) ||
		(i > 1 && toks[i-2].info.id == idNo) ||
		(i > 2 && toks[i-3].info.id == idNo && (toks[i-1].info.id == idOr || toks[i-1].info.id == idNor)) {
		v = float64(t.info.valence * negScalar)
	}

	if t.upper && capDiff {
		if v > 0 {
			v += capsIncr
		} else {
			v -= capsIncr
		}
	}

	for back := 1; back <= 3 && back <= i; back++ {
		prev := &toks[i-back]
		if prev.info.flags&inLexicon != 0 {
			continue
		}
		sc := scalar(prev, v, capDiff)
		switch back {
		case 2:
			sc = float64(sc * dampenAt2)
		case 3:
			sc = float64(sc * dampenAt3)
		}
		v += sc
		v = negationCheck(v, toks, back, i)
		if back == 3 {
			v = a.idiomCheck(s, v, i)
		}
	}
	return leastCheck(v, toks, i)
}

// scalar returns how much the booster or dampener t adds to valence v.
func scalar(t *token, v float64, capDiff bool) float64 {
	if t.info.flags&isBooster == 0 {
		return 0
	}
	sc := t.info.boost
	if v < 0 {
		sc = -sc
	}
	if t.upper && capDiff {
		if v > 0 {
			sc += capsIncr
		} else {
			sc -= capsIncr
		}
	}
	return sc
}

func isSoOrThis(t *token) bool { return t.info.id == idSo || t.info.id == idThis }

// negationCheck applies negation by the word back words before toks[i].
func negationCheck(v float64, toks []token, back, i int) float64 {
	switch back {
	case 1:
		if toks[i-1].neg {
			return float64(v * negScalar)
		}
	case 2:
		switch {
		case toks[i-2].info.id == idNever && isSoOrThis(&toks[i-1]):
			return float64(v * emphFactor)
		case toks[i-2].info.id == idWithout && toks[i-1].info.id == idDoubt:
			return v
		case toks[i-2].neg:
			return float64(v * negScalar)
		}
	case 3:
		switch {
		case (toks[i-3].info.id == idNever && isSoOrThis(&toks[i-2])) || isSoOrThis(&toks[i-1]):
			return float64(v * emphFactor)
		case toks[i-3].info.id == idWithout && (toks[i-2].info.id == idDoubt || toks[i-1].info.id == idDoubt):
			return v
		case toks[i-3].neg:
			return float64(v * negScalar)
		}
	}
	return v
}

// idiomCheck applies the special-case idioms and the multi-word boosters
// around toks[i], which has at least three words before it.
func (a *Analyzer) idiomCheck(s *scratch, v float64, i int) float64 {
	n := len(s.toks)
	// The reference tries these n-grams in this order and takes the first
	// special case it finds: (i-1, i), (i-2..i), (i-2, i-1), (i-3..i-1),
	// (i-3, i-2).
	for _, g := range [...][2]int{{i - 1, i}, {i - 2, i}, {i - 2, i - 1}, {i - 3, i - 1}, {i - 3, i - 2}} {
		if x, ok := a.phrase(s, a.special, g[0], g[1]); ok {
			v = x
			break
		}
	}
	if n-1 > i {
		if x, ok := a.phrase(s, a.special, i, i+1); ok {
			v = x
		}
	}
	if n-1 > i+1 {
		if x, ok := a.phrase(s, a.special, i, i+2); ok {
			v = x
		}
	}
	for _, g := range [...][2]int{{i - 3, i - 1}, {i - 3, i - 2}, {i - 2, i - 1}} {
		if x, ok := a.phrase(s, a.booster, g[0], g[1]); ok {
			v += x
		}
	}
	return v
}

// phrase looks up the lower-cased words s.toks[from..to] (inclusive), joined
// by single spaces, in m.
func (a *Analyzer) phrase(s *scratch, m map[string]float64, from, to int) (float64, bool) {
	for k := from; k <= to; k++ {
		if s.toks[k].info.flags&inPhrase == 0 {
			return 0, false
		}
	}
	s.key = s.key[:0]
	for k := from; k <= to; k++ {
		if k > from {
			s.key = append(s.key, ' ')
		}
		s.key = append(s.key, s.lower[s.toks[k].lo:s.toks[k].hi]...)
	}
	x, ok := m[string(s.key)]
	return x, ok
}

// leastCheck negates toks[i] after "least", except in "at least" and
// "very least".
func leastCheck(v float64, toks []token, i int) float64 {
	if i == 0 {
		return v
	}
	prev := &toks[i-1]
	if prev.info.id != idLeast || prev.info.flags&inLexicon != 0 {
		return v
	}
	if i > 1 {
		if id := toks[i-2].info.id; id != idAt && id != idVery {
			return float64(v * negScalar)
		}
		return v
	}
	return float64(v * negScalar)
}

// butCheck halves the valences before the first "but" and scales those after
// it by 1.5. Like the reference, for each position in turn it scales the
// first valence equal to the one at that position.
func butCheck(s *scratch) {
	bi := -1
	for i := range s.toks {
		if s.toks[i].info.id == idBut {
			bi = i
			break
		}
	}
	if bi < 0 {
		return
	}
	vals := s.vals
	for k := range vals {
		x := vals[k]
		si := k
		for j := 0; j < k; j++ {
			if vals[j] == x {
				si = j
				break
			}
		}
		switch {
		case si < bi:
			vals[si] = float64(x * butBefore)
		case si > bi:
			vals[si] = float64(x * butAfter)
		}
	}
}
