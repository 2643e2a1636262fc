// Package event turns one HTTP request into the records the score and index functions
// store, each with the idempotency key that makes redelivery a no-op.
//
// A [Decoder] accepts every form a record reaches a function in:
//
//   - a CloudEvent in binary mode, as Knative's KafkaSource always sends: either a producer's
//     own CloudEvent forwarded as is, or a plain Kafka record wrapped by KafkaSource
//     (type dev.knative.kafka.event);
//   - a CloudEvent in structured mode (application/cloudevents+json) or a batch of them
//     (application/cloudevents-batch+json), from direct HTTP clients;
//   - the raw record value posted by OpenFaaS's kafka-connector, identified by its
//     X-Topic, X-Kafka-Partition and X-Kafka-Offset headers;
//   - a bare JSON POST (curl) with none of the above.
//
// CloudEvents are read through the CloudEvents SDK (sdk-go's HTTP message and
// [binding.ToEvent], then Validate). The event data, or the raw body, is the seed's JSON:
//
//	{"sentence": "This is great!", "created_at": "2025-04-14T08:00:00.123456"}
//
// Unknown fields are ignored. created_at may be RFC 3339 with or without fractional seconds,
// or "YYYY-MM-DDTHH:MM:SS[.f…]" or "YYYY-MM-DD HH:MM:SS[.f…]" with or without a zone; a time
// without a zone is UTC. When created_at is absent (or null) the CloudEvent time is used, and
// failing that the receipt time ([Config].Now). Data is decoded as JSON when its content type is
// absent, text/plain, application/json, text/json or any */*+json type; other types are refused.
// A raw body without CloudEvents headers whose JSON object has "specversion" and no "sentence"
// is a structured CloudEvent sent with the wrong Content-Type (a structured event stored in
// Kafka and posted by kafka-connector as text/plain) and is decoded as one.
//
// # Idempotency keys
//
// [Record].Key is the same for the same event in every function and on every delivery. It is
// at most 512 bytes (Elasticsearch's _id limit), valid UTF-8 and free of control characters:
//
//   - A Kafka record, whether wrapped by KafkaSource or posted by kafka-connector:
//
//     kafka:<topic>/<partition>/<offset>
//
//     with partition and offset in canonical decimal. From KafkaSource the topic is the part of
//     source after '#' and partition and offset come from id ("partition:<p>/offset:<o>"); the
//     KafkaSource name is never part of the key, so the score and index sources agree. From
//     kafka-connector they come from X-Topic, X-Kafka-Partition and X-Kafka-Offset. Both
//     delivery paths give the same key for the same record. The topic must be a legal Kafka
//     topic name ([a-zA-Z0-9._-], at most 249 characters), so the key splits unambiguously.
//
//   - Any other CloudEvent (a producer's event, forwarded by KafkaSource or posted directly):
//
//     ce:<escaped source>#<id>
//
//     where escaped source is the event source with '%' written as "%25" and '#' as "%23", so
//     the first '#' always separates source from id: ce:urn:sentistream:producer#42.
//
//   - A bare JSON POST:
//
//     sha256:<hex(SHA-256(created_at + "\n" + sentence))>
//
//     where created_at is the decoded time in UTC formatted with [time.RFC3339Nano]
//     ("2025-04-14T08:00:00.123456Z") and sentence is the decoded text as sent (not trimmed).
//     A bare POST without created_at takes the receipt time, so its retries are not deduplicated.
//
// # Provenance
//
// [Record].Provenance carries the CloudEvent id and source when there was an event, and the
// Kafka position when known: partition and offset from KafkaSource's knativekafkapartition and
// knativekafkaoffset extensions (on wrapped and forwarded events alike; for a wrapped event
// without them, from its id), or from kafka-connector's headers. The topic is known only for
// a wrapped event (from source) and for kafka-connector (X-Topic): a forwarded producer event
// does not name it. Unreadable extensions leave the position unknown rather than failing.
//
// # Errors
//
// Every rejection is an [*Error] whose Status is the answer to give (see ARCHITECTURE.md,
// "HTTP answers"), and errors.Is(err, [ErrMalformed]) holds for all of them:
//
//	400  body unreadable; data or body not JSON; invalid CloudEvent (fails Validate, or the
//	     SDK cannot read it); a KafkaSource-wrapped event whose id or source is not in
//	     KafkaSource's form; bad X-Kafka-* headers; id or source not usable as a key;
//	     sentence with invalid UTF-8, an unpaired surrogate escape or a NUL character
//	     (PostgreSQL text cannot hold NUL, so it would otherwise fail as a 500 forever);
//	     an empty batch, or a batch body that is not a JSON array
//	413  body over the http.MaxBytesReader limit; sentence over Config.MaxSentenceChars runes
//	415  Content-Type or datacontenttype that is not JSON-compatible (application/xml,
//	     application/octet-stream, …)
//	422  data is JSON but not an object; sentence missing, null, empty or whitespace-only, or
//	     not a string; created_at not a string, unparseable, or the zero time
//
// Reason and Field are safe to send to the client; they never contain message text.
package event
