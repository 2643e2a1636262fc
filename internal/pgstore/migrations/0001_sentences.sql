-- The seed's table sentences(id, sentence, sentiment, created_at), sentiment being VADER's compound,
-- plus the idempotency key, the VADER parts, the label, when it was scored and where it came from.
CREATE TABLE sentences (
	id              bigserial PRIMARY KEY,
	sentence        varchar(10000) NOT NULL,
	sentiment       double precision NOT NULL,
	created_at      timestamptz NOT NULL,
	key             text NOT NULL UNIQUE,
	pos             double precision NOT NULL,
	neu             double precision NOT NULL,
	neg             double precision NOT NULL,
	label           text NOT NULL CHECK (label IN ('positive', 'neutral', 'negative')),
	scored_at       timestamptz NOT NULL DEFAULT now(),
	topic           text,
	kafka_partition integer,
	kafka_offset    bigint,
	event_id        text,
	event_source    text
);

-- The dashboard reads time ranges by either clock.
CREATE INDEX sentences_created_at_idx ON sentences (created_at);
CREATE INDEX sentences_scored_at_idx ON sentences (scored_at);
