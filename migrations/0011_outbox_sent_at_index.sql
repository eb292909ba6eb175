-- 0011: the outbox purge (workers/outbox_publisher: DELETE ... WHERE status = 'SENT' AND
-- sent_at < now() - retention LIMIT n) reads this index instead of scanning the whole table each
-- round: in steady state almost every row is SENT and younger than the retention, so a scan
-- would read them all to find the few that are due. Marking a row SENT already rewrites its
-- index entries (status is in the pending index's predicate), so this adds one entry per row.
CREATE INDEX outbox_events_sent_at_idx ON outbox_events (sent_at) WHERE status = 'SENT';
