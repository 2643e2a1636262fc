#!/usr/bin/env bash
# Stops exactly what up.sh started, by the pids it recorded.
#   infra/local/down.sh [kafka|postgres|elasticsearch]...   (default: all three)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/kafka.sh"
. "$LOCAL_DIR/postgres.sh"
. "$LOCAL_DIR/elasticsearch.sh"
. "$LOCAL_DIR/apps.sh"

services=("$@")
if [ ${#services[@]} -eq 0 ]; then
	apps_stop
	services=(elasticsearch postgres kafka)
	# The secure stack, if one was started, lives inside the plain one's folder.
	if [ -z "$STACK_SECURE" ] && [ -d "$STACK_DIR/secure" ]; then
		STACK_SECURE=1 STACK_DIR="$STACK_DIR/secure" PG_PORT= ES_PORT= "$LOCAL_DIR/down.sh" elasticsearch postgres
	fi
	[ -n "$STACK_SECURE" ] && services=(elasticsearch postgres)
fi
for s in "${services[@]}"; do
	case $s in
	kafka) kafka_stop ;;
	postgres) pg_stop ;;
	elasticsearch) es_stop ;;
	*) die "unknown service $s (want kafka, postgres or elasticsearch)" ;;
	esac
done
