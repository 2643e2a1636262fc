# shellcheck shell=bash
# PostgreSQL from Debian's packages, as a throwaway cluster (initdb) under $STACK_DIR, not the
# system's service. It trusts connections from loopback only: fine for a laptop, never for a server.
# Sourced by up.sh and down.sh after lib.sh.

PG_LINK=$STACK_DIR/postgres

pg_bindir() {
	local dir
	dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	[ -n "$dir" ] && [ -x "$dir/postgres" ] && echo "$dir"
}

pg_install() {
	pg_bindir >/dev/null && return 0
	[ "$(id -u)" = 0 ] || die "postgres: PostgreSQL is not installed; run: sudo apt-get install postgresql"
	log "postgres: installing Debian's postgresql package"
	apt_install postgresql
	pg_bindir >/dev/null || die "postgres: installed, but no server binaries under /usr/lib/postgresql"
	# Debian's package starts a system cluster on 5432; we run our own, so stop theirs.
	if command -v pg_ctlcluster >/dev/null; then
		pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
			pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
		done
	fi
}

# pg_psql ARGS...: psql as the superuser: over loopback, or over the Unix socket on the secure
# stack, whose superuser has no password and may not log in over TCP.
pg_psql() {
	local host=$PG_HOST
	[ -n "$STACK_SECURE" ] && host=$(readlink -f "$PG_LINK")/socket
	"$(pg_bindir)/psql" -X -q -h "$host" -p "$PG_PORT" -U postgres "$@"
}

pg_start() {
	local dir bindir
	dir=$(service_dir postgres)
	local pidfile=$dir/postgres.pid logfile=$dir/log/postgres.log
	if pid_alive "$pidfile"; then
		log "postgres: already running (pid $(cat "$pidfile")) on $PG_HOST:$PG_PORT"
		return 0
	fi
	port_busy "$PG_PORT" && die "postgres: port $PG_PORT is taken by a process we did not start (the system's PostgreSQL? stop it with 'pg_ctlcluster 15 main stop') or set PG_PORT"
	pg_install
	bindir=$(pg_bindir)
	run_as_service_user mkdir -p "$dir/log" "$dir/socket"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		log "postgres: creating a throwaway cluster in $dir/data (initdb, once)"
		run_as_service_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
			>"$dir/log/initdb.log" 2>&1 || fail_with_log postgres "$dir/log/initdb.log" "initdb failed"
		[ -n "$STACK_SECURE" ] && pg_secure_setup "$dir/data"
	fi
	local tls=()
	[ -n "$STACK_SECURE" ] && tls=(-c ssl=on -c ssl_ca_file=root.crt -c password_encryption=scram-sha-256)
	log "postgres: starting $("$bindir/postgres" --version | awk '{print $3}') on $PG_HOST:$PG_PORT (log: $logfile)"
	setsid "${AS_SERVICE_USER[@]}" "$bindir/postgres" -D "$dir/data" \
		-c listen_addresses="$PG_HOST" -p "$PG_PORT" -c unix_socket_directories="$dir/socket" \
		-c max_connections=200 -c shared_buffers=256MB -c logging_collector=off "${tls[@]}" \
		>>"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
	wait_for postgres "$PG_START_TIMEOUT" "$logfile" "$pidfile" \
		"Check that port $PG_PORT is free and $dir is writable by $SERVICE_USER." \
		pg_psql -d postgres -c 'SELECT 1'
	if [ -z "$(pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" ]; then
		pg_psql -d postgres -c "CREATE DATABASE $PG_DATABASE"
		log "postgres: created database $PG_DATABASE"
	fi
	if [ -n "$STACK_SECURE" ]; then pg_secure_role; fi
}

pg_stop() {
	local dir=$PG_LINK
	[ -e "$dir" ] || {
		log "postgres: not running"
		return 0
	}
	# SIGINT is PostgreSQL's fast shutdown: it ends open sessions instead of waiting for them
	# (SIGTERM's smart shutdown can wait as long as any client stays connected).
	stop_pid postgres "$dir/postgres.pid" 60 INT
}
