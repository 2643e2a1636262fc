// Package sentiment scores the sentiment of short English texts with VADER
// (Hutto & Gilbert, ICWSM 2014).
//
// The scores equal those of the reference implementation, the Python package
// vaderSentiment 3.3.2, to the 4 decimals of its compound score and the 3
// decimals of its pos, neu and neg ratios, including the reference's quirks
// (see rules.go). The word lists come from the exported tables of
// github.com/jonreiter/govader, patched where they differ from the reference;
// the rules are implemented here. The package does no I/O.
package sentiment

import (
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/jonreiter/govader"
)

// Labels returned by [Label].
const (
	LabelPositive = "positive"
	LabelNeutral  = "neutral"
	LabelNegative = "negative"
)

// Scores holds the VADER scores of one text, rounded as the reference rounds
// them.
type Scores struct {
	// Compound is the normalised sum of the word valences, in [-1, 1],
	// rounded to 4 decimals.
	Compound float64
	// Pos, Neu and Neg are the shares of positive, neutral and negative
	// weight in the text, each in [0, 1] and rounded to 3 decimals. They are
	// all 0 for a text without words.
	Pos, Neu, Neg float64
}

// The thresholds of [Label], VADER's own: a compound score at or above PositiveThreshold is
// positive, one at or below NegativeThreshold negative. Code that labels rows elsewhere (SQL)
// builds its conditions from these.
const (
	PositiveThreshold = 0.05
	NegativeThreshold = -0.05
)

// Label returns [LabelPositive] for a compound score of at least [PositiveThreshold] (0.05),
// [LabelNegative] for one of at most [NegativeThreshold] (-0.05), and [LabelNeutral] otherwise.
func Label(compound float64) string {
	switch {
	case compound >= PositiveThreshold:
		return LabelPositive
	case compound <= NegativeThreshold:
		return LabelNegative
	default:
		return LabelNeutral
	}
}

// Analyzer scores texts. Build one with [New] and share it: it is safe for
// concurrent use.
type Analyzer struct {
	// vocab holds everything the rules need to know about a lower-cased word,
	// so that a token costs one map lookup.
	vocab map[string]wordInfo
	// emoji maps a single code point to its description. Multi-code-point
	// entries of the emoji lexicon never match in the reference, which reads
	// the text one code point at a time, so they are left out.
	emoji map[rune]string
	// special and booster hold the multi-word entries of the special-case
	// idioms and of the booster dictionary, keyed by words joined with a
	// single space.
	special map[string]float64
	booster map[string]float64

	pool sync.Pool // of *scratch
}

// wordInfo describes a lower-cased word.
type wordInfo struct {
	valence float64 // lexicon valence, if inLexicon
	boost   float64 // booster/dampener scalar, if isBooster
	id      wordID  // one of the words the rules name, or idOther
	flags   wordFlags
}

type wordFlags uint8

const (
	inLexicon wordFlags = 1 << iota
	isBooster
	isNegation
	inPhrase // part of a multi-word special case or booster
)

// wordID names the words the rules compare tokens with.
type wordID uint8

const (
	idOther wordID = iota
	idAt
	idBut
	idDoubt
	idKind
	idLeast
	idNever
	idNo
	idNor
	idOf
	idOr
	idSo
	idThis
	idVery
	idWithout
)

var ruleWords = map[string]wordID{
	"at": idAt, "but": idBut, "doubt": idDoubt, "kind": idKind, "least": idLeast,
	"never": idNever, "no": idNo, "nor": idNor, "of": idOf, "or": idOr,
	"so": idSo, "this": idThis, "very": idVery, "without": idWithout,
}

// Entries of the reference's lexicon and special-case idioms that govader's
// tables lack.
var (
	missingLexicon = map[string]float64{"heart": 3.2, "hearts": 3.3}
	missingSpecial = map[string]float64{"bus stop": 0.0, "beating heart": 3.5}
)

// New builds an Analyzer from the embedded word lists.
func New() *Analyzer {
	g := govader.NewSentimentIntensityAnalyzer()
	a := &Analyzer{
		vocab:   make(map[string]wordInfo, len(g.Lexicon)+len(missingLexicon)+64),
		emoji:   make(map[rune]string, len(g.EmojiDict)),
		special: make(map[string]float64),
		booster: make(map[string]float64),
	}
	a.pool.New = func() any { return new(scratch) }

	update := func(w string, f func(*wordInfo)) {
		info := a.vocab[w]
		f(&info)
		a.vocab[w] = info
	}
	for _, lexicon := range []map[string]float64{g.Lexicon, missingLexicon} {
		for w, v := range lexicon {
			update(w, func(i *wordInfo) { i.valence, i.flags = v, i.flags|inLexicon })
		}
	}
	for w, v := range g.Constants.BoosterDict {
		update(w, func(i *wordInfo) { i.boost, i.flags = v, i.flags|isBooster })
	}
	for _, w := range g.Constants.NegateList {
		update(w, func(i *wordInfo) { i.flags |= isNegation })
	}
	for w, id := range ruleWords {
		update(w, func(i *wordInfo) { i.id = id })
	}
	// Only multi-word entries count: the reference looks phrases up as
	// n-grams of two or more words, so a single-word special case such as
	// "badass" never applies, and single-word boosters are handled per word.
	addPhrases := func(dst, src map[string]float64) {
		for p, v := range src {
			if !strings.Contains(p, " ") {
				continue
			}
			dst[p] = v
			for w := range strings.SplitSeq(p, " ") {
				update(w, func(i *wordInfo) { i.flags |= inPhrase })
			}
		}
	}
	addPhrases(a.special, g.Constants.SpecialCaseIdioms)
	addPhrases(a.special, missingSpecial)
	addPhrases(a.booster, g.Constants.BoosterDict)

	for e, desc := range g.EmojiDict {
		r := []rune(e)
		if len(r) == 1 {
			a.emoji[r[0]] = desc
		}
	}
	return a
}

// Score returns the VADER scores of text.
func (a *Analyzer) Score(text string) Scores {
	s := a.pool.Get().(*scratch)
	defer a.pool.Put(s)

	text = a.replaceEmoji(text)
	a.tokenize(s, text)
	if len(s.toks) == 0 {
		return Scores{}
	}
	a.valences(s)
	butCheck(s)
	return scoreValences(s.vals, text)
}

// scoreValences turns the word valences into scores, adding the emphasis of
// exclamation and question marks in text.
func scoreValences(vals []float64, text string) Scores {
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	amp := punctuationEmphasis(text)
	if sum > 0 {
		sum += amp
	} else if sum < 0 {
		sum -= amp
	}
	compound := normalize(sum)

	var posSum, negSum, neutral float64
	for _, v := range vals {
		switch {
		case v > 0:
			posSum += v + 1 // counts the word as a neutral one would count
		case v < 0:
			negSum += v - 1
		default:
			neutral++
		}
	}
	if posSum > math.Abs(negSum) {
		posSum += amp
	} else if posSum < math.Abs(negSum) {
		negSum -= amp
	}
	total := posSum + math.Abs(negSum) + neutral
	return Scores{
		Compound: round(compound, 4),
		Pos:      round(math.Abs(posSum/total), 3),
		Neu:      round(math.Abs(neutral/total), 3),
		Neg:      round(math.Abs(negSum/total), 3),
	}
}

// punctuationEmphasis returns the emphasis that up to 4 exclamation marks and
// 2 or more question marks add.
func punctuationEmphasis(text string) float64 {
	ep := min(strings.Count(text, "!"), 4)
	qm := strings.Count(text, "?")
	amp := float64(float64(ep) * 0.292)
	switch {
	case qm > 3:
		amp += 0.96
	case qm > 1:
		amp += float64(float64(qm) * 0.18)
	}
	return amp
}

// normalize maps a valence sum into [-1, 1].
func normalize(score float64) float64 {
	const alpha = 15
	n := score / math.Sqrt(float64(score*score)+alpha)
	return max(-1, min(1, n))
}

var pow10 = [...]float64{1, 10, 100, 1000, 10000}

// round rounds x to digits decimals as Python's round(x, digits) does: to the
// double nearest the correctly rounded decimal, ties to even.
func round(x float64, digits int) float64 {
	scale := pow10[digits]
	t := x * scale
	if frac := math.Abs(t - math.Trunc(t)); math.Abs(frac-0.5) > 1e-6 {
		// t is far enough from a tie that its rounding error cannot matter.
		return math.Round(t) / scale
	}
	var buf [32]byte
	r, err := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], x, 'f', digits, 64)), 64)
	if err != nil {
		return x // unreachable: AppendFloat writes a valid number
	}
	return r
}
