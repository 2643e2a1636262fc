# shellcheck shell=bash
# The system's own processes for `make run`: the three functions, the local KafkaSource runner and
# the producer, built from this checkout and started with pid files beside the stack's.
# Sourced by run.sh and down.sh after lib.sh.

APPS_DIR=$STACK_DIR/apps
SCORE_PORT=${SCORE_PORT:-8081}
INDEX_PORT=${INDEX_PORT:-8082}
DASHBOARD_PORT=${DASHBOARD_PORT:-8080}
RUNNER_METRICS_PORT=${RUNNER_METRICS_PORT:-9464}
WATCH_PORT=${WATCH_PORT:-8083}
# Not 9090: installing Debian's prometheus package starts its own service there where systemd runs.
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9091}
PRODUCER_RATE=${PRODUCER_RATE:-20}
# The mood drifts between positive and negative over ten minutes, so the dashboard shows trends.
PRODUCER_MOOD=${PRODUCER_MOOD:-sine:10m}
# Stop order: the producer first, then delivery, then the functions.
APPS=(prometheus watch producer runner dashboard index score)

# apps_build builds each binary in turn, saying which and how long it took, with a line every 15 s
# while one builds: a first build on a fresh machine compiles every dependency and takes minutes.
apps_build() {
	local bins=(score index dashboard runner producer watch) n=0 start ticker rc
	mkdir -p "$STACK_DIR/bin"
	for b in "${bins[@]}"; do
		n=$((n + 1))
		start=$SECONDS
		log "building $b ($n/${#bins[@]}) into $STACK_DIR/bin"
		(while sleep 15; do log "  still building $b: $((SECONDS - start)) s"; done) &
		ticker=$!
		rc=0
		(cd "$REPO_DIR" && go build -o "$STACK_DIR/bin/" "./cmd/$b") || rc=$?
		kill "$ticker" 2>/dev/null
		wait "$ticker" 2>/dev/null || true # killed: its status is 143
		[ "$rc" -eq 0 ] || die "go build ./cmd/$b failed"
		log "  built $b in $((SECONDS - start)) s"
	done
}

# app_start NAME HEALTH_URL CMD...: starts CMD in its own session, logging to $APPS_DIR/NAME.log,
# and waits for HEALTH_URL (if any) to answer 200.
app_start() {
	local name=$1 health=$2 pidfile=$APPS_DIR/$1.pid logfile=$APPS_DIR/$1.log
	shift 2
	mkdir -p "$APPS_DIR"
	if pid_alive "$pidfile"; then
		log "$name: already running (pid $(cat "$pidfile"))"
		return 0
	fi
	setsid "$@" >>"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
	if [ -n "$health" ]; then
		wait_for "$name" 30 "$logfile" "$pidfile" "See $logfile." curl -fsS --max-time 1 "$health"
	fi
}

apps_start() {
	local bin=$STACK_DIR/bin
	apps_build
	export KAFKA_BROKERS DATABASE_URL ELASTICSEARCH_URL
	PORT=$SCORE_PORT app_start score "http://127.0.0.1:$SCORE_PORT/readyz" "$bin/score"
	PORT=$INDEX_PORT app_start index "http://127.0.0.1:$INDEX_PORT/readyz" "$bin/index"
	PORT=$DASHBOARD_PORT app_start dashboard "http://127.0.0.1:$DASHBOARD_PORT/healthz" "$bin/dashboard"
	app_start runner "" "$bin/runner" --brokers "$KAFKA_BROKERS" \
		--sink "score=http://127.0.0.1:$SCORE_PORT" --sink "index=http://127.0.0.1:$INDEX_PORT" \
		--metrics-addr "127.0.0.1:$RUNNER_METRICS_PORT" \
		"$REPO_DIR/infra/knative/kafkasource-score.yaml" "$REPO_DIR/infra/knative/kafkasource-index.yaml"
	app_start producer "" "$bin/producer" --brokers "$KAFKA_BROKERS" --rate "$PRODUCER_RATE" --mood "$PRODUCER_MOOD"
	# The mood-shift check, every minute by its own clock (a PingSource in a cluster); its events
	# go to the dashboard, which shows a banner while one is recent.
	PORT=$WATCH_PORT WATCH_EVERY=1m K_SINK="http://127.0.0.1:$DASHBOARD_PORT/api/events" \
		app_start watch "http://127.0.0.1:$WATCH_PORT/readyz" "$bin/watch"
	prometheus_start
}

# prometheus_start runs Debian's Prometheus (installed when missing) with infra/observability's
# scrape config and rules, pointed at this run's ports, its data under the stack's folder.
prometheus_start() {
	command -v prometheus >/dev/null || apt_install prometheus
	local dir=$STACK_DIR/prometheus obs=$REPO_DIR/infra/observability
	mkdir -p "$dir/data"
	sed -e "s/127.0.0.1:8081/127.0.0.1:$SCORE_PORT/" -e "s/127.0.0.1:8082/127.0.0.1:$INDEX_PORT/" \
		-e "s/127.0.0.1:8080/127.0.0.1:$DASHBOARD_PORT/" -e "s/127.0.0.1:9464/127.0.0.1:$RUNNER_METRICS_PORT/" -e "s/127.0.0.1:8083/127.0.0.1:$WATCH_PORT/" \
		-e "s|- rules.yml|- $obs/rules.yml|" "$obs/prometheus.yml" >"$dir/prometheus.yml"
	app_start prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" prometheus \
		--config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --storage.tsdb.retention.time=2d
}

apps_stop() {
	local name
	for name in "${APPS[@]}"; do
		[ -f "$APPS_DIR/$name.pid" ] && stop_pid "$name" "$APPS_DIR/$name.pid" 15
	done
	return 0
}
