-- examples/postgres-sink: what the JDBC sink wrote (table readings, one row per reading or gap event, keyed by id).

-- The latest value of every metric of every device.
SELECT DISTINCT ON (device_id, metric)
       device_id, metric, coalesce(value_number::text, value_text, value_boolean::text) AS value, unit, quality, received_at
FROM readings
WHERE type = 'reading'
ORDER BY device_id, metric, received_at DESC;

-- Hourly averages of the numeric readings of the last day.
SELECT device_id, metric, date_trunc('hour', received_at) AS hour, avg(value_number) AS avg, count(*) AS n
FROM readings
WHERE type = 'reading' AND value_number IS NOT NULL AND received_at > now() - interval '1 day'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

-- What the gateway declared missing (gap events): nothing else is missing.
SELECT device_id, gap_reason, gap_count, gap_from_seq, gap_to_seq, gap_from_time, gap_to_time
FROM readings
WHERE type = 'gap'
ORDER BY received_at;

-- Every event id once: a replay or a redelivery updated rows, it did not add any.
SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM readings;
