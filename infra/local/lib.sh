# shellcheck shell=bash
# Shared settings and helpers for the local stack scripts (sourced, never run).
#
# Layout
#   $STACK_DIR  (default <repo>/.stack, git-ignored): data, logs and pid files
#     kafka/{data,log,server.properties,kafka.pid}
#     postgres/{data,log,postgres.pid}
#     elasticsearch/{data,log,config,elasticsearch.pid}
#   $SENTISTREAM_CACHE (default /var/cache/sentistream as root, else ~/.cache/sentistream):
#     downloads (Maven repository, Kafka jars, Elasticsearch distribution); kept by `make clean`.

set -euo pipefail

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LOCAL_DIR/../.." && pwd)
# shellcheck source=versions.env
. "$LOCAL_DIR/versions.env"

# STACK_SECURE=1 selects the secure stack (secure.sh): Elasticsearch with users and HTTPS,
# PostgreSQL with TLS and scram, beside the plain one, in a folder and on ports of its own.
STACK_SECURE=${STACK_SECURE:-}
[ "$STACK_SECURE" = 0 ] && STACK_SECURE=
if [ -n "$STACK_SECURE" ]; then
	STACK_SECURE=1
	STACK_DIR=${STACK_DIR:-$REPO_DIR/.stack/secure}
	PG_PORT=${PG_PORT:-5433}
	ES_PORT=${ES_PORT:-9201}
fi
STACK_DIR=${STACK_DIR:-$REPO_DIR/.stack}
if [ "$(id -u)" = 0 ]; then
	SENTISTREAM_CACHE=${SENTISTREAM_CACHE:-/var/cache/sentistream}
else
	SENTISTREAM_CACHE=${SENTISTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sentistream}
fi
# Elasticsearch and PostgreSQL refuse to run as root: as root we run them as this user.
SERVICE_USER=${SENTISTREAM_SERVICE_USER:-sentistream}

KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-3}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_DATABASE=${PG_DATABASE:-sentistream}
ES_HOST=${ES_HOST:-127.0.0.1}
ES_PORT=${ES_PORT:-9200}
ES_HEAP=${ES_HEAP:-512m}

# Bounded health waits, in seconds.
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
PG_START_TIMEOUT=${PG_START_TIMEOUT:-60}
ES_START_TIMEOUT=${ES_START_TIMEOUT:-180}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# run_as_service_user CMD...: runs CMD as the unprivileged service user when we are root.
run_as_service_user() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$SERVICE_USER" -- "$@"
	else
		"$@"
	fi
}

# AS_SERVICE_USER is a command prefix that execs (no fork, so $! stays the server's pid) as the
# service user when we are root, and is empty otherwise.
AS_SERVICE_USER=()
if [ "$(id -u)" = 0 ]; then
	AS_SERVICE_USER=(setpriv "--reuid=$SERVICE_USER" "--regid=$SERVICE_USER" --init-groups)
fi

ensure_service_user() {
	[ "$(id -u)" = 0 ] || return 0
	if ! id "$SERVICE_USER" >/dev/null 2>&1; then
		log "creating system user $SERVICE_USER (Elasticsearch and PostgreSQL refuse to run as root)"
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
	fi
}

# service_dir NAME: prints the state folder of a service run as the service user, creating it.
# When the service user cannot reach $STACK_DIR (a checkout under /root, say), the state lives
# under /var/lib/sentistream and $STACK_DIR/NAME is a symlink to it, so everything stays
# reachable from one folder and `make clean` removes both.
service_dir() {
	local name=$1 dir=$STACK_DIR/$1
	mkdir -p "$STACK_DIR"
	if [ "$(id -u)" != 0 ]; then
		mkdir -p "$dir"
		echo "$dir"
		return
	fi
	if [ -L "$dir" ]; then
		readlink -f "$dir"
		return
	fi
	if [ ! -d "$dir" ] && ! runuser -u "$SERVICE_USER" -- test -x "$STACK_DIR"; then
		local alt
		alt=/var/lib/sentistream/$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-12)/$name
		mkdir -p "$alt"
		chown "$SERVICE_USER" "$alt"
		ln -s "$alt" "$dir"
		log "$name: $STACK_DIR is not reachable by user $SERVICE_USER; state kept in $alt (linked)"
		echo "$alt"
		return
	fi
	mkdir -p "$dir"
	chown "$SERVICE_USER" "$dir"
	echo "$dir"
}

# pid_alive PIDFILE: reports whether the process in PIDFILE is running.
pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1")
	kill -0 "$pid" 2>/dev/null
}

# stop_pid NAME PIDFILE [TIMEOUT] [SIGNAL]: SIGNAL (default TERM), wait, then SIGKILL; removes
# the pid file.
stop_pid() {
	local name=$1 pidfile=$2 timeout=${3:-30} sig=${4:-TERM} pid i
	if ! pid_alive "$pidfile"; then
		rm -f "$pidfile"
		log "$name: not running"
		return 0
	fi
	pid=$(cat "$pidfile")
	log "$name: stopping (pid $pid)"
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name: still running after ${timeout}s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	log "$name: stopped"
}

# wait_for NAME TIMEOUT LOGFILE PIDFILE HINT CHECK...: polls CHECK until it succeeds. On timeout,
# or when the process dies, prints the log's tail and HINT, and fails.
wait_for() {
	local name=$1 timeout=$2 logfile=$3 pidfile=$4 hint=$5 start now
	shift 5
	start=$(date +%s)
	while true; do
		if "$@" >/dev/null 2>&1; then
			log "$name: healthy after $(($(date +%s) - start))s"
			return 0
		fi
		now=$(date +%s)
		if ! pid_alive "$pidfile"; then
			fail_with_log "$name" "$logfile" "exited during start-up. $hint"
		fi
		if ((now - start >= timeout)); then
			fail_with_log "$name" "$logfile" "not healthy after ${timeout}s. $hint"
		fi
		if (((now - start) % 10 == 0)); then
			log "$name: waiting for health ($((now - start))s of ${timeout}s)"
		fi
		sleep 1
	done
}

fail_with_log() {
	local name=$1 logfile=$2 msg=$3
	log "$name: $msg"
	if [ -f "$logfile" ]; then
		log "$name: last lines of $logfile:"
		tail -n 30 "$logfile" >&2
	fi
	exit 1
}

# port_busy PORT: reports whether something listens on 127.0.0.1:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# mvn_cached ARGS...: runs Maven against the project's download cache, failing on any checksum
# mismatch (or a missing checksum) unless MVN_CHECKSUMS=-c asks only for warnings.
mvn_cached() {
	command -v mvn >/dev/null || apt_install maven
	mkdir -p "$SENTISTREAM_CACHE/m2"
	with_progress "$SENTISTREAM_CACHE/m2" mvn -B -Dstyle.color=never "${MVN_CHECKSUMS:--C}" --no-transfer-progress \
		-Dmaven.repo.local="$SENTISTREAM_CACHE/m2" "$@"
}

# with_progress DIR CMD...: runs CMD, printing every 5s how long it has run and how big DIR is.
with_progress() {
	local dir=$1 pid start rc=0
	shift
	start=$(date +%s)
	"$@" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if (($(date +%s) - start > 0 && ($(date +%s) - start) % 5 == 0)) && kill -0 "$pid" 2>/dev/null; then
			log "  ... $(($(date +%s) - start))s, $(du -sm "$dir" 2>/dev/null | cut -f1) MB downloaded so far"
		fi
	done
	wait "$pid" || rc=$?
	return "$rc"
}

# go_tool NAME: builds cmd/NAME once into the cache folder and prints its path.
go_tool() {
	local out=$STACK_DIR/bin/$1
	mkdir -p "$STACK_DIR/bin"
	(cd "$REPO_DIR" && go build -o "$out" "./cmd/$1") || die "building cmd/$1 failed"
	echo "$out"
}

# apt_install PACKAGE...: installs Debian packages, running apt-get update once per run.
apt_install() {
	[ "$(id -u)" = 0 ] || die "need root to install $*; run: sudo apt-get install $*"
	if [ -z "${APT_UPDATED:-}" ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
		die "apt-get install $* failed"
}
