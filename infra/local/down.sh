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
fi
for s in "${services[@]}"; do
	case $s in
	kafka) kafka_stop ;;
	postgres) pg_stop ;;
	elasticsearch) es_stop ;;
	*) die "unknown service $s (want kafka, postgres or elasticsearch)" ;;
	esac
done
