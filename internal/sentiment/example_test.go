package sentiment_test

import (
	"fmt"

	"github.com/sentistream/sentistream/internal/sentiment"
)

func ExampleAnalyzer_Score() {
	a := sentiment.New() // once per process
	for _, text := range []string{
		"The headphones are great.",
		"The headphones are not great.",
		"The bus stop was clean and nice.",
	} {
		s := a.Score(text)
		fmt.Printf("%-33s %7.4f %.3f/%.3f/%.3f %s\n", text, s.Compound, s.Pos, s.Neu, s.Neg, sentiment.Label(s.Compound))
	}
	// Output:
	// The headphones are great.          0.6249 0.577/0.423/0.000 positive
	// The headphones are not great.     -0.5096 0.000/0.548/0.452 negative
	// The bus stop was clean and nice.   0.1531 0.280/0.500/0.220 positive
}
