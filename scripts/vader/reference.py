#!/usr/bin/env python3
"""Score a corpus with the reference VADER implementation (vaderSentiment 3.3.2).

Reads JSON Lines with a "text" field and writes JSON Lines with text, compound,
pos, neu and neg as polarity_scores returns them (already rounded to 4 and 3
decimals). internal/sentiment's parity test compares against that output.

    python3 -m venv .venv
    .venv/bin/pip install -r scripts/vader/requirements.txt
    .venv/bin/python scripts/vader/reference.py \
        internal/sentiment/testdata/corpus.txt internal/sentiment/testdata/reference.jsonl
"""

import argparse
import json
import sys
from importlib.metadata import version

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

WANT_VERSION = "3.3.2"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help="JSON Lines input, one {\"text\": ...} per line")
    parser.add_argument("out", help="JSON Lines output")
    args = parser.parse_args()

    got = version("vaderSentiment")
    if got != WANT_VERSION:
        sys.exit(f"vaderSentiment {got} installed, want {WANT_VERSION}")

    analyzer = SentimentIntensityAnalyzer()
    n = 0
    with open(args.corpus, encoding="utf-8") as src, \
            open(args.out, "w", encoding="utf-8", newline="\n") as dst:
        for lineno, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                text = json.loads(line)["text"]
            except (ValueError, KeyError, TypeError) as err:
                sys.exit(f"{args.corpus}:{lineno}: {err}")
            s = analyzer.polarity_scores(text)
            row = {"text": text, "compound": s["compound"],
                   "pos": s["pos"], "neu": s["neu"], "neg": s["neg"]}
            dst.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    print(f"wrote {n} scores to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
