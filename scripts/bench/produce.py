"""Produce the drain benchmark's backlog with librdkafka (confluent-kafka), a producer the
project does not own.

usage: produce.py --brokers LIST --topic T --count N SENTENCES_FILE

Each record is the seed's plain JSON, {"sentence": ..., "created_at": ...}, with created_at the
produce time in UTC without a zone (2025-04-14T08:00:00.123456), as the seed's own producer wrote
it; no key and no headers. Sentences are read one per line and reused in order if there are fewer
than N. Writes one JSON line to stdout (records, seconds, client versions) and exits 1 if any
record failed.
"""

import argparse
import datetime
import json
import sys
import time

import confluent_kafka


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("sentences")
    args = ap.parse_args()
    with open(args.sentences, encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f if line.strip()]
    if not sentences:
        sys.exit("produce.py: no sentences in " + args.sentences)

    p = confluent_kafka.Producer({
        "bootstrap.servers": args.brokers,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
    })
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err)

    start = time.monotonic()
    for i in range(args.count):
        created_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        value = json.dumps(
            {"sentence": sentences[i % len(sentences)], "created_at": created_at.isoformat(timespec="microseconds")},
            ensure_ascii=False, separators=(",", ":"),
        ).encode("utf-8")
        while True:
            try:
                p.produce(args.topic, value, on_delivery=on_delivery)
                break
            except BufferError:  # the local queue is full: serve delivery reports, then retry
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    seconds = time.monotonic() - start
    print(json.dumps({
        "records": args.count - len(failed) - left,
        "failed": len(failed) + left,
        "seconds": seconds,
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
    }), flush=True)
    if failed or left:
        sys.exit("produce.py: %d records failed (first: %s), %d not delivered" % (len(failed), failed[:1], left))


if __name__ == "__main__":
    main()
