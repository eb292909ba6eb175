-- check_in_ticket() — the current definition (migration 0010; earlier bodies there are history).
-- Edit this file, never a migration: `ticketd migrate` re-applies it when it changes.
--
-- check_in_ticket: the first scan wins (one conditional update; a racing second scanner
-- re-evaluates the condition after the first commits and gets ALREADY_CHECKED_IN).
-- The code must match the stored one exactly, so a ticket id with a forged signature
-- never checks in even if signature verification were skipped. p_signature_ok is the
-- caller's verdict on the code's signature for this event: when false the call only
-- classifies (another event's ticket, unknown code) and changes nothing.
CREATE OR REPLACE FUNCTION public.check_in_ticket(p_ticket uuid, p_code text, p_event uuid, p_signature_ok boolean)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
  t tickets%ROWTYPE;
BEGIN
  IF p_signature_ok THEN
    UPDATE tickets SET checked_in_at = now(), updated_at = now()
     WHERE id = p_ticket AND code = p_code AND event_id = p_event AND status = 'ISSUED'
       AND checked_in_at IS NULL;
  END IF;
  IF p_signature_ok AND FOUND THEN
    RETURN jsonb_build_object('outcome', 'CHECKED_IN', 'ticket', ticket_json(p_ticket));
  END IF;
  SELECT * INTO t FROM tickets WHERE id = p_ticket AND code = p_code;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  IF t.event_id <> p_event THEN
    RETURN jsonb_build_object('outcome', 'WRONG_EVENT');
  END IF;
  IF NOT p_signature_ok THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  IF t.status <> 'ISSUED' THEN
    RETURN jsonb_build_object('outcome', 'NOT_ISSUED', 'status', t.status);
  END IF;
  RETURN jsonb_build_object('outcome', 'ALREADY_CHECKED_IN',
                            'checkedInAt', iso_utc(t.checked_in_at),
                            'ticket', ticket_json(p_ticket));
END
$function$;
