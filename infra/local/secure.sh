# shellcheck shell=bash
# The secure stack (`make up STACK_SECURE=1`): a local CA, a server certificate for 127.0.0.1 and
# localhost signed by it, and the passwords and API key the clients use, all under
# $STACK_DIR/secrets (mode 0600) and $STACK_DIR/certs. Elasticsearch runs with security on and
# HTTPS, the elastic superuser's password and a user sentistream with only the privileges the
# functions need; PostgreSQL with TLS and scram passwords for a non-superuser role that owns the database.
# Sourced by up.sh after lib.sh; the functions here are called by elasticsearch.sh and postgres.sh.

SECURE_CERTS=$STACK_DIR/certs
SECURE_SECRETS=$STACK_DIR/secrets
PG_ROLE=${PG_ROLE:-sentistream}

# secure_init makes the CA, the server certificate and the passwords, once.
secure_init() {
	mkdir -p "$SECURE_CERTS" "$SECURE_SECRETS"
	chmod 0755 "$SECURE_CERTS"
	chmod 0700 "$SECURE_SECRETS"
	if [ ! -s "$SECURE_CERTS/server.crt" ]; then
		log "secure: making a local CA and a server certificate for 127.0.0.1 and localhost in $SECURE_CERTS"
		openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=sentistream local CA" \
			-keyout "$SECURE_SECRETS/ca.key" -out "$SECURE_CERTS/ca.crt" 2>/dev/null || die "secure: openssl could not make the CA"
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
			-keyout "$SECURE_CERTS/server.key" -out "$SECURE_CERTS/server.csr" 2>/dev/null
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$SECURE_CERTS/server.ext"
		openssl x509 -req -in "$SECURE_CERTS/server.csr" -CA "$SECURE_CERTS/ca.crt" -CAkey "$SECURE_SECRETS/ca.key" \
			-CAcreateserial -days 825 -extfile "$SECURE_CERTS/server.ext" -out "$SECURE_CERTS/server.crt" 2>/dev/null ||
			die "secure: openssl could not sign the server certificate"
		rm -f "$SECURE_CERTS/server.csr" "$SECURE_CERTS/server.ext"
		chmod 0644 "$SECURE_CERTS"/*.crt
		chmod 0600 "$SECURE_CERTS/server.key"
	fi
	local f
	for f in es-password es-user-password pg-password; do
		[ -s "$SECURE_SECRETS/$f" ] || openssl rand -hex 16 >"$SECURE_SECRETS/$f"
	done
	chmod 0600 "$SECURE_SECRETS"/*
}

# secure_copy_key SRC DEST: a private key the service user alone can read.
secure_copy_key() {
	install -m 0600 "$1" "$2"
	[ "$(id -u)" = 0 ] && chown "$SERVICE_USER:$SERVICE_USER" "$2"
	return 0
}

# es_secure_config DIR prints the security part of elasticsearch.yml and lays the certificate and
# the keystore (bootstrap.password, the elastic user's first password) into DIR/config.
es_secure_config() {
	local dir=$1
	mkdir -p "$dir/config/certs"
	cp "$SECURE_CERTS/ca.crt" "$SECURE_CERTS/server.crt" "$dir/config/certs/"
	secure_copy_key "$SECURE_CERTS/server.key" "$dir/config/certs/server.key"
	[ "$(id -u)" = 0 ] && chown -R "$SERVICE_USER:$SERVICE_USER" "$dir/config"
	local ks=(env ES_PATH_CONF="$dir/config" ES_JAVA_HOME="${ES_JAVA_HOME:-$(java_home)}" "$ES_HOME/bin/elasticsearch-keystore")
	run_as_service_user "${ks[@]}" create >/dev/null
	run_as_service_user "${ks[@]}" add -x -f bootstrap.password <"$SECURE_SECRETS/es-password" >/dev/null ||
		die "elasticsearch: could not write bootstrap.password into the keystore"
	# The functions' user, in the file realm with a role of only what they need. (Not an API key:
	# API keys live in the .security index, whose mapping needs the analysis-common module that the
	# integ-test-zip lacks, so this node refuses to create one.)
	cat >"$dir/config/roles.yml" <<ROLES
sentistream_writer:
  cluster: [monitor, manage_index_templates]
  indices:
    - names: ["*"]
      privileges: [all]
ROLES
	[ "$(id -u)" = 0 ] && chown "$SERVICE_USER:$SERVICE_USER" "$dir/config/roles.yml"
	run_as_service_user env ES_PATH_CONF="$dir/config" ES_JAVA_HOME="${ES_JAVA_HOME:-$(java_home)}" \
		"$ES_HOME/bin/elasticsearch-users" useradd sentistream -p "$(cat "$SECURE_SECRETS/es-user-password")" \
		-r sentistream_writer >/dev/null || die "elasticsearch: could not add the user sentistream"
	cat <<YML
# Secure mode (STACK_SECURE=1): users and HTTPS with the local CA's certificate.
xpack.security.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.key: certs/server.key
xpack.security.http.ssl.certificate: certs/server.crt
xpack.security.http.ssl.certificate_authorities: [certs/ca.crt]
YML
}

# es_curl ARGS...: curl against the secure node as the elastic user.
es_curl() {
	curl -fsS --max-time 5 --cacert "$SECURE_CERTS/ca.crt" -u "elastic:$(cat "$SECURE_SECRETS/es-password")" "$@"
}

# pg_secure_setup DATA_DIR: TLS files and pg_hba.conf for a new cluster: the superuser only over
# the Unix socket, everyone else over TLS with a scram password.
pg_secure_setup() {
	local data=$1
	install -m 0644 "$SECURE_CERTS/server.crt" "$data/server.crt"
	install -m 0644 "$SECURE_CERTS/ca.crt" "$data/root.crt"
	secure_copy_key "$SECURE_CERTS/server.key" "$data/server.key"
	cat >"$data/pg_hba.conf" <<HBA
# Written by infra/local/secure.sh (STACK_SECURE=1).
local   all  all                  trust
hostssl all  all  127.0.0.1/32    scram-sha-256
hostssl all  all  ::1/128         scram-sha-256
HBA
	[ "$(id -u)" = 0 ] && chown "$SERVICE_USER:$SERVICE_USER" "$data/pg_hba.conf" "$data/server.crt" "$data/root.crt"
	return 0
}

# pg_secure_role makes the role that owns the database, with its scram password.
pg_secure_role() {
	local pw
	pw=$(cat "$SECURE_SECRETS/pg-password")
	pg_psql -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET password_encryption = 'scram-sha-256';
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN CREATE ROLE $PG_ROLE LOGIN; END IF;
END \$\$;
ALTER ROLE $PG_ROLE PASSWORD '$pw';
ALTER DATABASE $PG_DATABASE OWNER TO $PG_ROLE;
SQL
}

# secure_env_file writes $STACK_DIR/secure.env: the variables a function (or a test) needs to use
# the secure stack, with every secret in a file.
secure_env_file() {
	local url="postgres://$PG_ROLE:$(cat "$SECURE_SECRETS/pg-password")@$PG_HOST:$PG_PORT/$PG_DATABASE?sslmode=verify-full&sslrootcert=$SECURE_CERTS/ca.crt"
	printf '%s\n' "$url" >"$SECURE_SECRETS/database-url"
	chmod 0600 "$SECURE_SECRETS/database-url"
	cat >"$STACK_DIR/secure.env" <<ENV
# Written by infra/local/up.sh (STACK_SECURE=1): source it, or export these by hand.
export DATABASE_URL_FILE=$SECURE_SECRETS/database-url
export ELASTICSEARCH_URL=$ES_URL
export ELASTICSEARCH_CA_FILE=$SECURE_CERTS/ca.crt
export ELASTICSEARCH_USERNAME=sentistream
export ELASTICSEARCH_PASSWORD_FILE=$SECURE_SECRETS/es-user-password
# the superuser, for curl: elastic, password in $SECURE_SECRETS/es-password
ENV
}
