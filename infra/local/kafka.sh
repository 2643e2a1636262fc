# shellcheck shell=bash
# Apache Kafka, one KRaft node (broker and controller in one process), from the jars on Maven Central.
# Sourced by up.sh and down.sh after lib.sh.

KAFKA_LIBS=$SENTISTREAM_CACHE/kafka-$KAFKA_SCALA_VERSION-$KAFKA_VERSION/libs
KAFKA_DIR=$STACK_DIR/kafka
KAFKA_PID=$KAFKA_DIR/kafka.pid
KAFKA_LOG=$KAFKA_DIR/log/server.log
KAFKA_BROKERS=${KAFKA_BROKERS:-$KAFKA_HOST:$KAFKA_PORT}

kafka_install() {
	if [ -f "$KAFKA_LIBS/.complete" ]; then
		return 0
	fi
	log "kafka: resolving kafka_$KAFKA_SCALA_VERSION $KAFKA_VERSION and its runtime dependencies from Maven Central (checksums verified)"
	rm -rf "$KAFKA_LIBS"
	mvn_cached -q -f "$LOCAL_DIR/kafka-pom.xml" \
		-Dkafka.version="$KAFKA_VERSION" -Dkafka.scala.version="$KAFKA_SCALA_VERSION" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >&2 ||
		die "kafka: Maven could not resolve the Kafka jars (is Maven Central reachable?)"
	touch "$KAFKA_LIBS/.complete"
	log "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS"
}

kafka_configure() {
	mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/log"
	cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by infra/local/kafka.sh; edit that file, not this one.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
auto.create.topics.enable=false
num.partitions=$KAFKA_PARTITIONS
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
	cat >"$KAFKA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
EOF
}

# The JVM command line shared by the broker and the storage tool.
KAFKA_JAVA=(java -Xms512m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
	"-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties" -cp "$KAFKA_LIBS/*")

kafka_start() {
	if pid_alive "$KAFKA_PID"; then
		log "kafka: already running (pid $(cat "$KAFKA_PID")) on $KAFKA_BROKERS"
		return 0
	fi
	port_busy "$KAFKA_PORT" && die "kafka: port $KAFKA_PORT is taken by a process we did not start; stop it or set KAFKA_PORT"
	kafka_install
	kafka_configure
	if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
		log "kafka: formatting storage (once)"
		"${KAFKA_JAVA[@]}" kafka.tools.StorageTool format --ignore-formatted \
			-t "$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid)" \
			-c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/log/format.log" 2>&1 ||
			fail_with_log kafka "$KAFKA_DIR/log/format.log" "storage format failed"
	fi
	log "kafka: starting $KAFKA_VERSION on $KAFKA_BROKERS (log: $KAFKA_LOG)"
	setsid "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" >>"$KAFKA_LOG" 2>&1 </dev/null &
	echo $! >"$KAFKA_PID"
	local kafkactl
	kafkactl=$(go_tool kafkactl)
	wait_for kafka "$KAFKA_START_TIMEOUT" "$KAFKA_LOG" "$KAFKA_PID" \
		"Check that port $KAFKA_PORT/$KAFKA_CONTROLLER_PORT are free and that java 17+ is on PATH." \
		"$kafkactl" -brokers "$KAFKA_BROKERS" ping
}

kafka_topics() {
	local kafkactl
	kafkactl=$(go_tool kafkactl)
	"$kafkactl" -brokers "$KAFKA_BROKERS" ensure-topics -partitions "$KAFKA_PARTITIONS" sentence
	# A dead letter is the record plus the error attributes: the dead-letter topic must accept a
	# little more than the largest record the source topic accepts (the broker's 1 MiB default).
	"$kafkactl" -brokers "$KAFKA_BROKERS" ensure-topics -partitions "$KAFKA_PARTITIONS" \
		-max-message-bytes 2097152 sentence-dlq
}

kafka_stop() {
	stop_pid kafka "$KAFKA_PID" 60
}
