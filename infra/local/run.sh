#!/usr/bin/env bash
# `make run`: with the stack up (make's `up` ran first), builds and starts the three functions,
# the KafkaSource runner for both sources and a gentle producer, prints where everything is,
# then waits: Ctrl-C (or `make down` from another shell) stops everything it started.
# RUN_DETACH=1 returns once everything is up instead of waiting.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/apps.sh"

KAFKA_BROKERS=${KAFKA_BROKERS:-$KAFKA_HOST:$KAFKA_PORT}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/$PG_DATABASE?sslmode=disable}
ELASTICSEARCH_URL=${ELASTICSEARCH_URL:-http://$ES_HOST:$ES_PORT}

apps_start
cat <<MSG

sentistream is running:
  dashboard      http://127.0.0.1:$DASHBOARD_PORT
  score          http://127.0.0.1:$SCORE_PORT   (POST events; /metrics)
  index          http://127.0.0.1:$INDEX_PORT   (POST events; /metrics)
  runner         metrics on http://127.0.0.1:$RUNNER_METRICS_PORT/metrics
  watch          http://127.0.0.1:$WATCH_PORT   (mood-shift check every minute; events to the dashboard)
  Prometheus     http://127.0.0.1:$PROMETHEUS_PORT   (alerts: /alerts; rules in infra/observability)
  producer       $PRODUCER_RATE events/s to topic sentence (PRODUCER_RATE)
  Kafka          $KAFKA_BROKERS   (topics: sentence, sentence-dlq)
  PostgreSQL     $DATABASE_URL
  Elasticsearch  $ELASTICSEARCH_URL
  logs           $STACK_DIR/apps/*.log, $STACK_DIR/{kafka,postgres,elasticsearch}/log
MSG
[ -n "${RUN_DETACH:-}" ] && {
	echo "Stop with: make down"
	exit 0
}
echo "Press Ctrl-C to stop everything (or run: make down)."
stop_all() {
	trap - INT TERM
	echo
	"$LOCAL_DIR/down.sh"
	exit 0
}
trap stop_all INT TERM
while true; do
	for name in "${APPS[@]}"; do
		if ! pid_alive "$APPS_DIR/$name.pid"; then
			log "$name exited; last lines of $APPS_DIR/$name.log:"
			tail -n 20 "$APPS_DIR/$name.log" >&2
			stop_all
		fi
	done
	sleep 2
done
