-- A per-minute rollup of sentences for the dashboard's timeline over long ranges (7 days at
-- 1,000,000 rows: 1,958 ms from sentences, 12 ms from here). A statement-level trigger keeps it:
-- one batch insert updates each of its minutes once, in minute order, so concurrent batches do
-- not deadlock; rows skipped by ON CONFLICT DO NOTHING are not in the transition table, so a
-- redelivery is not counted twice. Rows are never deleted from sentences; if that changes, add
-- the matching AFTER DELETE trigger.
CREATE TABLE sentences_minute (
	minute       timestamptz PRIMARY KEY,
	n            bigint NOT NULL,
	sum_compound double precision NOT NULL,
	positive     bigint NOT NULL,
	negative     bigint NOT NULL
);
CREATE FUNCTION sentences_minute_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO sentences_minute AS m (minute, n, sum_compound, positive, negative)
	SELECT date_trunc('minute', created_at), count(*), sum(sentiment),
	       count(*) FILTER (WHERE sentiment >= 0.05), count(*) FILTER (WHERE sentiment <= -0.05)
	FROM new_rows GROUP BY 1 ORDER BY 1
	ON CONFLICT (minute) DO UPDATE SET n = m.n + EXCLUDED.n, sum_compound = m.sum_compound + EXCLUDED.sum_compound,
		positive = m.positive + EXCLUDED.positive, negative = m.negative + EXCLUDED.negative;
	RETURN NULL;
END $$;
CREATE TRIGGER sentences_minute_add AFTER INSERT ON sentences REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sentences_minute_add();
INSERT INTO sentences_minute
SELECT date_trunc('minute', created_at), count(*), sum(sentiment),
       count(*) FILTER (WHERE sentiment >= 0.05), count(*) FILTER (WHERE sentiment <= -0.05)
FROM sentences GROUP BY 1;
