// Package sink is the runtime both functions share: decode → score → batch → write → answer.
// A [Handler] decodes the request ([event.Decoder]), scores each sentence with VADER
// ([sentiment.Analyzer]), turns record and scores into the sink's item with its [Sink.Build], and
// submits the item to a group-committing [batch.Batcher] whose flush is the sink's [Writer]. It
// answers only once the write is durable. Score (PostgreSQL) and index (Elasticsearch) differ only
// in their Sink: what an item is and how a batch is written.
//
// # Answers
//
// A request holding one event (binary, structured, OpenFaaS or bare JSON):
//
//	204  stored, or stored before (a redelivery); empty body
//	400/413/415/422  the event is malformed (the decoder's [event.Error]), with {"error", "field"}
//	422  the store refused this item for good ([Refused]), with {"error", "field", ...}
//	429  the write queue is full (QUEUE_SIZE): this instance sheds load
//	503  the store is unreachable, overloaded or misconfigured ([Unavailable], a
//	     [env.MisconfigError]), the wait passed STORE_TIMEOUT, the client went away, or the
//	     function is shutting down; Retry-After: 1
//	500  anything else (a bug)
//
// A CloudEvents batch (application/cloudevents-batch+json, from direct clients; KafkaSource
// never sends one) is answered per event, even when it holds one, with
// {"results": [{"key", "status", "error", "field", ...}]} in the order of the batch, each event's
// status being the one it would get alone (200 for stored). The request's status is:
//
//   - a good event not stored for a retryable reason: the most urgent of 500, 503, 429, so that
//     the batch is retried (its stored events are then duplicates);
//   - otherwise, every event bad or refused: the first event's status;
//   - otherwise 200.
//
// # Metrics
//
// [NewMetrics] registers, each with the constant label function (score, index):
//
//   - sentistream_events_total{outcome}: events by [Outcome]; every outcome starts at 0.
//   - sentistream_store_write_duration_seconds: histogram of each batch write.
//   - sentistream_sentiment_compound: histogram of the compound scores of newly stored events.
//   - the batch series listed in [batch].
package sink
