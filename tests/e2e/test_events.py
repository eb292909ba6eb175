"""Events, ticket types, seat inventory, bulk seat admin and the seat map, end to end."""
import uuid

import pytest

from conftest import Ticketd
from layout import (API, AVAILABILITY_KEYS, EVENT_KEYS, SEAT_KEYS, SMALL_SEATS, STARTS, TICKET_TYPE_KEYS,
                    add_member, all_seats, db_json, errors, fields, get_event, login, make_event, make_venue,
                    patch, patch_seats, poll, publish, sections_by_code, get_venue, seat_page, seats_by_code,
                    set_status, scenario, tag, ts)
from test_orgs import codes, make_org, user

ZERO = {"reserved": 0, "sold": 0, "blocked": 0}


def event_url(event_id):
    return f"{API}/events/{event_id}"


def tt_url(event_id, tt_id=None):
    return f"{API}/events/{event_id}/ticket-types" + (f"/{tt_id}" if tt_id else "")


def create_tt(t, who, event_id, **body):
    res = t.post(tt_url(event_id), json=body, headers=who["h"])
    assert res.status_code == 201, res.text
    return res.json()["data"]


def list_tts(t, event_id, h=None):
    res = t.get(tt_url(event_id), headers=h)
    assert res.status_code == 200, res.text
    return {tt["id"]: tt for tt in res.json()["data"]}


def sync(t, who_h, event_id):
    return t.post(f"{API}/events/{event_id}/seats/sync", headers=who_h)


# --------------------------------------------------------------------------------------------
# Events: creation and validation
# --------------------------------------------------------------------------------------------

def test_create_event_is_a_draft_with_every_venue_seat(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    venue = make_venue(ticketd, admin, org["id"])
    res = ticketd.post(f"{API}/events", headers=admin["h"], json={
        "orgId": org["id"], "venueId": venue["id"], "title": "Opening night", "description": "Bring a friend",
        "startsAt": "2031-05-01T21:00:00+02:00", "endsAt": "2031-05-01T23:30:00+02:00",
        "salesStartAt": "2031-01-01T00:00:00Z", "salesEndAt": "2031-05-01T18:00:00Z"})
    assert res.status_code == 201, res.text
    ev = res.json()["data"]
    assert EVENT_KEYS <= set(ev), ev
    uuid.UUID(ev["id"])
    assert (ev["status"], ev["orgId"], ev["venueId"]) == ("DRAFT", org["id"], venue["id"])
    assert (ev["title"], ev["description"], ev["currency"]) == ("Opening night", "Bring a friend", "USD")
    assert ts(ev["startsAt"]) == ts("2031-05-01T19:00:00Z")
    assert ts(ev["endsAt"]) == ts("2031-05-01T21:30:00Z")
    assert ts(ev["salesStartAt"]) == ts("2031-01-01T00:00:00Z")
    assert ts(ev["salesEndAt"]) == ts("2031-05-01T18:00:00Z")
    assert ev["publishedAt"] is None and ev["cancelledAt"] is None
    assert ev["seatCount"] == venue["seatCount"] == SMALL_SEATS
    assert isinstance(ev["inventoryVersion"], int)
    ts(ev["createdAt"]), ts(ev["updatedAt"])

    got = get_event(ticketd, ev["id"], admin["h"])
    assert {k: got[k] for k in EVENT_KEYS} == {k: ev[k] for k in EVENT_KEYS}
    assert got["availability"] == {"total": SMALL_SEATS, "available": SMALL_SEATS, **ZERO}
    assert got["ticketTypes"] == []
    seats = all_seats(ticketd, ev["id"], admin["h"])
    assert len(seats) == SMALL_SEATS
    assert {s["status"] for s in seats} == {"AVAILABLE"}
    assert all(s["priceCents"] is None and s["ticketTypeId"] is None and s["reservedUntil"] is None for s in seats)

    minimal = make_event(ticketd, admin, org["id"], venue["id"], currency="EUR")
    assert minimal["currency"] == "EUR"
    assert [minimal[k] for k in ("description", "endsAt", "salesStartAt", "salesEndAt")] == [None] * 4
    assert minimal["id"] != ev["id"] and minimal["seatCount"] == SMALL_SEATS


@pytest.fixture(scope="module")
def owner(ticketd):
    """An admin, organization and venue for validation cases, which create nothing."""
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    return admin, org, make_venue(ticketd, admin, org["id"])


DROP = object()

# overrides of a valid body -> (expected code or None, expected field or None)
EVENT_422 = {
    "unparsable startsAt": ({"startsAt": "tomorrow evening"}, None, "startsAt"),
    "startsAt without offset": ({"startsAt": "2031-05-01T19:00:00"}, None, "startsAt"),
    "date-only startsAt": ({"startsAt": "2031-05-01"}, None, "startsAt"),
    "impossible date": ({"startsAt": "2031-02-30T19:00:00Z"}, None, "startsAt"),
    "unparsable endsAt": ({"endsAt": "later"}, None, "endsAt"),
    "endsAt equal to startsAt": ({"endsAt": STARTS}, None, "endsAt"),
    "endsAt before startsAt": ({"endsAt": "2031-05-01T18:59:59Z"}, None, "endsAt"),
    "endsAt before startsAt across offsets": ({"endsAt": "2031-05-01T20:30:00+02:00"}, None, "endsAt"),
    "sales window reversed": ({"salesStartAt": "2031-04-01T00:00:00Z", "salesEndAt": "2031-03-01T00:00:00Z"},
                              None, None),
    "sales window empty": ({"salesStartAt": "2031-04-01T00:00:00Z", "salesEndAt": "2031-04-01T00:00:00Z"},
                           None, None),
    "unparsable salesStartAt": ({"salesStartAt": "soon"}, None, "salesStartAt"),
    "lowercase currency": ({"currency": "usd"}, None, "currency"),
    "2-letter currency": ({"currency": "US"}, None, "currency"),
    "4-letter currency": ({"currency": "EURO"}, None, "currency"),
    "empty title": ({"title": ""}, None, "title"),
    "201-char title": ({"title": "t" * 201}, None, "title"),
    "10001-char description": ({"description": "d" * 10001}, None, "description"),
    "missing title": ({"title": DROP}, None, "title"),
    "missing startsAt": ({"startsAt": DROP}, None, "startsAt"),
    "missing venueId": ({"venueId": DROP}, None, "venueId"),
    "status is not settable at creation": ({"status": "PUBLISHED"}, None, "status"),
    "unknown field": ({"capacity": 100}, None, "capacity"),
    "unknown venue": ({"venueId": "RANDOM"}, "UNKNOWN_VENUE", "venueId"),
    "non-uuid venueId": ({"venueId": "venue-1"}, None, None),
}


def event_body(org, venue, overrides):
    body = {"orgId": org["id"], "venueId": venue["id"], "title": "Event " + tag(), "startsAt": STARTS}
    for k, v in overrides.items():
        if v is DROP:
            body.pop(k, None)
        elif v == "RANDOM":
            body[k] = str(uuid.uuid4())
        else:
            body[k] = v
    return body


@pytest.mark.parametrize("case", list(EVENT_422))
def test_event_validation_is_422(ticketd, owner, case):
    admin, org, venue = owner
    overrides, code, field = EVENT_422[case]
    res = ticketd.post(f"{API}/events", json=event_body(org, venue, overrides), headers=admin["h"])
    assert res.status_code == 422, res.text
    if code:
        assert code in codes(res), res.text
    if field:
        assert field in fields(res), res.text


@pytest.mark.parametrize("overrides", [{"title": 5}, {"startsAt": 1935774000}, {"currency": ["USD"]},
                                       {"description": 5}, {"venueId": 5}, {"endsAt": True}],
                         ids=["title", "startsAt", "currency", "description", "venueId", "endsAt"])
def test_event_wrong_json_types_are_400(ticketd, owner, overrides):
    admin, org, venue = owner
    res = ticketd.post(f"{API}/events", json=event_body(org, venue, overrides), headers=admin["h"])
    assert res.status_code == 400, res.text


def test_venue_of_another_organization_is_unknown_venue(ticketd):
    admin, other = user(ticketd), user(ticketd)
    org, other_org = make_org(ticketd, admin), make_org(ticketd, other)
    foreign = make_venue(ticketd, other, other_org["id"])
    res = ticketd.post(f"{API}/events", headers=admin["h"], json={
        "orgId": org["id"], "venueId": foreign["id"], "title": "Borrowed hall", "startsAt": STARTS})
    assert res.status_code == 422, res.text
    assert errors(res) == [("UNKNOWN_VENUE", "venueId")]
    # Naming the other organization itself: not a member, so it does not exist.
    res = ticketd.post(f"{API}/events", headers=admin["h"], json={
        "orgId": other_org["id"], "venueId": foreign["id"], "title": "Borrowed hall", "startsAt": STARTS})
    assert res.status_code == 404, res.text
    res = ticketd.post(f"{API}/events", headers=admin["h"], json={
        "orgId": str(uuid.uuid4()), "venueId": foreign["id"], "title": "Nowhere", "startsAt": STARTS})
    assert res.status_code == 404, res.text
    listed = ticketd.get(f"{API}/events", params={"orgId": other_org["id"]}, headers=other["h"]).json()
    assert listed["meta"]["total"] == 0


def test_event_creation_needs_write_rights(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    venue = make_venue(ticketd, admin, org["id"])
    support = add_member(ticketd, admin, org, "SUPPORT")
    staff = add_member(ticketd, admin, org, "ORG_STAFF")
    body = {"orgId": org["id"], "venueId": venue["id"], "title": "Gig", "startsAt": STARTS}
    assert ticketd.post(f"{API}/events", json=body, headers=support["h"]).status_code == 403
    assert ticketd.post(f"{API}/events", json=body).status_code == 401
    made = ticketd.post(f"{API}/events", json=body, headers=staff["h"])
    assert made.status_code == 201, made.text
    listed = ticketd.get(f"{API}/events", params={"orgId": org["id"]}, headers=support["h"]).json()
    assert [e["id"] for e in listed["data"]] == [made.json()["data"]["id"]]


# --------------------------------------------------------------------------------------------
# Events: lifecycle and updates
# --------------------------------------------------------------------------------------------

def test_lifecycle_draft_published_cancelled(ticketd):
    s = scenario(ticketd)
    eid, h = s.event["id"], s.admin["h"]
    pub = publish(ticketd, s.admin, eid)
    assert pub["publishedAt"] is not None and pub["cancelledAt"] is None
    assert ts(pub["updatedAt"]) >= ts(s.event["updatedAt"])
    again = patch(ticketd, event_url(eid), json={"status": "PUBLISHED"}, headers=h)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["publishedAt"] == pub["publishedAt"], "same status is a no-op"

    back = patch(ticketd, event_url(eid), json={"status": "DRAFT"}, headers=h)
    assert back.status_code == 409, back.text
    assert codes(back) == ["INVALID_TRANSITION"]
    currency = patch(ticketd, event_url(eid), json={"currency": "EUR"}, headers=h)
    assert currency.status_code == 409, currency.text
    assert codes(currency) == ["EVENT_NOT_DRAFT"]
    retitled = patch(ticketd, event_url(eid), json={"title": "Renamed"}, headers=h)
    assert retitled.status_code == 200 and retitled.json()["data"]["title"] == "Renamed", retitled.text
    now = get_event(ticketd, eid, h)
    assert (now["status"], now["currency"], now["title"]) == ("PUBLISHED", "USD", "Renamed")

    cancelled = set_status(ticketd, s.admin, eid, "CANCELLED")
    assert cancelled["cancelledAt"] is not None
    assert cancelled["publishedAt"] == pub["publishedAt"], "a cancelled event keeps its publication time"
    for status in ("PUBLISHED", "DRAFT"):
        res = patch(ticketd, event_url(eid), json={"status": status}, headers=h)
        assert res.status_code == 409, res.text
        assert codes(res)[0] in ("INVALID_TRANSITION", "EVENT_CANCELLED"), res.text
    for change in ({"title": "Too late"}, {"description": "x"}, {"endsAt": "2031-05-02T00:00:00Z"}):
        res = patch(ticketd, event_url(eid), json=change, headers=h)
        assert res.status_code == 409, res.text
        assert codes(res) == ["EVENT_CANCELLED"]
    assert sync(ticketd, h, eid).status_code == 409
    assert codes(sync(ticketd, h, eid)) == ["EVENT_CANCELLED"]
    final = get_event(ticketd, eid)  # anonymous: cancelled after having been published stays visible
    assert (final["status"], final["title"]) == ("CANCELLED", "Renamed")
    assert seat_page(ticketd, eid).status_code == 200


def test_a_draft_cancelled_before_publication_stays_hidden(ticketd):
    s = scenario(ticketd)
    eid = s.event["id"]
    cancelled = set_status(ticketd, s.admin, eid, "CANCELLED")
    assert cancelled["publishedAt"] is None and cancelled["cancelledAt"] is not None
    assert ticketd.get(event_url(eid)).status_code == 404
    assert seat_page(ticketd, eid).status_code == 404
    assert get_event(ticketd, eid, s.admin["h"])["status"] == "CANCELLED"
    res = patch(ticketd, event_url(eid), json={"status": "PUBLISHED"}, headers=s.admin["h"])
    assert res.status_code == 409, res.text
    assert ticketd.get(event_url(eid)).status_code == 404


def test_patch_event_fields(ticketd):
    s = scenario(ticketd)
    eid, h = s.event["id"], s.admin["h"]
    res = patch(ticketd, event_url(eid), headers=h, json={
        "title": "New title", "description": "Doors at 7", "startsAt": "2031-06-01T19:00:00Z",
        "endsAt": "2031-06-01T22:00:00Z", "currency": "EUR", "salesStartAt": "2031-02-01T00:00:00Z",
        "salesEndAt": "2031-06-01T18:00:00Z"})
    assert res.status_code == 200, res.text
    ev = res.json()["data"]
    assert EVENT_KEYS <= set(ev)
    assert (ev["title"], ev["description"], ev["currency"], ev["status"]) == ("New title", "Doors at 7", "EUR", "DRAFT")
    assert ts(ev["startsAt"]) == ts("2031-06-01T19:00:00Z") and ts(ev["endsAt"]) == ts("2031-06-01T22:00:00Z")
    assert ts(ev["salesStartAt"]) == ts("2031-02-01T00:00:00Z")

    for change, status, field in (
            ({"status": "ARCHIVED"}, 422, "status"),
            ({"status": "published"}, 422, "status"),
            ({"endsAt": "2031-06-01T18:00:00Z"}, 422, "endsAt"),
            ({"startsAt": "2031-06-01T23:00:00Z"}, 422, None),  # after the stored endsAt
            ({"salesEndAt": "2031-01-01T00:00:00Z"}, 422, None),  # before the stored salesStartAt
            ({"startsAt": "next week"}, 422, "startsAt"),
            ({"currency": "eur"}, 422, "currency"),
            ({"title": ""}, 422, "title"),
            ({"venueId": s.venue["id"]}, 422, "venueId"),
            ({"seatCount": 5}, 422, "seatCount"),
            ({"title": 5}, 400, None),
            ({"status": 1}, 400, None)):
        bad = patch(ticketd, event_url(eid), json=change, headers=h)
        assert bad.status_code == status, (change, bad.text)
        if field:
            assert field in fields(bad), (change, bad.text)
    now = get_event(ticketd, eid, h)
    assert {k: now[k] for k in EVENT_KEYS} == {k: ev[k] for k in EVENT_KEYS}, "rejected patches change nothing"

    cleared = patch(ticketd, event_url(eid), headers=h,
                    json={"description": None, "endsAt": None, "salesStartAt": None, "salesEndAt": None})
    assert cleared.status_code == 200, cleared.text
    cleared = cleared.json()["data"]
    assert [cleared[k] for k in ("description", "endsAt", "salesStartAt", "salesEndAt")] == [None] * 4
    assert (cleared["title"], cleared["currency"]) == ("New title", "EUR")


def test_event_writes_need_rights(ticketd):
    s = scenario(ticketd)
    eid = s.event["id"]
    support = add_member(ticketd, s.admin, s.org, "SUPPORT")
    outsider = user(ticketd)
    make_org(ticketd, outsider)
    seat = all_seats(ticketd, eid, s.admin["h"])[0]["id"]

    def attempts(h):
        return [
            patch(ticketd, event_url(eid), json={"title": "Hijacked"}, headers=h).status_code,
            ticketd.post(tt_url(eid), json={"name": "Free", "priceCents": 0}, headers=h).status_code,
            patch_seats(ticketd, h, eid, seatIds=[seat], status="BLOCKED").status_code,
            sync(ticketd, h, eid).status_code,
        ]

    assert attempts(support["h"]) == [403] * 4
    assert attempts(outsider["h"]) == [404] * 4
    assert attempts(None) == [401] * 4
    for path in (event_url(eid), f"{event_url(eid)}/seats", tt_url(eid)):
        assert ticketd.get(path, headers=support["h"]).status_code == 200, path
    publish(ticketd, s.admin, eid)
    # Published: the outsider may see the event but still not change it.
    assert all(code in (403, 404) for code in attempts(outsider["h"]))
    assert attempts(support["h"]) == [403] * 4
    ev = get_event(ticketd, eid)
    assert ev["title"] != "Hijacked" and ev["ticketTypes"] == [] and ev["availability"]["blocked"] == 0


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "' OR 1=1 --"])
def test_non_uuid_event_ids_are_404(ticketd, bad):
    s = scenario(ticketd)
    h = s.admin["h"]
    for path in (f"{API}/events/{bad}", f"{API}/events/{bad}/seats", f"{API}/events/{bad}/ticket-types"):
        assert ticketd.get(path, headers=h).status_code == 404, path
    assert patch(ticketd, f"{API}/events/{bad}", json={"title": "x"}, headers=h).status_code == 404
    assert ticketd.post(f"{API}/events/{bad}/seats/sync", headers=h).status_code == 404
    assert ticketd.post(f"{API}/events/{bad}/ticket-types", json={"name": "x", "priceCents": 1}, headers=h).status_code == 404
    assert patch(ticketd, tt_url(s.event["id"], bad), json={"name": "x"}, headers=h).status_code == 404
    assert patch(ticketd, tt_url(s.event["id"], str(uuid.uuid4())), json={"name": "x"}, headers=h).status_code == 404
    assert ticketd.get(f"{API}/events/{uuid.uuid4()}", headers=h).status_code == 404


# --------------------------------------------------------------------------------------------
# Events: visibility and listing
# --------------------------------------------------------------------------------------------

def test_a_draft_is_invisible_to_outsiders_until_published(ticketd):
    s = scenario(ticketd)
    eid = s.event["id"]
    tt = create_tt(ticketd, s.admin, eid, name="Stalls", priceCents=4000, sectionIds=[s.layout["ST"]["id"]])
    outsider = user(ticketd)
    make_org(ticketd, outsider)
    paths = (event_url(eid), f"{event_url(eid)}/seats", tt_url(eid))
    for path in paths:
        assert ticketd.get(path).status_code == 404, path
        assert ticketd.get(path, headers=outsider["h"]).status_code == 404, path
        assert ticketd.get(path, headers=s.admin["h"]).status_code == 200, path
    assert ticketd.get(f"{API}/events", params={"q": s.event["title"]}).json()["data"] == []
    publish(ticketd, s.admin, eid)
    for path in paths:
        assert ticketd.get(path).status_code == 200, path
        assert ticketd.get(path, headers=outsider["h"]).status_code == 200, path
    ev = get_event(ticketd, eid)
    assert ev["status"] == "PUBLISHED"
    assert [t["id"] for t in ev["ticketTypes"]] == [tt["id"]]
    assert ev["availability"]["total"] == SMALL_SEATS
    assert len(all_seats(ticketd, eid)) == SMALL_SEATS
    assert list(list_tts(ticketd, eid)) == [tt["id"]]
    assert [e["id"] for e in ticketd.get(f"{API}/events", params={"q": s.event["title"]}).json()["data"]] == [eid]


def test_event_list_visibility_and_filters(ticketd):
    admin, outsider = user(ticketd), user(ticketd)
    org = make_org(ticketd, admin)
    other_org = make_org(ticketd, outsider)
    support = add_member(ticketd, admin, org, "SUPPORT")
    venue = make_venue(ticketd, admin, org["id"])
    t0 = tag()

    def mk(name, starts):
        return make_event(ticketd, admin, org["id"], venue["id"], title=f"{name} {t0}", startsAt=starts)["id"]

    draft = mk("Alpha", "2031-01-20T10:00:00Z")
    beta = mk("Beta", "2031-01-10T10:00:00Z")
    gamma = mk("Gamma", "2031-03-10T10:00:00Z")
    delta = mk("Delta", "2031-02-10T10:00:00Z")
    for eid in (beta, gamma, delta):
        publish(ticketd, admin, eid)
    set_status(ticketd, admin, delta, "CANCELLED")

    def ids(h=None, **params):
        res = ticketd.get(f"{API}/events", params=params, headers=h)
        assert res.status_code == 200, (params, res.text)
        body = res.json()
        assert body["meta"]["total"] == len(body["data"]), "all fit on one page here"
        assert all(EVENT_KEYS <= set(e) for e in body["data"])
        return [e["id"] for e in body["data"]]

    # Anonymous callers and non-members: PUBLISHED only, by startsAt.
    assert ids(orgId=org["id"]) == [beta, gamma]
    assert ids(outsider["h"], orgId=org["id"]) == [beta, gamma]
    assert ids(q=t0) == [beta, gamma]
    # Members (SUPPORT included) also see the organization's DRAFT and CANCELLED events.
    assert ids(admin["h"], orgId=org["id"]) == [beta, draft, delta, gamma]
    assert ids(support["h"], q=t0) == [beta, draft, delta, gamma]
    assert ids(admin["h"], orgId=other_org["id"]) == []
    # q: case-insensitive title substring.
    assert ids(admin["h"], q=f"GAMMA {t0.upper()}") == [gamma]
    assert ids(q=f"alpha {t0}") == []
    assert ids(admin["h"], q=f"alpha {t0}") == [draft]
    # q is at most 200 characters, not bytes (found by schemathesis): 200 × "é" is 400 bytes.
    assert ticketd.get(f"{API}/events", params={"q": "é" * 200}).status_code == 200
    assert ticketd.get(f"{API}/events", params={"q": "é" * 201}).status_code == 422
    # from is inclusive, to exclusive; offsets are honoured.
    assert ids(admin["h"], orgId=org["id"], **{"from": "2031-01-20T10:00:00Z"}) == [draft, delta, gamma]
    assert ids(admin["h"], orgId=org["id"], to="2031-01-20T10:00:00Z") == [beta]
    assert ids(admin["h"], orgId=org["id"], **{"from": "2031-01-10T11:00:00+01:00", "to": "2031-02-10T11:00:00+01:00"}) == [beta, draft]
    assert ids(orgId=org["id"], **{"from": "2031-01-15T00:00:00Z", "to": "2031-03-01T00:00:00Z"}) == []
    assert ids(admin["h"], orgId=org["id"], **{"from": "2031-01-15T00:00:00Z", "to": "2031-03-01T00:00:00Z"}) == [draft, delta]
    # status
    assert ids(admin["h"], orgId=org["id"], status="DRAFT") == [draft]
    assert ids(admin["h"], orgId=org["id"], status="CANCELLED") == [delta]
    assert ids(admin["h"], orgId=org["id"], status="PUBLISHED") == [beta, gamma]
    for params in ({"from": "yesterday"}, {"to": "2031-13-01T00:00:00Z"}, {"status": "ARCHIVED"}):
        assert ticketd.get(f"{API}/events", params=params).status_code == 422, params


def test_event_list_pagination(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    venue = make_venue(ticketd, admin, org["id"])
    made = [make_event(ticketd, admin, org["id"], venue["id"], startsAt=f"2031-0{m}-01T10:00:00Z")["id"]
            for m in (3, 1, 2)]
    in_order = [made[1], made[2], made[0]]

    def page(**params):
        res = ticketd.get(f"{API}/events", params={"orgId": org["id"], **params}, headers=admin["h"])
        assert res.status_code == 200, (params, res.text)
        return res.json()

    p1, p2, p3 = page(limit=2, page=1), page(limit=2, page=2), page(limit=2, page=3)
    assert [e["id"] for e in p1["data"]] + [e["id"] for e in p2["data"]] == in_order
    assert (p1["meta"]["page"], p1["meta"]["limit"], p1["meta"]["total"], p1["meta"]["hasNext"]) == (1, 2, 3, True)
    assert (p2["meta"]["total"], p2["meta"]["hasNext"]) == (3, False)
    assert p3["data"] == [] and p3["meta"]["total"] == 3 and p3["meta"]["hasNext"] is False
    far = page(limit=2, page=999)
    assert far["data"] == [] and far["meta"]["total"] == 3 and far["meta"]["hasNext"] is False
    assert [e["id"] for e in page(limit=100)["data"]] == in_order
    for q in ("limit=0", "limit=101", "page=0", "limit=x", "page=-1"):
        res = ticketd.get(f"{API}/events?orgId={org['id']}&{q}", headers=admin["h"])
        assert res.status_code == 422, q


def test_outbox_rows_for_created_and_updated_events(ticketd):
    s = scenario(ticketd)
    eid = s.event["id"]

    def rows():
        return db_json("SELECT json_build_object('topic', topic, 'aggregateId', aggregate_id, 'payload', payload)::text "
                       f"FROM outbox_events WHERE message_key = '{eid}' ORDER BY seq")

    created = rows()
    assert [r["topic"] for r in created] == ["event.created"]
    assert created[0]["aggregateId"] == eid
    assert {"eventId", "type", "occurredAt", "data"} <= set(created[0]["payload"])

    res = patch(ticketd, event_url(eid), json={"title": "Retitled", "description": "New"}, headers=s.admin["h"])
    assert res.status_code == 200, res.text
    after = rows()
    assert [r["topic"] for r in after] == ["event.created", "event.updated"]
    changes = after[1]["payload"]["data"]["changes"]
    assert {"title", "description"} <= set(changes) and "currency" not in changes and "status" not in changes

    publish(ticketd, s.admin, eid)
    after = rows()
    assert [r["topic"] for r in after] == ["event.created", "event.updated", "event.updated"]
    assert "status" in after[2]["payload"]["data"]["changes"]
    # Refused changes write nothing.
    assert patch(ticketd, event_url(eid), json={"status": "DRAFT"}, headers=s.admin["h"]).status_code == 409
    assert len(rows()) == 3


# --------------------------------------------------------------------------------------------
# Ticket types and prices
# --------------------------------------------------------------------------------------------

def test_seated_ticket_types_and_seat_price_overrides(ticketd):
    s = scenario(ticketd)
    eid, h, L = s.event["id"], s.admin["h"], s.layout
    prem = create_tt(ticketd, s.admin, eid, name="Premium", code="PREM", priceCents=5000, feesCents=250,
                     sectionIds=[L["ST"]["id"]])
    assert TICKET_TYPE_KEYS <= set(prem), prem
    assert (prem["eventId"], prem["name"], prem["code"], prem["kind"]) == (eid, "Premium", "PREM", "SEATED")
    assert (prem["priceCents"], prem["feesCents"], prem["totalCapacity"], prem["seatCount"]) == (5000, 250, None, 8)
    assert prem["availability"] == {"total": 8, "available": 8, **ZERO}
    balc = create_tt(ticketd, s.admin, eid, name="Balcony", priceCents=2000, rowIds=[L["BAL"]["rowIds"]["A"]])
    assert (balc["kind"], balc["feesCents"], balc["seatCount"]) == ("SEATED", 0, 3)

    seats = seats_by_code(ticketd, eid, h)
    for n in range(1, 5):
        for r in ("A", "B"):
            assert (seats[f"ST-{r}-{n}"]["priceCents"], seats[f"ST-{r}-{n}"]["feesCents"],
                    seats[f"ST-{r}-{n}"]["ticketTypeId"]) == (5000, 250, prem["id"])
    for n in range(1, 4):
        assert (seats[f"BAL-A-{n}"]["priceCents"], seats[f"BAL-A-{n}"]["feesCents"],
                seats[f"BAL-A-{n}"]["ticketTypeId"]) == (2000, 0, balc["id"])

    # A later type takes over the seats it names (a row of Premium's section, then one seat).
    rear = create_tt(ticketd, s.admin, eid, name="Rear stalls", priceCents=3000, rowIds=[L["ST"]["rowIds"]["B"]])
    aisle = create_tt(ticketd, s.admin, eid, name="Aisle", priceCents=100, seatIds=[seats["BAL-A-3"]["id"]])
    assert (rear["seatCount"], aisle["seatCount"]) == (4, 1)
    tts = list_tts(ticketd, eid, h)
    assert {k: v["seatCount"] for k, v in tts.items()} == {prem["id"]: 4, balc["id"]: 2, rear["id"]: 4, aisle["id"]: 1}
    seats = seats_by_code(ticketd, eid, h)
    assert (seats["ST-B-1"]["priceCents"], seats["ST-B-1"]["ticketTypeId"]) == (3000, rear["id"])
    assert (seats["ST-A-1"]["priceCents"], seats["BAL-A-3"]["priceCents"], seats["BAL-A-2"]["priceCents"]) == (5000, 100, 2000)

    # A seat override wins over the type's price, even after the type is re-priced.
    target = seats["ST-A-2"]["id"]
    res = patch_seats(ticketd, h, eid, seatIds=[target], priceCents=9999)
    assert res.status_code == 200, res.text
    assert res.json()["data"]["updated"] == 1
    [changed] = res.json()["data"]["seats"]
    assert SEAT_KEYS <= set(changed)
    assert (changed["id"], changed["priceCents"], changed["feesCents"], changed["ticketTypeId"]) == (target, 9999, 250, prem["id"])
    repriced = patch(ticketd, tt_url(eid, prem["id"]), json={"priceCents": 6000}, headers=h)
    assert repriced.status_code == 200, repriced.text
    assert repriced.json()["data"]["priceCents"] == 6000 and repriced.json()["data"]["seatCount"] == 4
    seats = seats_by_code(ticketd, eid, h)
    assert (seats["ST-A-1"]["priceCents"], seats["ST-A-2"]["priceCents"]) == (6000, 9999)
    zero_fees = patch_seats(ticketd, h, eid, seatIds=[target], feesCents=0)
    assert zero_fees.status_code == 200 and zero_fees.json()["data"]["seats"][0]["feesCents"] == 0, zero_fees.text
    assert seats_by_code(ticketd, eid, h)["ST-A-2"]["feesCents"] == 0
    # Clearing the overrides falls back to the type.
    cleared = patch_seats(ticketd, h, eid, seatIds=[target], priceCents=None, feesCents=None)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["data"]["seats"][0]["priceCents"], cleared.json()["data"]["seats"][0]["feesCents"]) == (6000, 250)
    seats = seats_by_code(ticketd, eid, h)
    assert (seats["ST-A-2"]["priceCents"], seats["ST-A-2"]["feesCents"]) == (6000, 250)
    # An override on a seat without a type is its whole price.
    untyped = make_event(ticketd, s.admin, s.org["id"], s.venue["id"])
    lone = seats_by_code(ticketd, untyped["id"], h)["ST-A-1"]["id"]
    assert patch_seats(ticketd, h, untyped["id"], seatIds=[lone], priceCents=1234).status_code == 200
    lone_seat = seats_by_code(ticketd, untyped["id"], h)["ST-A-1"]
    assert (lone_seat["priceCents"], lone_seat["feesCents"], lone_seat["ticketTypeId"]) == (1234, None, None)
    assert set(get_event(ticketd, eid, h)["ticketTypes"][0]) >= TICKET_TYPE_KEYS


def test_general_admission_ticket_types(ticketd):
    s = scenario(ticketd)
    eid, h = s.event["id"], s.admin["h"]
    ga = create_tt(ticketd, s.admin, eid, name="Standing", code="GA", priceCents=1500, totalCapacity=200)
    assert (ga["kind"], ga["totalCapacity"], ga["seatCount"], ga["priceCents"]) == ("GA", 200, None, 1500)
    assert ga["availability"] == {"total": 200, "available": 200, **ZERO}
    ev = get_event(ticketd, eid, h)
    [listed] = ev["ticketTypes"]
    assert listed["id"] == ga["id"] and listed["availability"] == {"total": 200, "available": 200, **ZERO}
    assert ev["availability"] == {"total": SMALL_SEATS + 200, "available": SMALL_SEATS + 200, **ZERO}
    assert all(seat["ticketTypeId"] is None for seat in all_seats(ticketd, eid, h))

    grown = patch(ticketd, tt_url(eid, ga["id"]), json={"totalCapacity": 300, "name": "Standing room", "feesCents": 100},
                  headers=h)
    assert grown.status_code == 200, grown.text
    g = grown.json()["data"]
    assert (g["totalCapacity"], g["name"], g["feesCents"], g["availability"]["total"]) == (300, "Standing room", 100, 300)
    assert get_event(ticketd, eid, h)["availability"]["total"] == SMALL_SEATS + 300
    for change in ({"totalCapacity": 0}, {"totalCapacity": 1000001}, {"sectionIds": [s.layout["ST"]["id"]]},
                   {"rowIds": [s.layout["ST"]["rowIds"]["A"]]}):
        res = patch(ticketd, tt_url(eid, ga["id"]), json=change, headers=h)
        assert res.status_code == 422, (change, res.text)
    seated = create_tt(ticketd, s.admin, eid, name="Seats", priceCents=10, sectionIds=[s.layout["ST"]["id"]])
    res = patch(ticketd, tt_url(eid, seated["id"]), json={"totalCapacity": 10}, headers=h)
    assert res.status_code == 422, res.text
    tts = list_tts(ticketd, eid, h)
    assert (tts[ga["id"]]["totalCapacity"], tts[seated["id"]]["totalCapacity"], tts[seated["id"]]["seatCount"]) == (300, None, 8)
    publish(ticketd, s.admin, eid)
    assert set(list_tts(ticketd, eid)) == {ga["id"], seated["id"]}  # anonymous, once published


@pytest.fixture(scope="module")
def tt_event(ticketd):
    """An event (small layout) plus a section of another venue of the same organization."""
    s = scenario(ticketd)
    other_venue = make_venue(ticketd, s.admin, s.org["id"])
    s.foreign_section = sections_by_code(get_venue(ticketd, s.admin, other_venue["id"]))["ST"]["id"]
    s.seat_ids = [x["id"] for x in all_seats(ticketd, s.event["id"], s.admin["h"])]
    return s


TT_422 = {
    "GA with sectionIds": ({"totalCapacity": 10, "sectionIds": ["ST"]}, None, None),
    "GA with rowIds": ({"totalCapacity": 10, "rowIds": ["ST.A"]}, None, None),
    "GA with seatIds": ({"totalCapacity": 10, "seatIds": ["SEAT0"]}, None, None),
    "unknown section": ({"sectionIds": ["ST", "RANDOM"]}, "UNKNOWN_SECTION", "sectionIds[1]"),
    "section of another venue": ({"sectionIds": ["FOREIGN"]}, "UNKNOWN_SECTION", "sectionIds[0]"),
    "unknown row": ({"rowIds": ["RANDOM"]}, "UNKNOWN_ROW", "rowIds[0]"),
    "section id as a row id": ({"rowIds": ["ST.A", "ST"]}, "UNKNOWN_ROW", "rowIds[1]"),
    "unknown seat": ({"seatIds": ["SEAT0", "RANDOM"]}, "UNKNOWN_SEAT", "seatIds[1]"),
    "non-uuid section id": ({"sectionIds": ["ST-1"]}, None, None),
    "empty name": ({"name": ""}, None, "name"),
    "101-char name": ({"name": "n" * 101}, None, "name"),
    "code with a space": ({"code": "bad code"}, None, "code"),
    "33-char code": ({"code": "c" * 33}, None, "code"),
    "negative price": ({"priceCents": -1}, None, "priceCents"),
    "price over 1e12": ({"priceCents": 10 ** 12 + 1}, None, "priceCents"),
    "negative fees": ({"feesCents": -1}, None, "feesCents"),
    "zero capacity": ({"totalCapacity": 0}, None, "totalCapacity"),
    "capacity over 1e6": ({"totalCapacity": 1000001}, None, "totalCapacity"),
    "missing price": ({"priceCents": DROP}, None, "priceCents"),
    "missing name": ({"name": DROP}, None, "name"),
    "unknown field": ({"kind": "GA"}, None, "kind"),
}


def tt_body(s, overrides):
    def resolve(ref):
        if ref == "RANDOM":
            return str(uuid.uuid4())
        if ref == "FOREIGN":
            return s.foreign_section
        if ref == "SEAT0":
            return s.seat_ids[0]
        if "." in ref and ref.split(".")[0] in s.layout:
            code, row_name = ref.split(".")
            return s.layout[code]["rowIds"][row_name]
        if ref in s.layout:
            return s.layout[ref]["id"]
        return ref

    body = {"name": "Type " + tag(), "priceCents": 1000}
    for k, v in overrides.items():
        if v is DROP:
            body.pop(k)
        elif k in ("sectionIds", "rowIds", "seatIds") and isinstance(v, list):
            body[k] = [resolve(r) for r in v]
        else:
            body[k] = v
    return body


@pytest.mark.parametrize("case", list(TT_422))
def test_ticket_type_validation_is_422(ticketd, tt_event, case):
    s = tt_event
    overrides, code, field = TT_422[case]
    body = tt_body(s, overrides)
    res = ticketd.post(tt_url(s.event["id"]), json=body, headers=s.admin["h"])
    assert res.status_code == 422, res.text
    if code:
        assert code in codes(res), res.text
    if field:
        assert field in fields(res), res.text
    if "name" in body:
        assert body["name"] not in [t["name"] for t in list_tts(ticketd, s.event["id"], s.admin["h"]).values()]


@pytest.mark.parametrize("overrides", [{"priceCents": "10"}, {"name": 5}, {"sectionIds": "x"}, {"totalCapacity": "5"}],
                         ids=["priceCents", "name", "sectionIds", "totalCapacity"])
def test_ticket_type_wrong_json_types_are_400(ticketd, tt_event, overrides):
    res = ticketd.post(tt_url(tt_event.event["id"]), json=tt_body(tt_event, overrides), headers=tt_event.admin["h"])
    assert res.status_code == 400, res.text


def test_ticket_type_codes_are_unique_per_event(ticketd):
    s = scenario(ticketd)
    eid = s.event["id"]
    first = create_tt(ticketd, s.admin, eid, name="VIP", code="VIP", priceCents=10 ** 12)
    assert first["priceCents"] == 10 ** 12
    dup = ticketd.post(tt_url(eid), json={"name": "VIP again", "code": "VIP", "priceCents": 1, "totalCapacity": 5},
                       headers=s.admin["h"])
    assert dup.status_code == 409, dup.text
    assert codes(dup) == ["TICKET_TYPE_CODE_TAKEN"]
    assert list(list_tts(ticketd, eid, s.admin["h"])) == [first["id"]]
    other = make_event(ticketd, s.admin, s.org["id"], s.venue["id"])
    assert create_tt(ticketd, s.admin, other["id"], name="VIP", code="VIP", priceCents=1)["code"] == "VIP"
    # Types without a code never collide.
    create_tt(ticketd, s.admin, eid, name="A", priceCents=1)
    create_tt(ticketd, s.admin, eid, name="B", priceCents=1)
    assert len(list_tts(ticketd, eid, s.admin["h"])) == 3


# --------------------------------------------------------------------------------------------
# Seat map
# --------------------------------------------------------------------------------------------

def test_seat_map_natural_order_and_fields(ticketd):
    sections = [
        {"name": "Balcony", "code": "BAL", "sortOrder": 2, "rows": [
            {"name": "B", "sortOrder": 2, "seatCount": 3},
            {"name": "A", "sortOrder": 1, "seats": [{"seatNumber": 10}, {"seatNumber": 2, "label": "2A", "x": 3.5, "y": 4},
                                                    {"seatNumber": 1}]},
        ]},
        {"name": "Stalls", "code": "ST", "sortOrder": 1, "rows": [{"name": "R1", "sortOrder": 1, "seatCount": 12}]},
    ]
    s = scenario(ticketd, sections)
    eid, L = s.event["id"], s.layout
    expected = [f"ST-R1-{n}" for n in range(1, 13)] + ["BAL-A-1", "BAL-A-2", "BAL-A-10", "BAL-B-1", "BAL-B-2", "BAL-B-3"]
    res = seat_page(ticketd, eid, s.admin["h"])
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["meta"]["page"], body["meta"]["limit"], body["meta"]["total"], body["meta"]["hasNext"]) == (1, 100, 18, False)
    seats = body["data"]
    assert [x["seatCode"] for x in seats] == expected
    assert [x["seatNumber"] for x in seats[:12]] == list(range(1, 13))
    assert [x["seatNo"] for x in seats[:12]] == [str(n) for n in range(1, 13)]
    for x in seats:
        assert SEAT_KEYS <= set(x), x
        uuid.UUID(x["id"])
    assert len({x["id"] for x in seats}) == 18
    first = seats[0]
    assert {k: first[k] for k in SEAT_KEYS - {"id"}} == {
        "seatNo": "1", "seatNumber": 1, "seatCode": "ST-R1-1", "label": None, "section": "Stalls",
        "sectionId": L["ST"]["id"], "sectionCode": "ST", "row": "R1", "rowId": L["ST"]["rowIds"]["R1"],
        "status": "AVAILABLE", "priceCents": None, "feesCents": None, "ticketTypeId": None, "reservedUntil": None,
        "x": None, "y": None}
    labelled = seats[13]
    assert (labelled["seatNo"], labelled["seatNumber"], labelled["label"], labelled["x"], labelled["y"]) == ("2A", 2, "2A", 3.5, 4)
    assert (labelled["section"], labelled["sectionCode"], labelled["row"], labelled["rowId"]) == (
        "Balcony", "BAL", "A", L["BAL"]["rowIds"]["A"])
    publish(ticketd, s.admin, eid)
    assert [x["seatCode"] for x in all_seats(ticketd, eid)] == expected  # anonymous, same order


def test_seat_map_filters_and_pagination(ticketd):
    s = scenario(ticketd)
    eid, h, L = s.event["id"], s.admin["h"], s.layout
    full = all_seats(ticketd, eid, h)
    assert len(full) == SMALL_SEATS
    pages = [seat_page(ticketd, eid, h, page=p, limit=4).json() for p in (1, 2, 3)]
    assert [x["id"] for p in pages for x in p["data"]] == [x["id"] for x in full]
    assert [p["meta"]["hasNext"] for p in pages] == [True, True, False]
    assert all(p["meta"]["total"] == SMALL_SEATS and p["meta"]["limit"] == 4 for p in pages)
    beyond = seat_page(ticketd, eid, h, page=4, limit=4).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == SMALL_SEATS and beyond["meta"]["hasNext"] is False
    assert seat_page(ticketd, eid, h, limit=500).status_code == 200
    for params in ({"limit": 501}, {"limit": 0}, {"page": 0}, {"limit": "x"}, {"status": "FOO"},
                   {"status": "AVAILABLE,FOO"}):
        assert seat_page(ticketd, eid, h, **params).status_code == 422, params

    by_code = {x["seatCode"]: x["id"] for x in full}
    for section in (L["BAL"]["id"], "BAL"):
        got = seat_page(ticketd, eid, h, section=section).json()
        assert [x["seatCode"] for x in got["data"]] == ["BAL-A-1", "BAL-A-2", "BAL-A-3"], section
        assert got["meta"]["total"] == 3
    assert [x["seatCode"] for x in seat_page(ticketd, eid, h, section="ST").json()["data"]] == \
        [f"ST-{r}-{n}" for r in "AB" for n in range(1, 5)]

    blocked = patch_seats(ticketd, h, eid, seatIds=[by_code["BAL-A-2"], by_code["ST-A-1"]], status="BLOCKED")
    assert blocked.status_code == 200, blocked.text

    def status_codes(status, **params):
        res = seat_page(ticketd, eid, h, status=status, **params)
        assert res.status_code == 200, res.text
        assert res.json()["meta"]["total"] == len(res.json()["data"])
        return [x["seatCode"] for x in res.json()["data"]]

    assert status_codes("BLOCKED") == ["ST-A-1", "BAL-A-2"]
    assert len(status_codes("AVAILABLE")) == SMALL_SEATS - 2 and "ST-A-1" not in status_codes("AVAILABLE")
    assert status_codes("AVAILABLE,BLOCKED") == [x["seatCode"] for x in full]
    assert status_codes("SOLD") == [] and status_codes("RESERVED") == []
    assert status_codes("BLOCKED", section="BAL") == ["BAL-A-2"]
    assert status_codes("BLOCKED", section=L["ST"]["id"]) == ["ST-A-1"]


# --------------------------------------------------------------------------------------------
# Bulk seat admin
# --------------------------------------------------------------------------------------------

def test_block_and_unblock_seats_change_availability(ticketd):
    s = scenario(ticketd)
    eid, h, L = s.event["id"], s.admin["h"], s.layout
    prem = create_tt(ticketd, s.admin, eid, name="Stalls", priceCents=100, sectionIds=[L["ST"]["id"]])
    seats = seats_by_code(ticketd, eid, h)
    chosen = [seats[c]["id"] for c in ("ST-A-1", "ST-A-2", "BAL-A-1")]
    before = seat_page(ticketd, eid, h, limit=500)
    v0 = get_event(ticketd, eid, h)["inventoryVersion"]

    res = patch_seats(ticketd, h, eid, seatIds=chosen, status="BLOCKED")
    assert res.status_code == 200, res.text
    data = res.json()["data"]
    assert data["updated"] == 3
    assert sorted(x["id"] for x in data["seats"]) == sorted(chosen)
    assert all(x["status"] == "BLOCKED" and SEAT_KEYS <= set(x) for x in data["seats"])
    now = seats_by_code(ticketd, eid, h)
    assert sorted(c for c, x in now.items() if x["status"] == "BLOCKED") == ["BAL-A-1", "ST-A-1", "ST-A-2"]
    if "ETag" in before.headers:  # a cached snapshot never answers 304 for a stale version
        again = ticketd.session.get(ticketd.url(f"{API}/events/{eid}/seats"), params={"limit": 500},
                                    headers={**h, "If-None-Match": before.headers["ETag"]}, timeout=10)
        assert again.status_code == 200, "the seat map changed, so the old ETag must not match"
        assert {x["id"] for x in again.json()["data"] if x["status"] == "BLOCKED"} == set(chosen)
    ev = get_event(ticketd, eid, h)
    assert ev["availability"] == {"total": SMALL_SEATS, "available": SMALL_SEATS - 3, "reserved": 0, "sold": 0, "blocked": 3}
    assert ev["inventoryVersion"] > v0
    [tt] = ev["ticketTypes"]
    assert tt["id"] == prem["id"] and tt["availability"] == {"total": 8, "available": 6, "reserved": 0, "sold": 0, "blocked": 2}

    publish(ticketd, s.admin, eid)
    assert sorted(x["seatCode"] for x in all_seats(ticketd, eid, status="BLOCKED")) == ["BAL-A-1", "ST-A-1", "ST-A-2"]

    res = patch_seats(ticketd, h, eid, seatIds=chosen[:1] + chosen[2:], status="AVAILABLE")
    assert res.status_code == 200, res.text
    assert res.json()["data"]["updated"] == 2
    assert all(x["status"] == "AVAILABLE" for x in res.json()["data"]["seats"])
    assert [x["seatCode"] for x in all_seats(ticketd, eid, status="BLOCKED")] == ["ST-A-2"]
    ev = get_event(ticketd, eid)
    assert ev["availability"] == {"total": SMALL_SEATS, "available": SMALL_SEATS - 1, "reserved": 0, "sold": 0, "blocked": 1}
    assert AVAILABILITY_KEYS == set(ev["ticketTypes"][0]["availability"])
    assert ev["ticketTypes"][0]["availability"]["blocked"] == 1


def test_bulk_seat_admin_validation(ticketd):
    s = scenario(ticketd)
    eid, h = s.event["id"], s.admin["h"]
    seats = seats_by_code(ticketd, eid, h)
    a = seats["ST-A-1"]["id"]
    other = make_event(ticketd, s.admin, s.org["id"], s.venue["id"])
    foreign_seat = all_seats(ticketd, other["id"], h)[0]["id"]
    ga = create_tt(ticketd, s.admin, eid, name="GA", priceCents=1, totalCapacity=10)
    other_seated = create_tt(ticketd, s.admin, other["id"], name="Seated elsewhere", priceCents=1)

    unknown = patch_seats(ticketd, h, eid, seatIds=[a, str(uuid.uuid4()), foreign_seat], status="BLOCKED")
    assert unknown.status_code == 422, unknown.text
    assert sorted(errors(unknown)) == [("UNKNOWN_SEAT", "seatIds[1]"), ("UNKNOWN_SEAT", "seatIds[2]")]

    for body, status, code in (
            ({"seatIds": [a]}, 422, None),  # nothing to change
            ({"seatIds": [], "status": "BLOCKED"}, 422, None),
            ({"status": "BLOCKED"}, 422, None),
            ({"seatIds": [a], "status": "SOLD"}, 422, None),
            ({"seatIds": [a], "status": "RESERVED"}, 422, None),
            ({"seatIds": [a], "status": "blocked"}, 422, None),
            ({"seatIds": [a], "priceCents": -1}, 422, None),
            ({"seatIds": [a], "status": "BLOCKED", "reason": "VIP"}, 422, None),
            ({"seatIds": ["seat-1"], "status": "BLOCKED"}, 422, None),
            ({"seatIds": [str(uuid.uuid4()) for _ in range(5001)], "status": "BLOCKED"}, 422, None),
            ({"seatIds": [a], "ticketTypeId": str(uuid.uuid4())}, 422, "UNKNOWN_TICKET_TYPE"),
            ({"seatIds": [a], "ticketTypeId": ga["id"]}, 422, "UNKNOWN_TICKET_TYPE"),
            ({"seatIds": [a], "ticketTypeId": other_seated["id"]}, 422, "UNKNOWN_TICKET_TYPE"),
            ({"seatIds": a, "status": "BLOCKED"}, 400, None),
            ({"seatIds": [a], "priceCents": "5"}, 400, None),
            ({"seatIds": [a], "status": True}, 400, None)):
        res = patch_seats(ticketd, h, eid, **body)
        assert res.status_code == status, (str(body)[:200], res.text[:500])
        if code:
            assert code in codes(res), res.text
    # All-or-nothing: nothing above changed anything.
    after = seats_by_code(ticketd, eid, h)["ST-A-1"]
    assert (after["status"], after["priceCents"], after["ticketTypeId"]) == ("AVAILABLE", None, None)
    assert get_event(ticketd, eid, h)["availability"]["blocked"] == 0
    assert all(x["status"] == "AVAILABLE" for x in all_seats(ticketd, other["id"], h))


def test_bulk_ticket_type_binding(ticketd):
    s = scenario(ticketd)
    eid, h = s.event["id"], s.admin["h"]
    cheap = create_tt(ticketd, s.admin, eid, name="Cheap", priceCents=700, feesCents=30)
    assert cheap["kind"] == "SEATED" and cheap["seatCount"] == 0
    seats = seats_by_code(ticketd, eid, h)
    pair = [seats["BAL-A-1"]["id"], seats["BAL-A-2"]["id"]]
    res = patch_seats(ticketd, h, eid, seatIds=pair, ticketTypeId=cheap["id"])
    assert res.status_code == 200, res.text
    assert res.json()["data"]["updated"] == 2
    assert all((x["ticketTypeId"], x["priceCents"], x["feesCents"]) == (cheap["id"], 700, 30) for x in res.json()["data"]["seats"])
    assert list_tts(ticketd, eid, h)[cheap["id"]]["seatCount"] == 2
    res = patch_seats(ticketd, h, eid, seatIds=pair[:1], ticketTypeId=None)
    assert res.status_code == 200, res.text
    now = seats_by_code(ticketd, eid, h)
    assert (now["BAL-A-1"]["ticketTypeId"], now["BAL-A-1"]["priceCents"], now["BAL-A-1"]["feesCents"]) == (None, None, None)
    assert (now["BAL-A-2"]["ticketTypeId"], now["BAL-A-2"]["priceCents"]) == (cheap["id"], 700)
    assert list_tts(ticketd, eid, h)[cheap["id"]]["seatCount"] == 1


# --------------------------------------------------------------------------------------------
# Seat sync after a layout change
# --------------------------------------------------------------------------------------------

def test_seat_sync_adds_the_seats_of_new_sections(ticketd):
    s = scenario(ticketd)
    eid, h = s.event["id"], s.admin["h"]
    first = sync(ticketd, h, eid)
    assert first.status_code == 200, first.text
    assert first.json()["data"] == {"added": 0, "seatCount": SMALL_SEATS}

    added = ticketd.post(f"{API}/venues/{s.venue['id']}/sections", headers=h, json={"sections": [
        {"name": "Gallery", "code": "GAL", "sortOrder": 3, "rows": [
            {"name": "A", "sortOrder": 1, "seatCount": 3},
            {"name": "B", "sortOrder": 2, "seats": [{"seatNumber": 9}, {"seatNumber": 4}]},
        ]}]})
    assert added.status_code == 201, added.text
    assert seat_page(ticketd, eid, h).json()["meta"]["total"] == SMALL_SEATS, "existing events change only on sync"

    res = sync(ticketd, h, eid)
    assert res.status_code == 200, res.text
    assert res.json()["data"] == {"added": 5, "seatCount": SMALL_SEATS + 5}
    again = sync(ticketd, h, eid)
    assert again.status_code == 200 and again.json()["data"] == {"added": 0, "seatCount": SMALL_SEATS + 5}, again.text
    seats = all_seats(ticketd, eid, h)
    assert [x["seatCode"] for x in seats[-5:]] == ["GAL-A-1", "GAL-A-2", "GAL-A-3", "GAL-B-4", "GAL-B-9"]
    assert all(x["status"] == "AVAILABLE" for x in seats[-5:])
    ev = get_event(ticketd, eid, h)
    assert ev["seatCount"] == SMALL_SEATS + 5 and ev["availability"]["total"] == SMALL_SEATS + 5
    # A new event gets the whole current layout; a published event still syncs (nothing to add).
    assert make_event(ticketd, s.admin, s.org["id"], s.venue["id"])["seatCount"] == SMALL_SEATS + 5
    publish(ticketd, s.admin, eid)
    assert sync(ticketd, h, eid).json()["data"] == {"added": 0, "seatCount": SMALL_SEATS + 5}


# --------------------------------------------------------------------------------------------
# Several instances share the cache invalidation
# --------------------------------------------------------------------------------------------

def test_changes_on_one_instance_are_visible_on_another(ticketd):
    s = scenario(ticketd)
    eid, h, L = s.event["id"], s.admin["h"], s.layout
    target = seats_by_code(ticketd, eid, h)["ST-A-3"]["id"]
    b = Ticketd()
    try:
        bh = login(b, s.admin)

        def codes_on(t, hh):
            return {x["seatCode"]: x for x in all_seats(t, eid, hh)}

        # Warm instance A's snapshot and event views (twice, so a cache would certainly serve them).
        for _ in range(2):
            assert codes_on(ticketd, h)["ST-A-3"]["status"] == "AVAILABLE"
            assert get_event(ticketd, eid, h)["availability"]["blocked"] == 0
            assert ticketd.get(event_url(eid)).status_code == 404
        assert codes_on(b, bh)["ST-A-3"]["status"] == "AVAILABLE"

        res = patch_seats(b, bh, eid, seatIds=[target], status="BLOCKED")
        assert res.status_code == 200, res.text
        seen = poll(lambda: codes_on(ticketd, h), lambda m: m["ST-A-3"]["status"] == "BLOCKED")
        assert seen["ST-A-3"]["status"] == "BLOCKED", "instance A served a stale seat map"
        ev = poll(lambda: get_event(ticketd, eid, h), lambda e: e["availability"]["blocked"] == 1)
        assert ev["availability"]["blocked"] == 1

        tt = b.post(tt_url(eid), json={"name": "Balcony", "priceCents": 4200, "sectionIds": [L["BAL"]["id"]]}, headers=bh)
        assert tt.status_code == 201, tt.text
        seen = poll(lambda: codes_on(ticketd, h), lambda m: m["BAL-A-1"]["priceCents"] == 4200)
        assert (seen["BAL-A-1"]["priceCents"], seen["BAL-A-1"]["ticketTypeId"]) == (4200, tt.json()["data"]["id"])

        pub = patch(b, event_url(eid), json={"status": "PUBLISHED"}, headers=bh)
        assert pub.status_code == 200, pub.text
        anon = poll(lambda: ticketd.get(event_url(eid)), lambda r: r.status_code == 200)
        assert anon.status_code == 200, "publication on B not visible on A"
        assert anon.json()["data"]["status"] == "PUBLISHED"
        assert get_event(ticketd, eid, h)["status"] == "PUBLISHED"
        assert codes_on(ticketd, None)["ST-A-3"]["status"] == "BLOCKED"

        # And the other way round: B's warm snapshot follows a change made on A.
        assert codes_on(b, None)["ST-A-3"]["status"] == "BLOCKED"
        assert patch_seats(ticketd, h, eid, seatIds=[target], status="AVAILABLE").status_code == 200
        seen = poll(lambda: codes_on(b, None), lambda m: m["ST-A-3"]["status"] == "AVAILABLE")
        assert seen["ST-A-3"]["status"] == "AVAILABLE", "instance B served a stale seat map"
    finally:
        assert b.stop() == 0, "".join(b.lines[-20:])


def test_list_etag_changes_when_only_the_total_does(ticketd):
    s = scenario(ticketd)
    q = {"orgId": s.org["id"], "limit": 1}
    first = ticketd.get(f"{API}/events", params=q, headers=s.admin["h"])
    etag = first.headers["ETag"]
    assert ticketd.get(f"{API}/events", params=q, headers={**s.admin["h"], "If-None-Match": etag}).status_code == 304
    make_event(ticketd, s.admin, s.org["id"], s.venue["id"], startsAt="2032-01-01T00:00:00Z")  # sorts after
    again = ticketd.get(f"{API}/events", params=q, headers={**s.admin["h"], "If-None-Match": etag})
    assert again.status_code == 200
    assert again.json()["data"] == first.json()["data"]
    assert again.json()["meta"]["total"] == first.json()["meta"]["total"] + 1


def test_repeated_seat_ids_are_changed_and_reported_once(ticketd):
    s = scenario(ticketd)
    seat = all_seats(ticketd, s.event["id"], s.admin["h"])[0]["id"]
    res = patch_seats(ticketd, s.admin["h"], s.event["id"], seatIds=[seat, seat], status="BLOCKED")
    assert res.status_code == 200, res.text
    assert res.json()["data"]["updated"] == 1
    assert [x["id"] for x in res.json()["data"]["seats"]] == [seat]
