"""The seed's consumer logic, for the drain benchmark's ratio: kafka-python, VADER in Python,
one INSERT and one commit per row, into the seed's table.

usage: seed_consumer.py --brokers LIST --topic T --group G --dsn DSN --schema S --count N

It does what a simple seed consumer does (poll, json.loads, polarity_scores(...)['compound'],
INSERT, commit) and nothing more, into sentences(id serial, sentence text, sentiment float8,
created_at timestamp) in schema S, which the caller creates. After N rows it writes one JSON line
to stdout: rows, done_at (Unix time of the last commit) and cpu_seconds (this process's user and
system CPU, all threads, at that moment); then it closes the consumer and the connection.
"""

import argparse
import json
import os
import time

import psycopg2
from kafka import KafkaConsumer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--count", type=int, required=True)
    args = ap.parse_args()

    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.brokers.split(","),
        group_id=args.group,
        auto_offset_reset="earliest",
    )
    conn = psycopg2.connect(args.dsn, options="-c search_path=" + args.schema)
    cur = conn.cursor()
    analyzer = SentimentIntensityAnalyzer()

    rows = 0
    for message in consumer:
        data = json.loads(message.value)
        sentiment = analyzer.polarity_scores(data["sentence"])["compound"]
        cur.execute(
            "INSERT INTO sentences (sentence, sentiment, created_at) VALUES (%s, %s, %s)",
            (data["sentence"], sentiment, data["created_at"]),
        )
        conn.commit()
        rows += 1
        if rows >= args.count:
            break

    done_at = time.time()
    cpu = os.times()
    print(json.dumps({"rows": rows, "done_at": done_at, "cpu_seconds": cpu.user + cpu.system}), flush=True)
    consumer.close()
    conn.close()


if __name__ == "__main__":
    main()
