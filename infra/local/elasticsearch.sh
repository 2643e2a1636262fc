# shellcheck shell=bash
# Elasticsearch 8.x, one node, from the integ-test-zip distribution on Maven Central, run as the
# unprivileged service user (Elasticsearch refuses root). Sourced by up.sh and down.sh after lib.sh.

ES_HOME=$SENTISTREAM_CACHE/elasticsearch-$ELASTICSEARCH_VERSION
ES_LINK=$STACK_DIR/elasticsearch
ES_URL=http://$ES_HOST:$ES_PORT
[ -n "$STACK_SECURE" ] && ES_URL=https://$ES_HOST:$ES_PORT

es_install() {
	[ -f "$ES_HOME/.complete" ] && return 0
	log "elasticsearch: resolving integ-test-zip $ELASTICSEARCH_VERSION from Maven Central (~100 MB)"
	# No checksum files are published for this artifact, so -C would refuse it: verify the pinned
	# SHA-512 from versions.env instead.
	MVN_CHECKSUMS=-c mvn_cached -q dependency:copy \
		-Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ELASTICSEARCH_VERSION:zip" \
		-DoutputDirectory="$SENTISTREAM_CACHE/downloads" >&2 ||
		die "elasticsearch: Maven could not resolve integ-test-zip $ELASTICSEARCH_VERSION (is Maven Central reachable?)"
	local zip=$SENTISTREAM_CACHE/downloads/elasticsearch-$ELASTICSEARCH_VERSION.zip
	if ! echo "$ELASTICSEARCH_ZIP_SHA512  $zip" | sha512sum -c --quiet - >&2; then
		rm -f "$zip"
		rm -rf "$SENTISTREAM_CACHE/m2/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ELASTICSEARCH_VERSION"
		die "elasticsearch: $zip does not match ELASTICSEARCH_ZIP_SHA512 in versions.env; removed it, run again"
	fi
	command -v unzip >/dev/null || apt_install unzip
	log "elasticsearch: unpacking into $ES_HOME"
	rm -rf "$ES_HOME" "$ES_HOME.tmp"
	mkdir -p "$ES_HOME.tmp"
	unzip -q "$zip" -d "$ES_HOME.tmp"
	mv "$ES_HOME.tmp/elasticsearch-$ELASTICSEARCH_VERSION" "$ES_HOME"
	rmdir "$ES_HOME.tmp"
	mkdir -p "$ES_HOME/plugins"
	chmod -R a+rX "$ES_HOME"
	touch "$ES_HOME/.complete"
}

es_configure() {
	local dir=$1
	run_as_service_user mkdir -p "$dir/data" "$dir/log" "$dir/tmp"
	# The distribution's own config (jvm.options, log4j2) plus ours, laid anew at each start; the
	# folder must be writable by the node, which creates its keystore there (nothing secret in it).
	rm -rf "$dir/config"
	mkdir -p "$dir/config"
	cp -r "$ES_HOME"/config/. "$dir/config/"
	# No dictionaries or other node-local files: the index template uses only what every node has.
	local security="# Local only, on loopback: no TLS, no users (the distribution would otherwise turn both on).
xpack.security.enabled: false"
	[ -n "$STACK_SECURE" ] && security=$(es_secure_config "$dir")
	cat >"$dir/config/elasticsearch.yml" <<EOF
# Written by infra/local/elasticsearch.sh; edit that file, not this one.
cluster.name: sentistream-local
node.name: local
path.data: $dir/data
path.logs: $dir/log
network.host: $ES_HOST
http.port: $ES_PORT
transport.port: $((ES_PORT + 100))
discovery.type: single-node
$security
# A laptop's disk is often fuller than the 85% watermark; do not make indices read-only for it.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
	[ "$(id -u)" = 0 ] && chown -R "$SERVICE_USER:$SERVICE_USER" "$dir/config"
	return 0
}

es_health() {
	local c=(curl -fsS --max-time 2)
	[ -n "$STACK_SECURE" ] && c=(es_curl)
	"${c[@]}" "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=1s" | grep -q '"status":"\(green\|yellow\)"'
}

es_start() {
	local dir
	dir=$(service_dir elasticsearch)
	local pidfile=$dir/elasticsearch.pid logfile=$dir/log/console.log
	if pid_alive "$pidfile"; then
		log "elasticsearch: already running (pid $(cat "$pidfile")) on $ES_URL"
		return 0
	fi
	port_busy "$ES_PORT" && die "elasticsearch: port $ES_PORT is taken by a process we did not start; stop it or set ES_PORT"
	es_install
	es_configure "$dir"
	log "elasticsearch: starting $ELASTICSEARCH_VERSION on $ES_URL, heap $ES_HEAP (log: $logfile)"
	ES_PATH_CONF=$dir/config ES_TMPDIR=$dir/tmp ES_JAVA_HOME=${ES_JAVA_HOME:-$(java_home)} \
		ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP ${ES_JAVA_OPTS:-}" \
		setsid "${AS_SERVICE_USER[@]}" "$ES_HOME/bin/elasticsearch" >>"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
	wait_for elasticsearch "$ES_START_TIMEOUT" "$logfile" "$pidfile" \
		"Check port $ES_PORT, the log under $dir/log, and that vm.max_map_count is not the cause." \
		es_health
}

# java_home prints the home of the java on PATH (Elasticsearch wants ES_JAVA_HOME).
java_home() {
	dirname "$(dirname "$(readlink -f "$(command -v java)")")"
}

es_stop() {
	[ -e "$ES_LINK" ] || {
		log "elasticsearch: not running"
		return 0
	}
	stop_pid elasticsearch "$ES_LINK/elasticsearch.pid" 60
}
