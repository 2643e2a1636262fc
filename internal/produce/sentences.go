// Package produce generates and writes the sentences the system scores: reviews and chat about a
// fictional product (the Zephyr Buds earbuds and their ZephyrSync app), positive, negative and
// neutral, with slang, emoji, negations and caps, in a mood that can drift over time, encoded as
// any of the record forms a KafkaSource sees (a CloudEvent in Kafka binary or structured mode,
// the seed's plain JSON) and, on request, malformed ones.
//
// [Generator] makes sentences from templates; [ParseMood] reads a mood schedule; [Encoder] turns a
// sentence into a [kgo.Record]; [Run] produces at a rate and reports progress.
package produce

import (
	"math/rand/v2"
	"strings"
)

// Label is the sentiment a sentence was written to carry.
type Label int

// The labels, in the order of [Mix] weights.
const (
	Positive Label = iota
	Negative
	Neutral
)

func (l Label) String() string {
	switch l {
	case Positive:
		return "positive"
	case Negative:
		return "negative"
	default:
		return "neutral"
	}
}

// The slot words. Templates name a slot as {name}.
var slots = map[string][]string{
	"product": {"Zephyr Buds", "the Zephyr Buds", "my Zephyr Buds", "Zephyr Buds Pro", "the ZephyrSync app", "these buds", "the new firmware"},
	"feature": {"battery life", "ANC", "sound quality", "bass", "ear tips", "charging case", "pairing", "mic", "touch controls", "app", "transparency mode", "customer service", "price", "firmware update", "Bluetooth range"},
	"pos":     {"great", "amazing", "awesome", "excellent", "fantastic", "solid", "brilliant", "superb", "perfect", "impressive", "lovely", "good"},
	"neg":     {"terrible", "awful", "horrible", "bad", "useless", "disappointing", "broken", "annoying", "weak", "poor", "frustrating"},
	"intens":  {"really", "so", "extremely", "incredibly", "totally", "absolutely", "kinda"},
	"epos":    {"😍", "🔥", "🙌", "😊", "👍", "💯", "🎧✨", ":)", ":D", "❤️"},
	"eneg":    {"😡", "😤", "👎", "🤬", "😞", "💀", ":(", "😒", "🙄", ":-("},
	"slangp":  {"lowkey obsessed", "fr fr", "absolute banger", "slaps", "chef's kiss", "10/10", "goated", "a W"},
	"slangn":  {"straight trash", "big yikes", "such a scam", "dead on arrival", "a waste of money", "so mid"},
	"time":    {"after a week", "after a month", "on day one", "since the update", "on my commute", "at the gym", "on a long flight", "this morning"},
	"who":     {"my sister", "my neighbour", "my coworker", "the store clerk", "my kid", "my roommate"},
	"number":  {"2", "3", "5", "6", "8", "10", "12"},
}

// What people complain about and what they praise: a {feature} of a negative sentence is one of
// the first list two times in three, of a positive sentence one of the second, so the dashboard's
// drivers name product aspects (the battery and the pairing for the unhappy, the ANC and the
// sound for the happy), and the negative drivers weigh more as the mood swings negative.
var complaints = []string{"battery life", "pairing", "charging case", "customer service"}
var praise = []string{"ANC", "sound quality", "bass", "transparency mode"}

// Templates per label. Each is written to carry its label for a lexicon scorer such as VADER:
// negations flip, "but" shifts weight to the second clause, caps and "!" intensify.
var templates = [3][]string{
	Positive: {
		"The {feature} on {product} is {intens} {pos}!",
		"{product} {slangp}, {intens} {pos} {epos}",
		"Honestly the {feature} is {pos} {time} {epos}",
		"I love {product}, the {feature} is {pos}.",
		"{product} is not bad at all, the {feature} is actually {pos}.",
		"Wasn't expecting much but the {feature} is {intens} {pos} {epos}",
		"{feature} = {slangp}, {pos} stuff 🙌",
		"Best earbuds I have owned. {pos} {feature}, {pos} {feature}.",
		"Just got {product} and WOW, the {feature} is {pos}!!!",
		"Can't stop smiling, {product} is {intens} {pos} {epos}{epos}",
		"{who} tried {product} and now wants a pair, the {feature} is that {pos}",
		"Support fixed my issue in {number} minutes, {pos} service!",
		"Never had a problem with the {feature}, {intens} happy with it.",
		"The {feature} is {pos}, thank you Zephyr team! {epos}",
		"{product} {time}: still {pos}, still love them.",
		"Five stars. The {feature} is {intens} {pos} and the {feature} is {pos} too.",
	},
	Negative: {
		"The {feature} on {product} is {intens} {neg}.",
		"{product} is {slangn}, {intens} {neg} {eneg}",
		"{time} the {feature} is already {neg} {eneg}",
		"I hate how {neg} the {feature} is.",
		"The {feature} is not {pos} at all, pretty {neg} actually.",
		"Looked nice but the {feature} is {intens} {neg} {eneg}",
		"{feature} = {slangn}, just {neg}",
		"Worst purchase this year. {neg} {feature}, {neg} {feature}.",
		"The {feature} is {neg} and nobody ever answered!!!",
		"Returned {product}, the {feature} was {intens} {neg} {eneg}{eneg}",
		"{who} warned me, the {feature} is {neg}.",
		"Waited {number} days for a reply, {neg} service.",
		"The {feature} keeps failing, {intens} disappointed.",
		"The {feature} is {neg}, fix it Zephyr {eneg}",
		"{product} {time}: {neg}, I want my money back.",
		"One star. The {feature} is {intens} {neg} and the {feature} is {neg} too.",
		"The {feature} was good at first but now it is {intens} {neg}.",
		"DO NOT BUY {product}, the {feature} is {neg}!!",
	},
	Neutral: {
		"Ordered {product} {time}, arriving Thursday.",
		"Does the {feature} on {product} work with Android?",
		"How long does the {feature} take to update?",
		"{product} comes in black, white and sage.",
		"Is the {feature} different on the Pro model?",
		"Anyone know if {product} has a {feature} setting?",
		"The {feature} has {number} modes according to the manual.",
		"Switching the {feature} off saves about {number} percent battery.",
		"{who} asked me which size of ear tips to use.",
		"Where do I find the {feature} option in the app?",
		"Firmware {number}.1 changes the {feature} menu.",
		"Picked up {product} at the store {time}.",
		"Comparing {product} with my old pair {time}: the {feature} and the {feature} are about the same.",
		"Charging {product} takes {number}0 minutes.",
		"Got {product} for {who}, they use the {feature} {time}.",
		"Question: can you adjust the {feature} and the {feature} separately?",
		"{who} uses the {feature} on {product} {time}.",
	},
}

// template is a parsed template: literal text and slot word lists in turn.
type template struct {
	lits    []string   // len(words)+1 literals around the slots
	words   [][]string // the word list of each slot
	feature []bool     // whether each slot is {feature}
}

func parseTemplate(s string) template {
	var t template
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.lits = append(t.lits, s)
			return t
		}
		j := strings.IndexByte(s[i:], '}')
		words, ok := slots[s[i+1:i+j]]
		if !ok {
			panic("produce: template " + s + " names an unknown slot") // a bug in the tables above
		}
		t.lits = append(t.lits, s[:i])
		t.words = append(t.words, words)
		t.feature = append(t.feature, s[i+1:i+j] == "feature")
		s = s[i+j+1:]
	}
}

var parsed = func() (out [3][]template) {
	for l, ts := range templates {
		for _, s := range ts {
			out[l] = append(out[l], parseTemplate(s))
		}
	}
	return out
}()

// Generator makes sentences. It is not safe for concurrent use; give each goroutine its own.
type Generator struct {
	rnd *rand.Rand
	buf []byte
}

// NewGenerator returns a Generator seeded with seed, so a seed gives the same sentences.
func NewGenerator(seed uint64) *Generator {
	return &Generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), buf: make([]byte, 0, 256)}
}

// Sentence appends a sentence carrying label l to dst and returns it. About one sentence in
// twelve is shouted in caps; the caps keep the label (VADER reads caps as emphasis).
func (g *Generator) Sentence(dst []byte, l Label) []byte {
	ts := parsed[l]
	start := len(dst)
	dst = g.fill(dst, ts[g.rnd.IntN(len(ts))], l)
	if l != Neutral && g.rnd.IntN(12) == 0 {
		upper(dst[start:])
	}
	return dst
}

// fill appends template t with random slot words, the features of a label's sentence biased to
// what that label's writers talk about.
func (g *Generator) fill(dst []byte, t template, l Label) []byte {
	for i, w := range t.words {
		dst = append(dst, t.lits[i]...)
		if t.feature[i] && l != Neutral && g.rnd.IntN(3) < 2 {
			w = praise
			if l == Negative {
				w = complaints
			}
		}
		dst = append(dst, w[g.rnd.IntN(len(w))]...)
	}
	return append(dst, t.lits[len(t.lits)-1]...)
}

// Pick draws a label from weights (positive, negative, neutral).
func (g *Generator) Pick(w Mix) Label {
	x := g.rnd.Float64() * (w[0] + w[1] + w[2])
	switch {
	case x < w[0]:
		return Positive
	case x < w[0]+w[1]:
		return Negative
	default:
		return Neutral
	}
}

// upper upper-cases ASCII letters in place.
func upper(b []byte) {
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
}
