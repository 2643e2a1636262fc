#!/usr/bin/env bash
# Installs (once, cached) and starts the local stack: Kafka, PostgreSQL and Elasticsearch.
# Idempotent: what already runs is left alone. Each start waits for real health, bounded.
#   infra/local/up.sh [kafka|postgres|elasticsearch]...   (default: all three)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/kafka.sh"
. "$LOCAL_DIR/postgres.sh"
. "$LOCAL_DIR/elasticsearch.sh"
. "$LOCAL_DIR/secure.sh"

services=("$@")
if [ ${#services[@]} -eq 0 ]; then
	services=(kafka postgres elasticsearch)
	# The secure stack uses the plain stack's Kafka (started here when it is not running).
	[ -n "$STACK_SECURE" ] && services=(postgres elasticsearch)
fi
start=$(date +%s)
mkdir -p "$STACK_DIR" "$SENTISTREAM_CACHE"
ensure_service_user
if [ -n "$STACK_SECURE" ]; then
	STACK_SECURE= STACK_DIR= PG_PORT= ES_PORT= "$LOCAL_DIR/up.sh" kafka
	secure_init
fi
for s in "${services[@]}"; do
	case $s in
	kafka) kafka_start && kafka_topics ;;
	postgres) pg_start ;;
	elasticsearch) es_start ;;
	*) die "unknown service $s (want kafka, postgres or elasticsearch)" ;;
	esac
done
log "stack up in $(($(date +%s) - start))s:"
if [ -n "$STACK_SECURE" ]; then
	secure_env_file
	cat >&2 <<MSG
  secure stack: TLS with the CA $SECURE_CERTS/ca.crt, secrets in $SECURE_SECRETS
  export these (or: . $STACK_DIR/secure.env):
$(grep -v '^#' "$STACK_DIR/secure.env" | sed 's/^/    /')
  KAFKA_BROKERS=$KAFKA_BROKERS (the plain stack's)
  data and logs: $STACK_DIR   (stop: make down, wipe: make clean)
MSG
	exit 0
fi
cat >&2 <<MSG
  KAFKA_BROKERS=$KAFKA_BROKERS
  DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/$PG_DATABASE?sslmode=disable
  ELASTICSEARCH_URL=$ES_URL
  data and logs: $STACK_DIR   (stop: make down, wipe: make clean)
MSG
