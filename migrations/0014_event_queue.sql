-- 0014: the flash-sale waiting room's per-event settings (issue #14). Staff set them with
-- PATCH /events/:eventId; the queue itself (who waits, who is admitted) lives in Redis and can be
-- lost without harm: seats are still decided here, by reserve().
--   queue_mode: OFF (reserve directly), ON (reserve needs an admission token), AUTO (the queue
--     runs while reserve attempts for the event exceed queue_auto_threshold_per_second). It was a
--     boolean placeholder since 0002, never written: true becomes ON.
--   queue_admit_per_second: how many waiting buyers are admitted per second.
ALTER TABLE events
  ALTER COLUMN queue_mode DROP DEFAULT,
  ALTER COLUMN queue_mode TYPE text USING CASE WHEN queue_mode THEN 'ON' ELSE 'OFF' END,
  ALTER COLUMN queue_mode SET DEFAULT 'OFF',
  ADD CONSTRAINT events_queue_mode_check CHECK (queue_mode IN ('OFF', 'ON', 'AUTO')),
  ADD COLUMN queue_admit_per_second integer NOT NULL DEFAULT 50
    CONSTRAINT events_queue_admit_per_second_check
    CHECK (queue_admit_per_second BETWEEN 1 AND 100000),
  ADD COLUMN queue_auto_threshold_per_second integer NOT NULL DEFAULT 200
    CONSTRAINT events_queue_auto_threshold_per_second_check
    CHECK (queue_auto_threshold_per_second BETWEEN 1 AND 1000000);
