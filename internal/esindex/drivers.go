package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sentistream/sentistream/internal/sentiment"
)

// DriversQuery asks which words and two-word phrases drive the mood of a window: those
// significantly over-represented in its negative messages, and in its positive ones.
type DriversQuery struct {
	// From and To bound the window on created_at, [From, To); the previous window is as long
	// and ends at From. Both are required.
	From, To time.Time
	// Size is the most terms listed per side; default 10.
	Size int
	// Sample is how many of the window's messages of each side are analysed to find the
	// candidate terms (a random sample, the same for the same documents); default 100: a term in 5% of a
	// side's messages is then a candidate 96 times in 100 (in 2 of the sample). Re-analysing a message is
	// the dear part of Drivers (at 1M documents, 100 per side answer in about a third of the
	// time of 500).
	Sample int
	// CountSample bounds the work of counting the candidates: when the window and the one
	// before hold more than this many messages (by the window's count, twice), the candidates
	// are counted in a random sample of about this many and the counts are estimates
	// ([Drivers.Probability] below 1); default 50000. Totals are always exact.
	CountSample int
	// Exclude holds names never listed, such as the product's own: "Zephyr Buds" keeps out every
	// term with the word zephyr or buds in it. Matched as lower-cased words.
	Exclude []string
	// Keep, when set, reports whether a candidate term may be listed; the dashboard drops the
	// words that carry the sentiment themselves ("terrible"), which say how people feel, not why.
	Keep func(term string) bool
}

// Drivers is the answer to a [DriversQuery].
type Drivers struct {
	// Field is where the terms come from: [DriversField], or sentence (words only, no phrases)
	// for an index made before the template had that sub-field.
	Field string
	// Current and Previous count the messages of the window and of the one before it.
	Current, Previous Totals
	// Negative and Positive are the terms over-represented in the negative and in the positive
	// messages of the window, most significant first.
	Negative, Positive []Driver
	// Probability is the fraction of the messages the terms were counted in: 1 when their
	// counts are exact, less when they are estimates from a random sample (see
	// [DriversQuery.CountSample]).
	Probability float64
	// Took is Elasticsearch's own time for the searches.
	Took time.Duration
}

// Totals count the messages of a window, and those of each side, by the thresholds of
// [sentiment.Label].
type Totals struct {
	Count, Negative, Positive int64
}

// Driver is a term of one side of [Drivers].
type Driver struct {
	// Term is a lower-cased word or two-word phrase; searching for it finds its messages.
	Term string
	// Score is Elasticsearch's significance (JLH) of the term in a sample of the side's messages
	// of the window against the whole index.
	Score float64
	// Background is how many documents of the whole index hold the term (as indexed in Field).
	Background int64
	// Z is the two-proportion z-score of the side's share of messages holding the term against
	// the share among the window's other messages (of the messages counted, when the counts are
	// estimates); a term is listed only when it is at least [MinDriverZ]. Nil when the window
	// holds messages of this side only.
	Z *float64
	// Current and Previous count the term in the window and in the one before it.
	Current, Previous TermCounts
}

// TermCounts count the messages holding a term in a window.
type TermCounts struct {
	// Count is the number of messages of the driver's side holding the term.
	Count int64
	// Mentions is the number of messages of any label holding it.
	Mentions int64
	// Mean is the mean compound score of those Mentions; nil when there are none.
	Mean *float64
}

// The thresholds a candidate term must pass to be listed.
const (
	// MinDriverCount is the fewest messages of a side of the window a term must be in; a
	// candidate must be in 2 of the sample.
	MinDriverCount = 3
	// MinDriverZ is the least z-score (see [Driver.Z]) of a listed term: the side's share is
	// above the other messages' by two standard errors, about 2.3% false positives per term
	// when it is not.
	MinDriverZ = 2.0
)

// driverStopWords are left out of [DriversField] (and never listed from sentence): English
// function words, including the contractions the standard tokenizer keeps whole, fillers and
// intensifiers, and numbers in words.
var driverStopWords = []string{
	"absolutely", "actually", "already", "always", "honestly", "kinda", "literally", "lol", "maybe",
	"never", "oh", "ok", "okay", "quite", "really", "totally", "yeah", "yes",
	"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are",
	"aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
	"by", "can", "can't", "cannot", "could", "couldn't", "did", "didn't", "do", "does", "doesn't",
	"doing", "don't", "down", "during", "each", "even", "ever", "every", "few", "for", "from",
	"further", "get", "got", "had", "hadn't", "has", "hasn't", "have", "haven't", "having", "he",
	"her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "i'd", "i'll", "i'm",
	"i've", "if", "in", "into", "is", "isn't", "it", "it's", "its", "itself", "just", "let's", "me",
	"more", "most", "much", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
	"only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should",
	"shouldn't", "so", "some", "still", "such", "than", "that", "that's", "the", "their", "theirs",
	"them", "themselves", "then", "there", "there's", "these", "they", "they're", "this", "those",
	"through", "to", "too", "under", "until", "up", "very", "was", "wasn't", "we", "we're", "were",
	"weren't", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
	"won't", "would", "wouldn't", "you", "you're", "your", "yours", "yourself", "yourselves",
}

// Drivers finds the terms that drive the mood of q's window, in two searches (after a look at the
// mapping, which the node answers from its cluster state).
//
// The first finds candidates cheaply: the window's messages (a range on created_at) of each side
// (by the thresholds of [sentiment.Label] on sentiment) are sampled, q.Sample at random per side
// (a sampler over a random_score), and a significant_text aggregation re-analyses only that
// sample's sentences with [DriversField]'s analyzer, scoring each term against the term
// statistics of the whole index, which cost nothing to read. Re-analysing a message (reading its
// _source) is the dear part, so the sample is small; the scores cost a read of _seq_no per
// message of the window. Numbers, single characters, stop words, phrases across a removed stop
// word and q.Exclude are excluded there; terms without a letter (emoji), those q.Keep rejects,
// and those that mostly repeat a better candidate (a word and a phrase holding it in about the
// same messages) are dropped next, leaving at most 1.5 × q.Size per side. The second search
// counts them in the window and the one before, per side, with their mean compound: filters with
// one term query per candidate (on DriversField, or phrases of sentence), under a random_sampler
// of about q.CountSample messages when the windows hold more, beside exact totals. A term is
// listed when it is in at least [MinDriverCount] messages of its side and over-represented there
// against the window's other messages (z ≥ [MinDriverZ]).
//
// A missing index is an [*Error] with Status 404.
func (x *Index) Drivers(ctx context.Context, q DriversQuery) (*Drivers, error) {
	if q.From.IsZero() || !q.To.After(q.From) {
		return nil, errors.New("drivers: want a window with From before To")
	}
	if q.Size <= 0 {
		q.Size = 10
	}
	if q.Sample <= 0 {
		q.Sample = 100
	}
	if q.CountSample <= 0 {
		q.CountSample = 50000
	}
	field, err := x.driversField(ctx)
	if err != nil {
		return nil, err
	}
	out := &Drivers{Field: field, Probability: 1}
	cands, window, took, err := x.driverCandidates(ctx, q, field)
	if err != nil {
		return nil, err
	}
	out.Took += took
	// random_sampler takes a probability up to 0.5, or 1.
	if p := float64(q.CountSample) / float64(2*window); p <= 0.5 {
		out.Probability = p
	}
	var terms []string
	seen := map[string]int{}
	for _, side := range cands {
		for _, c := range side {
			if _, ok := seen[c.Term]; !ok {
				seen[c.Term] = len(terms)
				terms = append(terms, c.Term)
			}
		}
	}
	counts, took, err := x.driverCounts(ctx, q, field, out.Probability, terms)
	if err != nil {
		return nil, err
	}
	out.Took += took
	out.Current, out.Previous = counts.current, counts.previous
	for s, side := range cands {
		var list []Driver
		for _, c := range side {
			tc := counts.terms[seen[c.Term]]
			d := c
			d.Current = tc.current.forSide(s)
			d.Previous = tc.previous.forSide(s)
			d.Z = zScore(d.Current.Count, out.Current.side(s), d.Current.Mentions, out.Current.Count)
			if d.Z != nil && out.Probability < 1 {
				// Of the messages counted: the estimates are counts of the sample scaled up.
				*d.Z *= math.Sqrt(out.Probability)
			}
			if d.Current.Count < MinDriverCount || (d.Z != nil && *d.Z < MinDriverZ) {
				continue
			}
			list = append(list, d)
		}
		list = dedupe(list, func(d Driver) int64 { return d.Current.Count })
		if len(list) > q.Size {
			list = list[:q.Size]
		}
		if list == nil {
			list = []Driver{}
		}
		if s == sideNegative {
			out.Negative = list
		} else {
			out.Positive = list
		}
	}
	return out, nil
}

// The sides of [Drivers], in the order of the searches' aggregations.
const (
	sideNegative = iota
	sidePositive
)

var sideNames = [2]string{"negative", "positive"}

// sideFilters are the queries of the sides, by the thresholds of [sentiment.Label].
func sideFilters() map[string]any {
	return map[string]any{
		"negative": map[string]any{"range": map[string]any{"sentiment": map[string]any{"lte": sentiment.NegativeThreshold}}},
		"positive": map[string]any{"range": map[string]any{"sentiment": map[string]any{"gte": sentiment.PositiveThreshold}}},
	}
}

func (t Totals) side(s int) int64 {
	if s == sideNegative {
		return t.Negative
	}
	return t.Positive
}

// driversField returns [DriversField] when every index behind x's name maps it, else sentence.
func (x *Index) driversField(ctx context.Context) (string, error) {
	var m map[string]struct {
		Mappings map[string]json.RawMessage `json:"mappings"`
	}
	if _, err := x.call(ctx, http.MethodGet, "/"+x.name+"/_mapping/field/"+DriversField, nil, nil, &m, false); err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "sentence", nil
	}
	for _, ix := range m {
		if _, ok := ix.Mappings[DriversField]; !ok {
			return "sentence", nil
		}
	}
	return DriversField, nil
}

// minSampleCount is the fewest messages of a side's sample a candidate must be in.
const minSampleCount = 2

// driversSeed seeds the random sample, so that the same documents give the same sample and
// polls of an unchanged window the same answer.
const driversSeed = 16

// driverCandidatesBody is the first search of [Index.Drivers].
func driverCandidatesBody(q DriversQuery, field string) map[string]any {
	sig := map[string]any{
		"field":               field,
		"source_fields":       []string{"sentence"},
		"size":                4 * q.Size,
		"min_doc_count":       minSampleCount,
		"shard_min_doc_count": minSampleCount,
		"exclude":             excludePattern(q.Exclude),
	}
	aggs := map[string]any{}
	for name, filter := range sideFilters() {
		aggs[name] = map[string]any{
			"filter": filter,
			"aggs": map[string]any{"sample": map[string]any{
				"sampler": map[string]any{"shard_size": q.Sample},
				"aggs":    map[string]any{"terms": map[string]any{"significant_text": sig}},
			}},
		}
	}
	return map[string]any{
		"size":             0,
		"track_total_hits": true, // free: every message of the window is scored anyway
		"query": map[string]any{"function_score": map[string]any{
			"query":        map[string]any{"bool": map[string]any{"filter": []any{createdIn(q.From, q.To)}}},
			"random_score": map[string]any{"seed": driversSeed, "field": "_seq_no"},
			"boost_mode":   "replace",
		}},
		"aggs": aggs,
	}
}

// createdIn is a range query on created_at, [from, to).
func createdIn(from, to time.Time) map[string]any {
	return map[string]any{"range": map[string]any{"created_at": map[string]any{
		"gte": from.UTC().Format(time.RFC3339Nano), "lt": to.UTC().Format(time.RFC3339Nano),
	}}}
}

// excludePattern is the Lucene regular expression of the terms significant_text never lists:
// anything with a digit, single characters, a phrase with an empty filler (across a removed stop
// word), the stop words (sentence keeps them) and any term holding a word of own.
func excludePattern(own []string) string {
	parts := []string{".*[0-9].*", ".", " .*", ".* "}
	var stop []string
	for _, w := range driverStopWords {
		stop = append(stop, regexpQuote(w))
	}
	parts = append(parts, "("+strings.Join(stop, "|")+")")
	var words []string
	for _, name := range own {
		for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if !slices.Contains(words, w) {
				words = append(words, w)
			}
		}
	}
	if len(words) > 0 {
		parts = append(parts, "(.+ )?("+strings.Join(words, "|")+")( .+)?")
	}
	return strings.Join(parts, "|")
}

// regexpQuote escapes the characters Lucene's regular expressions reserve.
func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`.?+*|{}[]()"\#@&<>~`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// driverCandidates runs the first search and returns, per side, the candidates worth counting
// (at most 1.5 × q.Size), most significant first, and how many messages the window holds.
func (x *Index) driverCandidates(ctx context.Context, q DriversQuery, field string) ([2][]Driver, int64, time.Duration, error) {
	var cands [2][]Driver
	body, err := json.Marshal(driverCandidatesBody(q, field))
	if err != nil {
		return cands, 0, 0, err
	}
	type bucket struct {
		Key      string  `json:"key"`
		DocCount int64   `json:"doc_count"`
		BgCount  int64   `json:"bg_count"`
		Score    float64 `json:"score"`
	}
	var answer struct {
		Took int64 `json:"took"`
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Aggregations map[string]struct {
			Sample struct {
				Terms struct {
					Buckets []bucket `json:"buckets"`
				} `json:"terms"`
			} `json:"sample"`
		} `json:"aggregations"`
	}
	if _, err := x.call(ctx, http.MethodPost, "/"+x.name+"/_search", url.Values{"ignore_unavailable": {"false"}}, body, &answer, false); err != nil {
		return cands, 0, 0, err
	}
	for s, name := range sideNames {
		var list []Driver
		sample := map[string]int64{}
		for _, b := range answer.Aggregations[name].Sample.Terms.Buckets {
			if !hasLetters(b.Key) || (q.Keep != nil && !q.Keep(b.Key)) {
				continue
			}
			sample[b.Key] = b.DocCount
			list = append(list, Driver{Term: b.Key, Score: b.Score, Background: b.BgCount})
		}
		// Phrases first among equal scores: "battery life" says more than "battery".
		slices.SortStableFunc(list, func(a, b Driver) int {
			if a.Score != b.Score {
				if a.Score > b.Score {
					return -1
				}
				return 1
			}
			return strings.Count(b.Term, " ") - strings.Count(a.Term, " ")
		})
		list = dedupe(list, func(d Driver) int64 { return sample[d.Term] })
		if n := q.Size + (q.Size+1)/2; len(list) > n {
			list = list[:n]
		}
		cands[s] = list
	}
	return cands, answer.Hits.Total.Value, time.Duration(answer.Took) * time.Millisecond, nil
}

// hasLetters reports whether every word of term holds a letter.
func hasLetters(term string) bool {
	for w := range strings.SplitSeq(term, " ") {
		if !strings.ContainsFunc(w, unicode.IsLetter) {
			return false
		}
	}
	return true
}

// dedupe drops, in list order, each term that overlaps a term kept before it and is in about as
// many messages (within 25%): a word and a phrase holding it ("battery", "battery life"), or two
// phrases that chain ("nobody ever", "ever answered") found in about the same messages say one
// thing. Phrases that share a word otherwise ("sound quality", "build quality") both stay.
func dedupe(list []Driver, count func(Driver) int64) []Driver {
	var kept []Driver
	for _, d := range list {
		dup := slices.ContainsFunc(kept, func(k Driver) bool {
			a, b := count(k), count(d)
			return min(a, b) > 0 && float64(max(a, b)) <= 1.25*float64(min(a, b)) && overlap(k.Term, d.Term)
		})
		if !dup {
			kept = append(kept, d)
		}
	}
	return kept
}

// overlap reports whether one term is a word of the other, or the last word of one is the first
// of the other.
func overlap(a, b string) bool {
	wa, wb := strings.Fields(a), strings.Fields(b)
	if len(wa) == 0 || len(wb) == 0 {
		return false
	}
	switch {
	case len(wa) == 1:
		return slices.Contains(wb, wa[0])
	case len(wb) == 1:
		return slices.Contains(wa, wb[0])
	}
	return wa[len(wa)-1] == wb[0] || wb[len(wb)-1] == wa[0]
}

// zScore is the two-proportion z-score of x1 of n1 against (m-x1) of (n-n1), nil when n1 is n
// (nothing to compare with); 0 when the pooled share is 0 or 1.
func zScore(x1, n1, m, n int64) *float64 {
	n2 := n - n1
	if n1 <= 0 || n2 <= 0 {
		return nil
	}
	p := float64(m) / float64(n)
	se := math.Sqrt(p * (1 - p) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		z := 0.0
		return &z
	}
	z := (float64(x1)/float64(n1) - float64(m-x1)/float64(n2)) / se
	return &z
}

// windowCounts are a term's (or a window's) counts in one window.
type windowCounts struct {
	count, negative, positive int64
	mean                      *float64
}

func (w windowCounts) forSide(s int) TermCounts {
	c := TermCounts{Mentions: w.count, Mean: w.mean, Count: w.positive}
	if s == sideNegative {
		c.Count = w.negative
	}
	return c
}

type driverCountsResult struct {
	current, previous Totals
	terms             []struct{ current, previous windowCounts }
}

// driverCountsBody is the second search of [Index.Drivers]: terms[i] of field is counted under
// "i", in a random sample of probability p when p is below 1.
func driverCountsBody(q DriversQuery, field string, p float64, terms []string) map[string]any {
	prev := q.From.Add(-q.To.Sub(q.From))
	windows := map[string]any{"date_range": map[string]any{
		"field": "created_at",
		"keyed": true,
		"ranges": []any{
			map[string]any{"key": "previous", "from": prev.UTC().Format(time.RFC3339Nano), "to": q.From.UTC().Format(time.RFC3339Nano)},
			map[string]any{"key": "current", "from": q.From.UTC().Format(time.RFC3339Nano), "to": q.To.UTC().Format(time.RFC3339Nano)},
		},
	}}
	side := map[string]any{"filters": map[string]any{"filters": sideFilters()}}
	filters := map[string]any{}
	for i, t := range terms {
		if field == DriversField { // the term as indexed: cheaper than a phrase
			filters[strconv.Itoa(i)] = map[string]any{"term": map[string]any{DriversField: t}}
		} else {
			filters[strconv.Itoa(i)] = map[string]any{"match_phrase": map[string]any{"sentence": t}}
		}
	}
	withAggs := func(agg, aggs map[string]any) map[string]any {
		out := maps.Clone(agg)
		out["aggs"] = aggs
		return out
	}
	aggs := map[string]any{
		"totals": withAggs(windows, map[string]any{"side": side}),
	}
	if len(terms) > 0 {
		termsAgg := map[string]any{
			"filters": map[string]any{"filters": filters},
			"aggs": map[string]any{"windows": withAggs(windows, map[string]any{
				"side": side,
				"mean": map[string]any{"avg": map[string]any{"field": "sentiment"}},
			})},
		}
		if p < 1 {
			// Its counts come back scaled up by 1/p.
			termsAgg = map[string]any{
				"random_sampler": map[string]any{"probability": p, "seed": driversSeed},
				"aggs":           map[string]any{"terms": termsAgg},
			}
		}
		aggs["terms"] = termsAgg
	}
	return map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": []any{createdIn(prev, q.To)}}},
		"aggs":             aggs,
	}
}

// driverCounts runs the second search.
func (x *Index) driverCounts(ctx context.Context, q DriversQuery, field string, p float64, terms []string) (*driverCountsResult, time.Duration, error) {
	body, err := json.Marshal(driverCountsBody(q, field, p, terms))
	if err != nil {
		return nil, 0, err
	}
	type window struct {
		DocCount int64 `json:"doc_count"`
		Side     struct {
			Buckets map[string]struct {
				DocCount int64 `json:"doc_count"`
			} `json:"buckets"`
		} `json:"side"`
		Mean struct {
			Value *float64 `json:"value"`
		} `json:"mean"`
	}
	type windows struct {
		Buckets map[string]window `json:"buckets"`
	}
	type termBuckets struct {
		Buckets map[string]struct {
			Windows windows `json:"windows"`
		} `json:"buckets"`
	}
	var answer struct {
		Took         int64 `json:"took"`
		Aggregations struct {
			Totals windows `json:"totals"`
			Terms  struct {
				termBuckets
				// Under the random_sampler, when there is one.
				Terms termBuckets `json:"terms"`
			} `json:"terms"`
		} `json:"aggregations"`
	}
	if _, err := x.call(ctx, http.MethodPost, "/"+x.name+"/_search", url.Values{"ignore_unavailable": {"false"}}, body, &answer, false); err != nil {
		return nil, 0, err
	}
	counts := func(w window) windowCounts {
		return windowCounts{count: w.DocCount, negative: w.Side.Buckets["negative"].DocCount, positive: w.Side.Buckets["positive"].DocCount, mean: w.Mean.Value}
	}
	totals := func(w window) Totals {
		c := counts(w)
		return Totals{Count: c.count, Negative: c.negative, Positive: c.positive}
	}
	res := &driverCountsResult{
		current:  totals(answer.Aggregations.Totals.Buckets["current"]),
		previous: totals(answer.Aggregations.Totals.Buckets["previous"]),
		terms:    make([]struct{ current, previous windowCounts }, len(terms)),
	}
	buckets := answer.Aggregations.Terms.Buckets
	if p < 1 {
		buckets = answer.Aggregations.Terms.Terms.Buckets
	}
	for i := range terms {
		w := buckets[strconv.Itoa(i)].Windows.Buckets
		res.terms[i].current, res.terms[i].previous = counts(w["current"]), counts(w["previous"])
	}
	return res, time.Duration(answer.Took) * time.Millisecond, nil
}
