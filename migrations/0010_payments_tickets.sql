-- 0010: payments, webhooks, finalization (orders and tickets), check-in and refunds.
--
-- Every state change here is one server-side function called in one transaction with its
-- outbox rows (invariant 4); the C++ only adds what the database cannot do itself (talking
-- to payment providers, verifying webhook signatures, signing ticket codes with Ed25519).

-- ---------------------------------------------------------------------------------------
-- org_ticket_keys: one Ed25519 key pair per organization. Ticket codes carry a signature
-- by this key over the ticket id and event id, so a scanner holding the public key
-- (GET /orgs/:orgId/ticket-key) verifies a code offline. The secret key is stored sealed
-- (nonce || XSalsa20-Poly1305 of the 32-byte seed) under TICKET_SIGNING_SECRET: a database
-- dump alone cannot mint tickets.
-- ---------------------------------------------------------------------------------------
CREATE TABLE org_ticket_keys (
  org_id        uuid        PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  -- short id printed next to the public key, so a scanner can tell rotated keys apart
  key_id        text        NOT NULL,
  public_key    bytea       NOT NULL,
  sealed_secret bytea       NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT org_ticket_keys_public_key_length CHECK (length(public_key) = 32),
  CONSTRAINT org_ticket_keys_sealed_secret_length CHECK (length(sealed_secret) = 24 + 16 + 32)
);

-- ---------------------------------------------------------------------------------------
-- API shapes
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION payment_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'reservationId', p.reservation_id, 'eventId', p.event_id, 'orgId', p.org_id,
    'userId', p.user_id, 'status', p.status, 'provider', p.provider,
    'providerRef', p.provider_ref, 'amountCents', p.amount_cents, 'currency', p.currency,
    'checkoutUrl', p.checkout_url, 'needsRefund', p.needs_refund,
    'failureReason', p.failure_reason, 'createdAt', iso_utc(p.created_at),
    'succeededAt', iso_utc(p.succeeded_at), 'failedAt', iso_utc(p.failed_at),
    'refundedAt', iso_utc(p.refunded_at), 'finalizedAt', iso_utc(p.finalized_at),
    'orderId', (SELECT o.id FROM orders o WHERE o.payment_id = p.id))
  FROM payments p WHERE p.id = p_id
$$;

CREATE FUNCTION ticket_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', t.id, 'code', t.code, 'status', t.status, 'eventId', t.event_id, 'orgId', t.org_id,
    'orderId', t.order_id, 'userId', t.user_id, 'ticketTypeId', t.ticket_type_id,
    'seat', CASE WHEN s.id IS NULL THEN NULL ELSE jsonb_build_object(
              'id', s.id, 'seatCode', s.seat_code, 'seatNo', s.seat_number, 'label', s.label,
              'section', vs.name, 'row', vr.name) END,
    'issuedAt', iso_utc(t.issued_at), 'checkedInAt', iso_utc(t.checked_in_at),
    'refundedAt', iso_utc(t.refunded_at), 'voidedAt', iso_utc(t.voided_at))
  FROM tickets t
  LEFT JOIN event_seats s ON s.id = t.event_seat_id
  LEFT JOIN venue_sections vs ON vs.id = s.section_id
  LEFT JOIN venue_rows vr ON vr.id = s.row_id
  WHERE t.id = p_id
$$;

CREATE FUNCTION order_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', o.id, 'eventId', o.event_id, 'orgId', o.org_id, 'userId', o.user_id,
    'reservationId', o.reservation_id, 'paymentId', o.payment_id, 'status', o.status,
    'totalCents', o.total_cents, 'currency', o.currency, 'createdAt', iso_utc(o.created_at),
    'refundedAt', iso_utc(o.refunded_at),
    'items', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'id', i.id, 'kind', CASE WHEN i.event_seat_id IS NULL THEN 'GA' ELSE 'SEAT' END,
               'eventSeatId', i.event_seat_id, 'seatCode', s.seat_code,
               'ticketTypeId', i.ticket_type_id, 'quantity', i.quantity,
               'unitPriceCents', i.unit_price_cents, 'unitFeesCents', i.unit_fees_cents)
             ORDER BY s.section_sort, s.row_sort, s.seat_number, i.ticket_type_id)
      FROM order_items i LEFT JOIN event_seats s ON s.id = i.event_seat_id
      WHERE i.order_id = o.id), '[]'::jsonb),
    'ticketIds', coalesce((SELECT jsonb_agg(t.id ORDER BY t.issued_at, t.id)
                             FROM tickets t WHERE t.order_id = o.id), '[]'::jsonb))
  FROM orders o WHERE o.id = p_id
$$;

-- ---------------------------------------------------------------------------------------
-- payment_context: what POST /payments needs before it asks a provider for an intent.
-- NOT_FOUND also covers another user's reservation (never reveal it exists).
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION payment_context(p_user uuid, p_reservation uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  r reservations%ROWTYPE;
  v_existing uuid;
BEGIN
  SELECT * INTO r FROM reservations WHERE id = p_reservation AND user_id = p_user;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  SELECT id INTO v_existing FROM payments
   WHERE reservation_id = r.id AND status <> 'FAILED';
  IF v_existing IS NOT NULL THEN
    RETURN jsonb_build_object('outcome', 'EXISTING', 'payment', payment_json(v_existing));
  END IF;
  IF r.status <> 'ACTIVE' THEN
    RETURN jsonb_build_object('outcome', 'NOT_ACTIVE', 'status', r.status);
  END IF;
  IF r.expires_at <= now() THEN
    RETURN jsonb_build_object('outcome', 'EXPIRED');
  END IF;
  RETURN jsonb_build_object('outcome', 'OK', 'amountCents', r.total_cents,
                            'currency', r.currency, 'eventId', r.event_id, 'orgId', r.org_id);
END
$$;

-- ---------------------------------------------------------------------------------------
-- create_payment: inserts the PENDING payment of a provider intent, unless the reservation
-- stopped being payable meanwhile or another request created one first (the partial
-- unique index payments_one_open_per_reservation decides the race: the loser gets the
-- winner's payment, outcome EXISTING).
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION create_payment(p_id uuid, p_user uuid, p_reservation uuid, p_provider text,
                               p_provider_ref text, p_checkout_url text, p_correlation_id text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  r reservations%ROWTYPE;
  v_id uuid;
BEGIN
  -- FOR SHARE: cancel/expiry cannot end the reservation under us; other payers still can.
  SELECT * INTO r FROM reservations WHERE id = p_reservation AND user_id = p_user FOR SHARE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  IF r.status <> 'ACTIVE' OR r.expires_at <= now() THEN
    SELECT id INTO v_id FROM payments WHERE reservation_id = r.id AND status <> 'FAILED';
    IF v_id IS NOT NULL THEN
      RETURN jsonb_build_object('outcome', 'EXISTING', 'payment', payment_json(v_id));
    END IF;
    RETURN jsonb_build_object('outcome',
                              CASE WHEN r.status <> 'ACTIVE' THEN 'NOT_ACTIVE' ELSE 'EXPIRED' END,
                              'status', r.status);
  END IF;
  INSERT INTO payments (id, org_id, event_id, reservation_id, user_id, provider, provider_ref,
                        amount_cents, currency, checkout_url)
  VALUES (p_id, r.org_id, r.event_id, r.id, p_user, p_provider, p_provider_ref, r.total_cents,
          r.currency, p_checkout_url)
  ON CONFLICT (reservation_id) WHERE status <> 'FAILED' DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    SELECT id INTO v_id FROM payments WHERE reservation_id = r.id AND status <> 'FAILED';
    RETURN jsonb_build_object('outcome', 'EXISTING', 'payment', payment_json(v_id));
  END IF;
  RETURN jsonb_build_object('outcome', 'CREATED', 'payment', payment_json(v_id));
END
$$;

-- ---------------------------------------------------------------------------------------
-- process_webhook: one authenticated provider event (the signature was verified by the
-- caller). The unique index on (provider, provider_event_id) WHERE signature_valid makes a
-- repeated event a no-op: concurrent deliveries wait on the first one's index entry and
-- then answer duplicate. Transitions (SPEC §2, §6):
--   PENDING  + SUCCEEDED -> SUCCEEDED, outbox payment.succeeded
--              (amount or currency differing from the payment: FAILED with needs_refund,
--               outbox payment.refund_required: money arrived that does not match)
--   PENDING  + FAILED    -> FAILED, outbox payment.failed (the hold stays until its TTL)
--   FAILED   + SUCCEEDED -> stays FAILED, needs_refund, outbox payment.refund_required
--   anything else        -> recorded, IGNORED (e.g. a late failure after a success)
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION process_webhook(p_provider text, p_event_id text, p_ref text, p_status text,
                                p_amount bigint, p_currency text, p_raw text, p_headers jsonb,
                                p_correlation_id text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_hook    uuid;
  p         payments%ROWTYPE;
  v_outcome text;
  v_error   text;
  v_actor   jsonb := jsonb_build_object('provider', p_provider);
BEGIN
  INSERT INTO payment_webhook_events (provider, provider_event_id, signature_valid, status,
                                      raw_body, headers)
  VALUES (p_provider, p_event_id, true, 'RECEIVED', p_raw, p_headers)
  ON CONFLICT (provider, provider_event_id) WHERE signature_valid DO NOTHING
  RETURNING id INTO v_hook;
  IF v_hook IS NULL THEN
    SELECT w.payment_id INTO v_hook FROM payment_webhook_events w
     WHERE w.provider = p_provider AND w.provider_event_id = p_event_id AND w.signature_valid;
    RETURN jsonb_build_object('duplicate', true, 'processed', false, 'paymentId', v_hook,
                              'status', (SELECT status FROM payments WHERE id = v_hook));
  END IF;

  SELECT * INTO p FROM payments WHERE provider = p_provider AND provider_ref = p_ref FOR UPDATE;
  IF NOT FOUND THEN
    UPDATE payment_webhook_events SET status = 'IGNORED', processed_at = now(),
           error = 'no payment with this providerRef'
     WHERE id = v_hook;
    RETURN jsonb_build_object('duplicate', false, 'processed', false, 'paymentId', NULL,
                              'status', NULL, 'reason', 'UNKNOWN_PAYMENT');
  END IF;

  IF p.status = 'PENDING' AND p_status = 'SUCCEEDED'
     AND (p_amount IS NOT NULL AND p_amount <> p.amount_cents
          OR p_currency IS NOT NULL AND p_currency <> p.currency) THEN
    UPDATE payments SET status = 'FAILED', failed_at = now(), needs_refund = true,
           failure_reason = 'AMOUNT_MISMATCH', updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.refund_required', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id),
                                             'reason', 'AMOUNT_MISMATCH',
                                             'receivedAmountCents', p_amount,
                                             'receivedCurrency', p_currency),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
    v_error := 'amount or currency differs from the payment';
  ELSIF p.status = 'PENDING' AND p_status = 'SUCCEEDED' THEN
    UPDATE payments SET status = 'SUCCEEDED', succeeded_at = now(), updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.succeeded', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id)),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
  ELSIF p.status = 'PENDING' AND p_status = 'FAILED' THEN
    UPDATE payments SET status = 'FAILED', failed_at = now(), failure_reason = 'DECLINED',
           updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.failed', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id)),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
  ELSIF p.status = 'FAILED' AND p_status = 'SUCCEEDED' AND NOT p.needs_refund THEN
    -- money arrived for an attempt we gave up on: never resurrect it, return the money
    UPDATE payments SET needs_refund = true, updated_at = now() WHERE id = p.id;
    PERFORM outbox_append('payment.refund_required', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id),
                                             'reason', 'LATE_SUCCESS'),
                          p_correlation_id, v_actor);
    v_outcome := 'PROCESSED';
    v_error := 'late success of a failed payment: routed to refund';
  ELSE
    v_outcome := 'IGNORED';
    v_error := format('%s received while the payment is %s', p_status, p.status);
  END IF;

  UPDATE payment_webhook_events SET status = v_outcome, processed_at = now(), payment_id = p.id,
         error = v_error
   WHERE id = v_hook;
  RETURN jsonb_build_object('duplicate', false, 'processed', v_outcome = 'PROCESSED',
                            'paymentId', p.id,
                            'status', (SELECT status FROM payments WHERE id = p.id));
END
$$;

-- ---------------------------------------------------------------------------------------
-- Finalization (the payment.succeeded consumer, SPEC §5), two calls in one transaction:
--   finalize_payment_begin locks the payment and decides:
--     NOOP             already finalized, refunded, or not a success (redelivery);
--     REFUND_REQUIRED  the reservation no longer holds what was paid for (expired,
--                      cancelled, a lapsed seat taken by someone else, or the money arrived
--                      after the hold's deadline): needs_refund + payment.refund_required;
--     ISSUE            with the number of tickets to issue. The caller mints that many
--                      ticket ids and signed codes, then calls finalize_payment_issue.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION finalize_payment_begin(p_payment uuid, p_correlation_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p       payments%ROWTYPE;
  r       reservations%ROWTYPE;
  v_lost  int;
  v_units int;
  v_reason text;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_payment FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('action', 'MISSING');
  END IF;
  IF p.finalized_at IS NOT NULL OR p.status <> 'SUCCEEDED' THEN
    RETURN jsonb_build_object('action', 'NOOP', 'status', p.status);
  END IF;
  SELECT * INTO r FROM reservations WHERE id = p.reservation_id FOR UPDATE;
  SELECT count(*) INTO v_lost
    FROM reservation_items i JOIN event_seats s ON s.id = i.event_seat_id
   WHERE i.reservation_id = r.id
     AND NOT (s.status = 'RESERVED' AND s.reservation_id = r.id);
  v_reason := CASE
    WHEN r.status <> 'ACTIVE' THEN 'RESERVATION_' || r.status
    WHEN p.succeeded_at > r.expires_at THEN 'PAID_AFTER_EXPIRY'
    WHEN v_lost > 0 THEN 'SEATS_RELEASED'
  END;
  IF v_reason IS NOT NULL THEN
    UPDATE payments SET needs_refund = true, finalized_at = now(), updated_at = now()
     WHERE id = p.id;
    PERFORM outbox_append('payment.refund_required', 'payment', p.id, NULL,
                          jsonb_build_object('payment', payment_json(p.id), 'reason', v_reason),
                          p_correlation_id,
                          jsonb_build_object('system', 'payment_succeeded_consumer'));
    RETURN jsonb_build_object('action', 'REFUND_REQUIRED', 'reason', v_reason,
                              'eventId', r.event_id, 'reservationId', r.id);
  END IF;
  SELECT coalesce(sum(quantity), 0) INTO v_units FROM reservation_items
   WHERE reservation_id = r.id;
  RETURN jsonb_build_object('action', 'ISSUE', 'units', v_units, 'orgId', r.org_id,
                            'eventId', r.event_id, 'reservationId', r.id);
END
$$;

-- finalize_payment_issue: confirms the reservation, sells its seats and GA units, writes the
-- order, its items and one ticket per unit (ids and codes from the caller, in unit order:
-- seat items by seat id, then GA units by ticket type), ticket.issued per ticket and one
-- seat.sold, and marks the payment finalized. Must follow finalize_payment_begin's ISSUE in
-- the same transaction (the payment and reservation rows are locked).
CREATE FUNCTION finalize_payment_issue(p_payment uuid, p_ticket_ids uuid[], p_codes text[],
                                       p_correlation_id text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p       payments%ROWTYPE;
  r       reservations%ROWTYPE;
  v_order uuid := gen_random_uuid();
  v_seats uuid[];
  v_count int;
  v_locked int;
  v_actor jsonb := jsonb_build_object('system', 'payment_succeeded_consumer');
  t       record;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_payment;
  SELECT * INTO r FROM reservations WHERE id = p.reservation_id;

  UPDATE reservations SET status = 'CONFIRMED', confirmed_at = now(), updated_at = now()
   WHERE id = r.id;

  WITH sold AS (
    UPDATE event_seats s
       SET status = 'SOLD', reserved_until = NULL, version = s.version + 1, updated_at = now()
      FROM reservation_items i
     WHERE i.reservation_id = r.id AND s.id = i.event_seat_id
       AND s.reservation_id = r.id AND s.status = 'RESERVED'
    RETURNING s.id)
  SELECT array_agg(id ORDER BY id) INTO v_seats FROM sold;

  -- GA: reserved units become sold units, slots locked in the global order
  SELECT count(*) INTO v_locked FROM (
    SELECT 1 FROM event_ticket_type_slots sl
     WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                             WHERE reservation_id = r.id AND slot IS NOT NULL)
     ORDER BY sl.ticket_type_id, sl.slot
     FOR UPDATE) ordered;
  UPDATE event_ticket_type_slots sl
     SET reserved = sl.reserved - g.quantity, sold = sl.sold + g.quantity
    FROM (SELECT ticket_type_id, slot, sum(quantity)::int AS quantity
            FROM reservation_items
           WHERE reservation_id = r.id AND slot IS NOT NULL
           GROUP BY ticket_type_id, slot) g
   WHERE sl.ticket_type_id = g.ticket_type_id AND sl.slot = g.slot;

  INSERT INTO orders (id, org_id, event_id, user_id, reservation_id, payment_id, total_cents,
                      currency)
  VALUES (v_order, r.org_id, r.event_id, r.user_id, r.id, p.id, r.total_cents, r.currency);

  INSERT INTO order_items (order_id, org_id, event_id, event_seat_id, ticket_type_id, quantity,
                           unit_price_cents, unit_fees_cents)
  SELECT v_order, r.org_id, r.event_id, i.event_seat_id, i.ticket_type_id, 1,
         i.unit_price_cents, i.unit_fees_cents
    FROM reservation_items i
   WHERE i.reservation_id = r.id AND i.event_seat_id IS NOT NULL
  UNION ALL
  SELECT v_order, r.org_id, r.event_id, NULL, i.ticket_type_id, sum(i.quantity)::int,
         i.unit_price_cents, i.unit_fees_cents
    FROM reservation_items i
   WHERE i.reservation_id = r.id AND i.event_seat_id IS NULL
   GROUP BY i.ticket_type_id, i.unit_price_cents, i.unit_fees_cents;

  WITH units AS (
    SELECT oi.id AS item_id, oi.event_seat_id, oi.ticket_type_id,
           row_number() OVER (ORDER BY oi.event_seat_id NULLS LAST, oi.ticket_type_id,
                                       oi.unit_price_cents, g) AS n
      FROM order_items oi CROSS JOIN LATERAL generate_series(1, oi.quantity) g
     WHERE oi.order_id = v_order)
  INSERT INTO tickets (id, org_id, event_id, order_id, order_item_id, user_id, event_seat_id,
                       ticket_type_id, code)
  SELECT p_ticket_ids[u.n], r.org_id, r.event_id, v_order, u.item_id, r.user_id,
         u.event_seat_id, u.ticket_type_id, p_codes[u.n]
    FROM units u;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count <> coalesce(array_length(p_ticket_ids, 1), 0)
     OR v_count <> coalesce(array_length(p_codes, 1), 0) THEN
    RAISE EXCEPTION 'finalize_payment_issue: % units but % ids and % codes', v_count,
      array_length(p_ticket_ids, 1), array_length(p_codes, 1)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  UPDATE payments SET finalized_at = now(), updated_at = now() WHERE id = p.id;

  FOR t IN SELECT id FROM tickets WHERE order_id = v_order ORDER BY id LOOP
    PERFORM outbox_append('ticket.issued', 'order', v_order, NULL,
                          jsonb_build_object('ticket', ticket_json(t.id) - 'code',
                                             'orderId', v_order, 'paymentId', p.id,
                                             'reservationId', r.id),
                          p_correlation_id, v_actor);
  END LOOP;
  IF v_seats IS NOT NULL THEN
    PERFORM outbox_append('seat.sold', 'event', r.event_id, NULL,
                          jsonb_build_object('eventId', r.event_id, 'orderId', v_order,
                                             'reservationId', r.id,
                                             'seatIds', to_jsonb(v_seats)),
                          p_correlation_id, v_actor);
  END IF;
  RETURN jsonb_build_object('orderId', v_order, 'eventId', r.event_id, 'reservationId', r.id,
                            'tickets', v_count, 'seats', coalesce(to_jsonb(v_seats), '[]'));
END
$$;

-- ---------------------------------------------------------------------------------------
-- refund_payment: a manual refund (ORG_ADMIN) after the provider confirmed it.
--   SUCCEEDED -> REFUNDED; its order and ISSUED tickets REFUNDED; sold seats AVAILABLE
--   again (a new ticket may be sold for them: the one-ISSUED-ticket-per-seat index only
--   counts ISSUED tickets); GA units returned to their slots; outbox payment.refunded;
--   an audit row.
--   A FAILED payment that needs a refund (late or mismatched money) gets refunded_at.
-- Outcomes: REFUNDED, NOT_FOUND, ALREADY_REFUNDED, NOT_REFUNDABLE (pending or plain failed).
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION refund_payment(p_payment uuid, p_correlation_id text, p_actor jsonb,
                               p_actor_user uuid, p_actor_api_key uuid, p_request_id text,
                               p_ip inet, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p        payments%ROWTYPE;
  v_order  uuid;
  v_seats  uuid[];
  v_locked int;
  v_tickets int := 0;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_payment FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('outcome', 'NOT_FOUND');
  END IF;
  IF p.status = 'REFUNDED' OR p.refunded_at IS NOT NULL THEN
    RETURN jsonb_build_object('outcome', 'ALREADY_REFUNDED', 'payment', payment_json(p.id));
  END IF;
  IF p.status = 'FAILED' AND p.needs_refund THEN
    UPDATE payments SET refunded_at = now(), updated_at = now() WHERE id = p.id;
  ELSIF p.status = 'SUCCEEDED' THEN
    -- finalization cannot race us: it locks the payment row first
    UPDATE payments SET status = 'REFUNDED', refunded_at = now(), updated_at = now()
     WHERE id = p.id;
    UPDATE orders SET status = 'REFUNDED', refunded_at = now(), updated_at = now()
     WHERE payment_id = p.id AND status = 'PAID'
    RETURNING id INTO v_order;
    IF v_order IS NOT NULL THEN
      UPDATE tickets SET status = 'REFUNDED', refunded_at = now(), updated_at = now()
       WHERE order_id = v_order AND status = 'ISSUED';
      GET DIAGNOSTICS v_tickets = ROW_COUNT;
      WITH freed AS (
        UPDATE event_seats s
           SET status = 'AVAILABLE', reservation_id = NULL, reserved_until = NULL,
               version = s.version + 1, updated_at = now()
          FROM order_items i
         WHERE i.order_id = v_order AND s.id = i.event_seat_id
           AND s.status = 'SOLD' AND s.reservation_id = p.reservation_id
        RETURNING s.id)
      SELECT array_agg(id ORDER BY id) INTO v_seats FROM freed;
      SELECT count(*) INTO v_locked FROM (
        SELECT 1 FROM event_ticket_type_slots sl
         WHERE (sl.ticket_type_id, sl.slot) IN (SELECT ticket_type_id, slot FROM reservation_items
                                                 WHERE reservation_id = p.reservation_id
                                                   AND slot IS NOT NULL)
         ORDER BY sl.ticket_type_id, sl.slot
         FOR UPDATE) ordered;
      UPDATE event_ticket_type_slots sl
         SET sold = sl.sold - g.quantity
        FROM (SELECT ticket_type_id, slot, sum(quantity)::int AS quantity
                FROM reservation_items
               WHERE reservation_id = p.reservation_id AND slot IS NOT NULL
               GROUP BY ticket_type_id, slot) g
       WHERE sl.ticket_type_id = g.ticket_type_id AND sl.slot = g.slot;
    END IF;
  ELSE
    RETURN jsonb_build_object('outcome', 'NOT_REFUNDABLE', 'status', p.status);
  END IF;
  PERFORM outbox_append('payment.refunded', 'payment', p.id, NULL,
                        jsonb_build_object('payment', payment_json(p.id), 'orderId', v_order,
                                           'ticketsRefunded', v_tickets,
                                           'releasedSeatIds', coalesce(to_jsonb(v_seats), '[]'),
                                           'reason', p_reason),
                        p_correlation_id, p_actor);
  INSERT INTO audit_logs (org_id, actor_user_id, actor_api_key_id, action, resource_type,
                          resource_id, details, request_id, ip)
  VALUES (p.org_id, p_actor_user, p_actor_api_key, 'payment.refunded', 'payment', p.id::text,
          jsonb_build_object('orderId', v_order, 'amountCents', p.amount_cents,
                             'currency', p.currency, 'ticketsRefunded', v_tickets,
                             'reason', p_reason),
          p_request_id, p_ip);
  RETURN jsonb_build_object('outcome', 'REFUNDED', 'payment', payment_json(p.id),
                            'eventId', p.event_id,
                            'seats', coalesce(to_jsonb(v_seats), '[]'));
END
$$;

-- ---------------------------------------------------------------------------------------
-- check_in_ticket: the first scan wins (one conditional update; a racing second scanner
-- re-evaluates the condition after the first commits and gets ALREADY_CHECKED_IN).
-- The code must match the stored one exactly, so a ticket id with a forged signature
-- never checks in even if signature verification were skipped. p_signature_ok is the
-- caller's verdict on the code's signature for this event: when false the call only
-- classifies (another event's ticket, unknown code) and changes nothing.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION check_in_ticket(p_ticket uuid, p_code text, p_event uuid,
                                p_signature_ok boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
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
$$;

-- staff lists and the customer's own lists
CREATE INDEX payments_event_id_created_at_idx ON payments (event_id, created_at);
