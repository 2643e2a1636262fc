// Package kafkasource is the local stand-in for Knative's KafkaSource: driven by the same
// KafkaSource manifests (sources.knative.dev/v1) that a cluster applies, it consumes their topics
// and POSTs each record to a local URL as the CloudEvent that eventing-kafka-broker's dispatcher
// (knative-v1.23) would send, so that what passes on one machine holds in a cluster.
//
// What it does as KafkaSource does:
//
//   - One franz-go consumer per source, in spec.consumerGroup, starting at spec.initialOffset
//     (earliest or latest; latest when unset) when the group has no committed offset.
//   - A record that is a CloudEvent in Kafka binary mode (ce_specversion, ce_id, ce_source,
//     ce_type headers; content-type) or structured mode (content-type
//     application/cloudevents+json) is forwarded as that event; anything else, an invalid
//     CloudEvent included, is wrapped: id partition:<p>/offset:<o>, source
//     /apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>, subject partition:<p>#<o>, type
//     dev.knative.kafka.event, time the record timestamp, datacontenttype the record's
//     content-type header lower-cased, data the raw value, extensions key and partitionkey (the
//     record key as a string) and kafkaheader<name> per other header (name lower-cased, only
//     [a-z0-9] kept). Every event also gets knativekafkapartition and knativekafkaoffset, and the
//     spec.ceOverrides extensions.
//   - One event per POST, binary mode, with Prefer: reply and Kn-Namespace. The response body
//     is read and ignored.
//   - Success is a status below 300. 5xx, 404, 408, 409, 429 and transport errors (a timed-out
//     attempt included) are retried; Retry-After is ignored. Retry n waits delay×2^n
//     (exponential) or delay×n (linear). Without spec.delivery: 10 retries, exponential, 0.3s,
//     600s per attempt. With it, only what it sets: no retry means no retries, retry without
//     backoffDelay waits from 200ms, no timeout means 600s.
//   - Any other status, and the last retryable failure, go to the dead-letter sink with the
//     extensions knativeerrordest (the sink URL), and when there was a response,
//     knativeerrorcode and knativeerrordata (base64 of the first 1024 bytes of the body).
//     Response headers prefixed Kne- are not turned into extensions (see below).
//   - ordering ordered (the default) delivers one event per partition at a time and waits for
//     its final outcome; unordered keeps up to 50 in flight per source.
//   - Offsets are committed in order, every 5s, and only up to the first record whose outcome
//     (delivered or dead-lettered) is not final. A killed runner redelivers what it had not
//     committed; the functions' idempotency keys absorb the duplicates.
//
// # Deviations from KafkaSource
//
//   - The brokers come from [Config].Brokers, never from spec.bootstrapServers (a cluster
//     address). spec.net (TLS, SASL) is ignored: the local Kafka is plaintext.
//   - Sinks are local URLs mapped by the sink ref's name ([Config].Sinks); nothing is resolved
//     through Kubernetes. A sink uri next to a ref is resolved against the mapped URL.
//   - The dead-letter sink is not posted to: whatever spec.delivery.deadLetterSink names, the
//     runner itself produces the event, in Kafka binary mode as a KafkaSink writes it (record key
//     from partitionkey), to the topic of the KafkaSink it names when that manifest was loaded
//     ([Config].KafkaSinks), else to [Config].DeadLetterTopic (sentence-dlq).
//   - If writing a dead letter fails, KafkaSource commits the offset and the event is lost; the
//     runner keeps retrying (franz-go's producer retries) until it succeeds or the partition is
//     revoked or the runner stops, and then does not commit: the record is redelivered.
//   - Without a dead-letter sink a failed event is dropped and committed, as KafkaSource does,
//     with a log line and the dropped outcome counted.
//   - Response headers prefixed Kne- are not copied into dead-letter extensions.
//   - An event whose attribute values contain control characters (only possible from Kafka
//     header or key bytes) cannot be sent as HTTP headers: it is dead-lettered at once with no
//     code. KafkaSource's Vert.x client would fail the request and retry it.
//   - A forwarded binary event is forwarded header for header: attribute values are not
//     reformatted (Java's SDK re-serialises time); binary records are validated lightly
//     (specversion 1.0 or 0.3, id, source and type present, time RFC 3339, extension names
//     [a-z0-9]).
//   - Only string record keys (KafkaSource's default key type): the key-type annotation
//     (int, float, byte-array) is not read; invalid UTF-8 becomes U+FFFD, as Java's decoder does.
//   - No OIDC, no TLS to sinks, no KEDA scaling, no
//     status, no reply events (the response body is ignored), no tracing headers. The consumer
//     group default, when spec.consumerGroup is unset, is kafkasource-<ns>-<name>, not the UID.
//   - An http:// sink is posted to with a minimal HTTP/1.1 client of the runner's own (one
//     request per keep-alive connection at a time, no HTTP/2, no proxies), for speed; https://
//     sinks, and any sink when [Config].HTTPClient is set, go through net/http.
//   - The consumer's session timeout is 10s with a 1s heartbeat (Kafka's consumer default is 45s),
//     so the partitions of a crashed runner move to a restarted one within seconds.
//   - spec.consumers runs that many group members in this one process (KafkaSource spreads them
//     over its dispatcher pods); the in-flight bound ([Config].MaxInFlight) applies to each.
//
// # Reading back
//
// For the read side (the dashboard, cmd/replay): [ReadDeadLetter] is the one decoder of a
// dead-letter record (identity, knativeerror* extensions, [DeadLetter.Message] for people);
// [ReadDeadLetters] reads a whole dead-letter topic and [DeadLetterReader] ranges of one, outside
// any consumer group; [ReadLag] reads the lag of KafkaSources' consumer groups and [ListOffsets]
// a topic's offsets, through the small [Admin] interface a *kadm.Client satisfies.
//
// # Shutdown
//
// When the ctx given to [Runner.Run] ends, the runner stops fetching, cancels in-flight
// deliveries (they are abandoned, not committed), commits the offsets that are final, and leaves
// its consumer groups. A revoked partition is handled the same way.
//
// # Metrics
//
// [NewMetrics] registers, with source the KafkaSource name:
//
//   - sentistream_kafkasource_lag_records{source,topic,partition}: high watermark minus the next
//     offset whose outcome is not final, updated every second.
//   - sentistream_kafkasource_in_flight_events{source}: events being delivered, retry waits
//     included.
//   - sentistream_kafkasource_events_total{source,outcome}: final outcomes, outcome one of
//     delivered, dead_lettered, dropped.
//   - sentistream_kafkasource_retries_total{source}: attempts after the first.
//   - sentistream_kafkasource_dead_letters_total{source}: events written to the dead-letter topic.
//   - sentistream_kafkasource_delivery_duration_seconds{source}: histogram of delivery time of
//     delivered events, retries included.
//
// Each dead letter is also logged (Warn, "dead letter") with topic, partition, offset, event_id,
// event_source, code, attempts and the transport error when there was one.
package kafkasource
