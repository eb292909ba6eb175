-- 0006: the seat map reads one table. event_seats already copies the layout's sort keys and
-- seat code; it now also copies what a seat map draws (label, x, y), so reading an event's
-- seats never joins venue_seats (a hash join over every venue's seats: ~90 ms for a
-- 10,000-seat event next to 350,000 other venue seats, against ~10 ms for one table).
-- Venue seats never change after creation, so the copies cannot drift.
ALTER TABLE event_seats
  ADD COLUMN label text,
  ADD COLUMN x double precision,
  ADD COLUMN y double precision;

UPDATE event_seats es
   SET label = vs.label, x = vs.x, y = vs.y
  FROM venue_seats vs
 WHERE vs.id = es.venue_seat_id
   AND (vs.label IS NOT NULL OR vs.x IS NOT NULL OR vs.y IS NOT NULL);
