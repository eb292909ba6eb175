#pragma once
// SQL fragments shared by repositories, spliced into statement constants at compile time.

// A timestamptz column rendered in the wire format (ISO-8601 UTC with milliseconds), so rows
// need no date handling in C++: TICKETD_SQL_ISO8601("created_at").
#define TICKETD_SQL_ISO8601(col) \
  "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
