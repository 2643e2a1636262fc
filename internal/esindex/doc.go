// Package esindex writes scored sentences to Elasticsearch and reads them back: the index
// template, group-committed bulk writes read item by item, a sorted scan for reconcile, the
// dashboard's full-text search ([Index.Search]), drivers ([Index.Drivers]) and count, and the index
// and alias operations reindex needs.
//
// # Index, template and alias
//
// An [Index] writes to one name, sentence_idx by default. That name may be a concrete index (what
// the first write creates through the template) or an alias to one concrete index (what
// `reindex --fresh` leaves: sentence_idx -> sentence_idx-<timestamp>); writes, counts and scans
// work on either. [Index.EnsureTemplate] installs, before the first write, the index template
// named after the index, whose patterns are the name itself and name-*; so an index the first
// write auto-creates and a fresh index built by reindex get the same settings and mapping.
// EnsureTemplate also adds the template's fields to the mapping of an index that already exists
// (new fields only; a field whose type changed needs `reindex --fresh`). Settings and analyzers
// of an existing index are never changed.
//
// Settings: one shard, refresh_interval [RefreshInterval] (500ms) set explicitly, so a
// search-idle index keeps refreshing on schedule. At 1,000 events/s into an index of 500,000
// documents, 500ms keeps the 99th percentile from produce to searchable under a second (1s gave
// 1.3 s) for about 6% more of one core in Elasticsearch. The sub-field sentence.english uses
// Elasticsearch's built-in english analyzer, which every distribution has (ECK, Elastic Cloud, a
// tarball): nothing is needed on the nodes. EnsureTemplate asks the node first (its module list);
// only on a build without the analysis-common module (the integ-test-zip the local stack runs:
// Maven Central publishes no 8.x analysis-common module) does the template define
// sentistream_english instead: standard tokenizer, lowercase and English stop words, without
// stemming. [Index.Analyzer] tells which was chosen; the functions log it once. The sub-field
// sentence.drivers, which [Index.Drivers] reads, uses sentistream_drivers, which the template
// defines on every build from core parts (standard tokenizer, lowercase, stop words, two-word
// shingles). An index created before the template had it cannot get it (its analysis settings
// are fixed), so EnsureTemplate adds the other new fields without it and Drivers reads sentence
// there, words only, until `reindex --fresh`.
//
// # Connections and failures no retry fixes
//
// [LoadClientConfig] reads the URL (http or https), a CA file, basic credentials or an API key.
// A failure that only a change of configuration can fix (certificate not trusted or not valid for
// the host, credentials refused, privileges missing, template refused) is returned wrapping an
// [env.MisconfigError] whose reason names the variable to change; readiness checks report it.
//
// # Document
//
// The document mirrors the PostgreSQL row of the same event, with the same field names as the
// table's columns, so that a row joins its document by key and reconcile compares like with like:
//
//	key            keyword   the idempotency key; also the document _id
//	sentence       text      standard analyzer; sentence.english uses english (see above);
//	                         sentence.drivers uses sentistream_drivers, indexed for counts only
//	created_at     date      RFC 3339 in UTC with microseconds (the _source keeps them; the
//	                         date field itself has millisecond precision)
//	sentiment      double    VADER compound, named as in the seed's table
//	pos, neu, neg  double    VADER ratios
//	label          keyword   positive, neutral or negative
//	scored_at      date      when the sentence was scored
//	topic          keyword   provenance, when known
//	kafka_partition integer
//	kafka_offset   long
//	event_id       keyword
//	event_source   keyword
//
// Dynamic mapping is strict: a document with a field the mapping lacks is refused
// (strict_dynamic_mapping_exception) rather than having the field dropped silently, so a code and
// mapping mismatch shows up as that event's 4xx and in the dead letters instead of as documents
// that quietly miss data. EnsureTemplate adding new fields to the live index keeps a deploy that
// adds a field from tripping over it.
//
// # Writes and errors
//
// [Index.Bulk] sends one _bulk request per batch with the action create and _id = key, and reads
// the response item by item. An item's outcome is:
//
//   - 2xx: success, nil; 409 version_conflict_engine_exception (the document already exists: a
//     redelivery): success, [ErrExists].
//   - 429, 5xx, es_rejected_execution_exception, cluster_block_exception, 401, 403, 404 and 408:
//     a transient [*Error] ([Transient] reports true), for that item only. The 4xx in this list
//     are the cluster's or the deployment's trouble (a read-only index, a missing alias,
//     credentials), not the event's, so they are retried rather than dead-lettered.
//   - any other 4xx (document_parsing_exception, mapper_parsing_exception,
//     strict_dynamic_mapping_exception, illegal_argument_exception, …): a permanent *Error
//     carrying ES's error type, the field it names and its reason. The event can never be
//     written as it is; the function answers 422.
//
// A failure of the whole request (no connection, a timeout of ctx, a non-2xx response) is a
// transient *Error for every item. [Index.Put] is the same with the action index, which
// overwrites: reindex and reconcile --fix use it, since PostgreSQL is the source of truth.
//
// Error texts ([Error.Error]) never include ES's reason, which can quote document content; the
// reason, shortened to drop ES's preview of the field's value, is in [Error.Reason].
package esindex
