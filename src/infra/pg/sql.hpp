#pragma once
// SQL fragments shared by repositories, spliced into statement constants at compile time.

// A timestamptz column rendered in the wire format (ISO-8601 UTC with milliseconds), so rows
// need no date handling in C++: TICKETD_SQL_ISO8601("created_at"). The format itself is written
// once, in iso_utc() (sql/functions/iso_utc.sql; STABLE, so the planner inlines it).
#define TICKETD_SQL_ISO8601(col) "iso_utc(" col ")"
