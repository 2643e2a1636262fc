#!/usr/bin/env bash
# `make run`: the stack is up (make's `up` ran first); print where each service listens.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cat <<MSG
sentistream local stack is up:
  Kafka          $KAFKA_HOST:$KAFKA_PORT   (topics: sentence, sentence-dlq)
  PostgreSQL     postgres://postgres@$PG_HOST:$PG_PORT/$PG_DATABASE?sslmode=disable
  Elasticsearch  http://$ES_HOST:$ES_PORT
  data and logs  $STACK_DIR
Stop with: make down
MSG
