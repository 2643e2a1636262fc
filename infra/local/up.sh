#!/usr/bin/env bash
# Installs (once, cached) and starts the local stack: Kafka, PostgreSQL and Elasticsearch.
# Idempotent: what already runs is left alone. Each start waits for real health, bounded.
#   infra/local/up.sh [kafka|postgres|elasticsearch]...   (default: all three)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/kafka.sh"
. "$LOCAL_DIR/postgres.sh"
. "$LOCAL_DIR/elasticsearch.sh"

services=("$@")
[ ${#services[@]} -gt 0 ] || services=(kafka postgres elasticsearch)
start=$(date +%s)
mkdir -p "$STACK_DIR" "$SENTISTREAM_CACHE"
ensure_service_user
for s in "${services[@]}"; do
	case $s in
	kafka) kafka_start && kafka_topics ;;
	postgres) pg_start ;;
	elasticsearch) es_start ;;
	*) die "unknown service $s (want kafka, postgres or elasticsearch)" ;;
	esac
done
log "stack up in $(($(date +%s) - start))s:"
cat >&2 <<MSG
  KAFKA_BROKERS=$KAFKA_BROKERS
  DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/$PG_DATABASE?sslmode=disable
  ELASTICSEARCH_URL=$ES_URL
  data and logs: $STACK_DIR   (stop: make down, wipe: make clean)
MSG
