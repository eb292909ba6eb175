"""Venue layouts end to end: creation in one call, the layout read back, limits, validation, tenancy."""
import copy
import json
import uuid

import pytest

from layout import (API, SMALL_SEATS, VENUE_KEYS, add_member, all_seats, fields, get_venue, make_event,
                    make_venue, post_streamed, sections_by_code, seat_page, small_sections, tag, ts, venue_body)
from test_orgs import codes, make_org, user


def venues_url(org_id):
    return f"{API}/orgs/{org_id}/venues"


def test_create_venue_mixing_seat_counts_and_explicit_seats(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    body = {
        "name": "Royal Hall", "address": "1 Main Street", "city": "Springfield", "country": "US",
        "timezone": "America/New_York",
        "sections": [
            {"name": "Stalls", "code": "st", "sortOrder": 1, "rows": [
                {"name": "A", "sortOrder": 1, "seatCount": 12},
                {"name": "B", "sortOrder": 2, "seats": [
                    {"seatNumber": 1, "label": "B-one", "x": 1.5, "y": -2.25},
                    {"seatNumber": 5},
                    {"seatNumber": 3, "x": 0, "y": 0},
                ]},
            ]},
            {"name": "Upper Tier 2!", "sortOrder": 2, "rows": [{"name": "row_1", "seatCount": 2}]},
        ],
    }
    res = ticketd.post(venues_url(org["id"]), json=body, headers=admin["h"])
    assert res.status_code == 201, res.text
    venue = res.json()["data"]
    assert VENUE_KEYS <= set(venue), venue
    uuid.UUID(venue["id"])
    ts(venue["createdAt"])
    assert {k: venue[k] for k in ("orgId", "name", "address", "city", "country", "timezone")} == {
        "orgId": org["id"], "name": "Royal Hall", "address": "1 Main Street", "city": "Springfield",
        "country": "US", "timezone": "America/New_York"}
    assert (venue["sectionCount"], venue["rowCount"], venue["seatCount"]) == (2, 3, 17)

    got = get_venue(ticketd, admin, venue["id"])
    assert {k: got[k] for k in VENUE_KEYS} == {k: venue[k] for k in VENUE_KEYS}
    by_code = sections_by_code(got)
    # The given code is uppercased; an absent one is derived from the name's letters and digits.
    assert set(by_code) == {"ST", "UPPERTIER2"}
    st, upper = by_code["ST"], by_code["UPPERTIER2"]
    assert (st["name"], st["sortOrder"]) == ("Stalls", 1)
    assert (upper["name"], upper["sortOrder"]) == ("Upper Tier 2!", 2)
    assert {r["name"]: r["seatCount"] for r in st["rows"]} == {"A": 12, "B": 3}
    assert {r["name"]: r["seatCount"] for r in upper["rows"]} == {"row_1": 2}
    assert {r["name"]: r["sortOrder"] for r in st["rows"]} == {"A": 1, "B": 2}
    ids = [s["id"] for s in got["sections"]] + [r["id"] for s in got["sections"] for r in s["rows"]]
    assert len(set(ids)) == 5
    for i in ids:
        uuid.UUID(i)

    # The seats themselves are visible through an event's seat map: codes, labels, coordinates.
    event = make_event(ticketd, admin, org["id"], venue["id"])
    assert event["seatCount"] == 17
    seats = {s["seatCode"]: s for s in all_seats(ticketd, event["id"], admin["h"])}
    assert len(seats) == 17
    assert {f"ST-A-{n}" for n in range(1, 13)} | {"ST-B-1", "ST-B-3", "ST-B-5", "UPPERTIER2-row_1-1",
                                                  "UPPERTIER2-row_1-2"} == set(seats)
    b1 = seats["ST-B-1"]
    assert (b1["label"], b1["seatNo"], b1["seatNumber"], b1["x"], b1["y"]) == ("B-one", "B-one", 1, 1.5, -2.25)
    b5 = seats["ST-B-5"]
    assert (b5["label"], b5["seatNo"], b5["seatNumber"], b5["x"], b5["y"]) == (None, "5", 5, None, None)
    assert (seats["ST-B-3"]["x"], seats["ST-B-3"]["y"]) == (0, 0)
    assert seats["ST-A-12"]["seatNo"] == "12"
    assert {s["sectionId"] for c, s in seats.items() if c.startswith("ST-")} == {st["id"]}
    assert seats["UPPERTIER2-row_1-2"]["rowId"] == upper["rowIds"]["row_1"]


def test_section_codes_derived_from_long_names_are_truncated(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    venue = make_venue(ticketd, admin, org["id"], [
        {"name": "Grand Circle Left Side 2024", "rows": [{"name": "1", "seatCount": 1}]},
        {"name": "a_b", "code": "ab_9", "rows": [{"name": "1", "seatCount": 1}]},
    ])
    assert set(sections_by_code(get_venue(ticketd, admin, venue["id"]))) == {"GRANDCIRCLELEFTS", "AB_9"}
    underivable = ticketd.post(venues_url(org["id"]), json=venue_body([{"name": "*** !!!", "rows": [{"name": "1", "seatCount": 1}]}]),
                               headers=admin["h"])
    assert underivable.status_code == 422, underivable.text
    assert "INVALID_CODE" in codes(underivable)


def test_list_venues_is_paginated_newest_first(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    made = [make_venue(ticketd, admin, org["id"]) for _ in range(3)]
    p1 = ticketd.get(venues_url(org["id"]) + "?page=1&limit=2", headers=admin["h"])
    assert p1.status_code == 200, p1.text
    p1 = p1.json()
    assert [v["id"] for v in p1["data"]] == [made[2]["id"], made[1]["id"]]
    assert p1["meta"]["total"] == 3 and p1["meta"]["hasNext"] is True
    assert p1["meta"]["page"] == 1 and p1["meta"]["limit"] == 2
    assert VENUE_KEYS <= set(p1["data"][0])
    assert p1["data"][0]["seatCount"] == SMALL_SEATS and p1["data"][0]["sectionCount"] == 2
    p2 = ticketd.get(venues_url(org["id"]) + "?page=2&limit=2", headers=admin["h"]).json()
    assert [v["id"] for v in p2["data"]] == [made[0]["id"]]
    assert p2["meta"]["hasNext"] is False
    beyond = ticketd.get(venues_url(org["id"]) + "?page=9&limit=2", headers=admin["h"]).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 3 and beyond["meta"]["hasNext"] is False
    for q in ("limit=0", "limit=101", "page=0"):
        assert ticketd.get(venues_url(org["id"]) + "?" + q, headers=admin["h"]).status_code == 422, q
    # Another organization's list is its own.
    other = user(ticketd)
    other_org = make_org(ticketd, other)
    assert ticketd.get(venues_url(other_org["id"]), headers=other["h"]).json()["meta"]["total"] == 0


@pytest.fixture(scope="module")
def owner(ticketd):
    """An admin and organization for validation cases, which create nothing."""
    admin = user(ticketd)
    return admin, make_org(ticketd, admin)


def row(**kw):
    return {"name": "R" + str(kw.pop("n", 1)), **kw}


def one_section(*rows, **kw):
    return [{"name": "Main", "code": "M", "rows": list(rows), **kw}]


def seats(*numbers):
    return [{"seatNumber": n} for n in numbers]


# (sections or whole-body override, expected error code or None, expected field or None)
LAYOUT_422 = {
    "duplicate section code": (
        [{"name": "One", "code": "A", "rows": [row(seatCount=1)]},
         {"name": "Two", "code": "a", "rows": [row(seatCount=1)]}],
        "DUPLICATE_SECTION_CODE", "sections[1].code"),
    "duplicate derived section code": (
        [{"name": "Stalls", "rows": [row(seatCount=1)]}, {"name": "stalls", "rows": [row(seatCount=1)]}],
        "DUPLICATE_SECTION_CODE", "sections[1].code"),
    "duplicate row name": (
        one_section(row(n="A", seatCount=2), row(n="B", seatCount=2), row(n="A", seatCount=2)),
        "DUPLICATE_ROW", "sections[0].rows[2].name"),
    "duplicate seat number": (
        one_section(row(n="A", seatCount=1), row(n="B", seats=seats(1, 2, 2))),
        "DUPLICATE_SEAT", "sections[0].rows[1].seats[2].seatNumber"),
    "empty sections": ([], None, "sections"),
    "empty rows": (one_section(), None, "sections[0].rows"),
    "empty seats": (one_section(row(seats=[])), None, "sections[0].rows[0].seats"),
    "seatCount 0": (one_section(row(seatCount=0)), None, "sections[0].rows[0].seatCount"),
    "seatCount 1001": (one_section(row(seatCount=1001)), None, "sections[0].rows[0].seatCount"),
    "seatCount 100000": (one_section(row(seatCount=100000)), None, "sections[0].rows[0].seatCount"),
    "1001 explicit seats": (one_section(row(seats=seats(*range(1, 1002)))), None, "sections[0].rows[0].seats"),
    "seatNumber 0": (one_section(row(seats=seats(0))), None, "sections[0].rows[0].seats[0].seatNumber"),
    "seatNumber 100001": (one_section(row(seats=seats(1, 100001))), None, "sections[0].rows[0].seats[1].seatNumber"),
    "empty label": (one_section(row(seats=[{"seatNumber": 1, "label": ""}])), None, "sections[0].rows[0].seats[0].label"),
    "33-char label": (one_section(row(seats=[{"seatNumber": 1, "label": "L" * 33}])), None,
                      "sections[0].rows[0].seats[0].label"),
    "more than VENUE_MAX_SEATS": (one_section(*[row(n=i, seatCount=1000) for i in range(101)]), "TOO_MANY_SEATS", None),
    "501 sections": ([{"name": f"S{i}", "code": f"S{i}", "rows": [row(seatCount=1)]} for i in range(501)],
                     None, "sections"),
    "1001 rows": (one_section(*[row(n=i, seatCount=1) for i in range(1001)]), None, "sections[0].rows"),
    "code with a dash": ([{"name": "Main", "code": "A-1", "rows": [row(seatCount=1)]}], None, "sections[0].code"),
    "code with a space": ([{"name": "Main", "code": "A 1", "rows": [row(seatCount=1)]}], None, "sections[0].code"),
    "17-char code": ([{"name": "Main", "code": "C" * 17, "rows": [row(seatCount=1)]}], None, "sections[0].code"),
    "empty code": ([{"name": "Main", "code": "", "rows": [row(seatCount=1)]}], None, "sections[0].code"),
    "row name with a space": (one_section({"name": "Row 1", "seatCount": 1}), None, "sections[0].rows[0].name"),
    "row name with a dash": (one_section({"name": "R-1", "seatCount": 1}), None, "sections[0].rows[0].name"),
    "17-char row name": (one_section({"name": "R" * 17, "seatCount": 1}), None, "sections[0].rows[0].name"),
    "empty section name": ([{"name": "", "code": "M", "rows": [row(seatCount=1)]}], None, "sections[0].name"),
    "101-char section name": ([{"name": "n" * 101, "code": "M", "rows": [row(seatCount=1)]}], None, "sections[0].name"),
    "empty venue name": ({"name": "", "sections": one_section(row(seatCount=1))}, None, "name"),
    "201-char venue name": ({"name": "v" * 201, "sections": one_section(row(seatCount=1))}, None, "name"),
    "501-char address": ({"name": "v", "address": "a" * 501, "sections": one_section(row(seatCount=1))}, None, "address"),
    "201-char city": ({"name": "v", "city": "c" * 201, "sections": one_section(row(seatCount=1))}, None, "city"),
    "empty timezone": ({"name": "v", "timezone": "", "sections": one_section(row(seatCount=1))}, None, "timezone"),
    "65-char timezone": ({"name": "v", "timezone": "t" * 65, "sections": one_section(row(seatCount=1))}, None, "timezone"),
    "missing sections": ({"name": "v"}, None, "sections"),
    "missing name": ({"sections": one_section(row(seatCount=1))}, None, "name"),
    "unknown top-level field": ({"name": "v", "capacity": 5, "sections": one_section(row(seatCount=1))}, None, "capacity"),
}


@pytest.mark.parametrize("case", list(LAYOUT_422))
def test_layout_validation_is_422(ticketd, owner, case):
    admin, org = owner
    spec, code, field = LAYOUT_422[case]
    body = copy.deepcopy(spec) if isinstance(spec, dict) else venue_body(copy.deepcopy(spec))
    res = ticketd.post(venues_url(org["id"]), json=body, headers=admin["h"])
    assert res.status_code == 422, res.text
    if code:
        assert code in codes(res), res.text
    if field:
        assert field in fields(res), res.text


@pytest.mark.parametrize("both", [True, False], ids=["both seatCount and seats", "neither"])
def test_a_row_needs_exactly_one_of_seat_count_and_seats(ticketd, owner, both):
    admin, org = owner
    r = {"name": "A", "seatCount": 2, "seats": seats(1, 2)} if both else {"name": "A"}
    res = ticketd.post(venues_url(org["id"]), json=venue_body(one_section(r)), headers=admin["h"])
    assert res.status_code == 422, res.text
    assert any(f and f.startswith("sections[0].rows[0]") for f in fields(res)), res.text


@pytest.mark.parametrize("where", ["section", "row", "seat"])
def test_unknown_nested_fields_are_422(ticketd, owner, where):
    admin, org = owner
    sections = one_section(row(seats=seats(1)))
    target = {"section": sections[0], "row": sections[0]["rows"][0], "seat": sections[0]["rows"][0]["seats"][0]}[where]
    target["colour"] = "red"
    res = ticketd.post(venues_url(org["id"]), json=venue_body(sections), headers=admin["h"])
    assert res.status_code == 422, res.text
    assert any(f and "colour" in f for f in fields(res)), res.text


WRONG_TYPES = {
    "name number": {"name": 5, "sections": one_section(row(seatCount=1))},
    "sections string": {"name": "v", "sections": "A,B"},
    "section number": {"name": "v", "sections": [5]},
    "rows object": {"name": "v", "sections": [{"name": "M", "rows": {"name": "A", "seatCount": 1}}]},
    "seatCount string": {"name": "v", "sections": one_section(row(seatCount="10"))},
    "seatCount boolean": {"name": "v", "sections": one_section(row(seatCount=True))},
    "sortOrder string": {"name": "v", "sections": one_section(row(seatCount=1, sortOrder="1"))},
    "seatNumber string": {"name": "v", "sections": one_section(row(seats=[{"seatNumber": "1"}]))},
    "x string": {"name": "v", "sections": one_section(row(seats=[{"seatNumber": 1, "x": "1.5"}]))},
    "label number": {"name": "v", "sections": one_section(row(seats=[{"seatNumber": 1, "label": 7}]))},
    "code number": {"name": "v", "sections": [{"name": "M", "code": 12, "rows": [row(seatCount=1)]}]},
    "address array": {"name": "v", "address": ["x"], "sections": one_section(row(seatCount=1))},
}


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_wrong_json_types_are_400(ticketd, owner, case):
    admin, org = owner
    res = ticketd.post(venues_url(org["id"]), json=WRONG_TYPES[case], headers=admin["h"])
    assert res.status_code == 400, res.text
    assert res.json()["success"] is False


def test_malformed_layout_json_is_400(ticketd, owner):
    admin, org = owner
    res = ticketd.post(venues_url(org["id"]), data=b'{"name": "v", "sections": [', headers={
        **admin["h"], "Content-Type": "application/json"})
    assert res.status_code == 400, res.text


def test_an_invalid_layout_creates_nothing(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    sections = small_sections()
    sections[1]["rows"][0]["seats"].append({"seatNumber": 2})  # the very last seat is a duplicate
    res = ticketd.post(venues_url(org["id"]), json=venue_body(sections), headers=admin["h"])
    assert res.status_code == 422, res.text
    assert codes(res) == ["DUPLICATE_SEAT"]
    assert fields(res) == ["sections[1].rows[0].seats[3].seatNumber"]
    listed = ticketd.get(venues_url(org["id"]), headers=admin["h"]).json()
    assert listed["data"] == [] and listed["meta"]["total"] == 0


def test_layout_bodies_above_the_general_1_mib_limit_are_accepted(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    text = json.dumps(venue_body())
    padded = (text[:-1] + " " * (2 << 20) + "}").encode()  # valid JSON, 2 MiB of whitespace
    res = ticketd.session.post(ticketd.url(venues_url(org["id"])), data=padded, timeout=30,
                               headers={**admin["h"], "Content-Type": "application/json"})
    assert res.status_code == 201, res.text[:500]
    assert res.json()["data"]["seatCount"] == SMALL_SEATS


def test_layout_body_over_16_mib_is_413(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    status, raw = post_streamed(ticketd, venues_url(org["id"]), {**admin["h"], "X-Request-Id": "big-venue"},
                                17 << 20)
    assert status is not None, f"no HTTP response to a 17 MiB body: {raw[:200]!r}"
    assert status == 413, raw[:500]
    assert b"PAYLOAD_TOO_LARGE" in raw
    assert b"big-venue" in raw
    # Nothing was created, and the server still serves.
    assert ticketd.get(venues_url(org["id"]), headers=admin["h"]).json()["meta"]["total"] == 0


def test_support_reads_but_cannot_write_venues(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    support = add_member(ticketd, admin, org, "SUPPORT")
    staff = add_member(ticketd, admin, org, "ORG_STAFF")
    denied = ticketd.post(venues_url(org["id"]), json=venue_body(), headers=support["h"])
    assert denied.status_code == 403, denied.text
    venue = make_venue(ticketd, staff, org["id"])  # staff may write
    assert get_venue(ticketd, support, venue["id"])["id"] == venue["id"]
    assert ticketd.get(venues_url(org["id"]), headers=support["h"]).json()["meta"]["total"] == 1
    add = ticketd.post(f"{API}/venues/{venue['id']}/sections",
                       json={"sections": [{"name": "Extra", "rows": [{"name": "A", "seatCount": 1}]}]},
                       headers=support["h"])
    assert add.status_code == 403, add.text
    assert get_venue(ticketd, admin, venue["id"])["sectionCount"] == 2


def test_other_organizations_get_404_and_anonymous_401(ticketd):
    admin, outsider = user(ticketd), user(ticketd)
    org = make_org(ticketd, admin)
    make_org(ticketd, outsider)  # staff (admin) of another organization
    venue = make_venue(ticketd, admin, org["id"])
    more = {"sections": [{"name": "Extra", "rows": [{"name": "A", "seatCount": 1}]}]}
    assert ticketd.get(f"{API}/venues/{venue['id']}", headers=outsider["h"]).status_code == 404
    assert ticketd.get(venues_url(org["id"]), headers=outsider["h"]).status_code == 404
    assert ticketd.post(venues_url(org["id"]), json=venue_body(), headers=outsider["h"]).status_code == 404
    assert ticketd.post(f"{API}/venues/{venue['id']}/sections", json=more, headers=outsider["h"]).status_code == 404
    assert ticketd.get(f"{API}/venues/{uuid.uuid4()}", headers=admin["h"]).status_code == 404
    assert ticketd.post(venues_url(str(uuid.uuid4())), json=venue_body(), headers=admin["h"]).status_code == 404
    assert ticketd.post(venues_url(org["id"]), json=venue_body()).status_code == 401
    assert ticketd.get(f"{API}/venues/{venue['id']}").status_code == 401
    assert get_venue(ticketd, admin, venue["id"])["sectionCount"] == 2
    assert ticketd.get(venues_url(org["id"]), headers=admin["h"]).json()["meta"]["total"] == 1


def test_api_keys_act_as_staff_of_their_organization(ticketd):
    admin, other = user(ticketd), user(ticketd)
    org = make_org(ticketd, admin)
    other_org = make_org(ticketd, other)
    created = ticketd.post(f"{API}/orgs/{org['id']}/api-keys", json={"name": "layout tool"}, headers=admin["h"])
    assert created.status_code == 201, created.text
    kh = {"X-Api-Key": created.json()["data"]["key"]}
    res = ticketd.post(venues_url(org["id"]), json=venue_body(), headers=kh)
    assert res.status_code == 201, res.text
    assert ticketd.get(f"{API}/venues/{res.json()['data']['id']}", headers=kh).status_code == 200
    assert ticketd.post(venues_url(other_org["id"]), json=venue_body(), headers=kh).status_code == 404


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "' OR 1=1 --"])
def test_non_uuid_venue_ids_are_404(ticketd, bad):
    admin = user(ticketd)
    assert ticketd.get(f"{API}/venues/{bad}", headers=admin["h"]).status_code == 404
    assert ticketd.get(f"{API}/orgs/{bad}/venues", headers=admin["h"]).status_code == 404
    assert ticketd.post(f"{API}/orgs/{bad}/venues", json=venue_body(), headers=admin["h"]).status_code == 404
    more = {"sections": [{"name": "Extra", "rows": [{"name": "A", "seatCount": 1}]}]}
    assert ticketd.post(f"{API}/venues/{bad}/sections", json=more, headers=admin["h"]).status_code == 404


def test_add_sections_to_a_venue(ticketd):
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    venue = make_venue(ticketd, admin, org["id"])
    url = f"{API}/venues/{venue['id']}/sections"
    res = ticketd.post(url, json={"sections": [
        {"name": "Gallery", "code": "gal", "sortOrder": 3, "rows": [
            {"name": "A", "sortOrder": 1, "seatCount": 5},
            {"name": "B", "sortOrder": 2, "seats": [{"seatNumber": 7, "label": "B7"}]},
        ]},
        {"name": "Box 1", "sortOrder": 4, "rows": [{"name": "A", "seatCount": 2}]},
    ]}, headers=admin["h"])
    assert res.status_code == 201, res.text
    summary = res.json()["data"]
    assert VENUE_KEYS <= set(summary)
    assert summary["id"] == venue["id"]
    assert (summary["sectionCount"], summary["rowCount"], summary["seatCount"]) == (4, 6, SMALL_SEATS + 8)
    by_code = sections_by_code(get_venue(ticketd, admin, venue["id"]))
    assert set(by_code) == {"ST", "BAL", "GAL", "BOX1"}
    assert {r["name"]: r["seatCount"] for r in by_code["GAL"]["rows"]} == {"A": 5, "B": 1}

    # A code already used in the venue, or twice in the request, is refused and nothing is added.
    taken = ticketd.post(url, json={"sections": [
        {"name": "New", "code": "NEW", "rows": [{"name": "A", "seatCount": 1}]},
        {"name": "Stalls again", "code": "st", "rows": [{"name": "A", "seatCount": 1}]},
    ]}, headers=admin["h"])
    assert taken.status_code == 422, taken.text
    assert "DUPLICATE_SECTION_CODE" in codes(taken)
    assert "sections[1].code" in fields(taken)
    twice = ticketd.post(url, json={"sections": [
        {"name": "X", "code": "XX", "rows": [{"name": "A", "seatCount": 1}]},
        {"name": "Y", "code": "XX", "rows": [{"name": "A", "seatCount": 1}]},
    ]}, headers=admin["h"])
    assert twice.status_code == 422 and "DUPLICATE_SECTION_CODE" in codes(twice), twice.text
    assert ticketd.post(url, json={"sections": []}, headers=admin["h"]).status_code == 422
    assert ticketd.post(url, json={"sections": [{"name": "Z", "rows": []}]}, headers=admin["h"]).status_code == 422
    assert ticketd.post(url, json={"sections": [{"name": "Z", "rows": [{"name": "A", "seatCount": 1}]}],
                                   "name": "rename"}, headers=admin["h"]).status_code == 422
    after = get_venue(ticketd, admin, venue["id"])
    assert set(sections_by_code(after)) == {"ST", "BAL", "GAL", "BOX1"}
    assert after["seatCount"] == SMALL_SEATS + 8


def test_fifty_thousand_seat_venue_in_one_call(ticketd):
    """The one big test: 50 sections x 20 rows x 50 seats, then an event with all of those seats."""
    admin = user(ticketd)
    org = make_org(ticketd, admin)
    sections = [{"name": f"Section {i}", "code": f"S{i:02d}", "sortOrder": i,
                 "rows": [{"name": f"R{j:02d}", "sortOrder": j, "seatCount": 50} for j in range(20)]}
                for i in range(50)]
    res = ticketd.session.post(ticketd.url(venues_url(org["id"])), json=venue_body(sections),
                               headers=admin["h"], timeout=60)
    assert res.status_code == 201, res.text[:500]
    venue = res.json()["data"]
    assert (venue["sectionCount"], venue["rowCount"], venue["seatCount"]) == (50, 1000, 50000)
    got = ticketd.session.get(ticketd.url(f"{API}/venues/{venue['id']}"), headers=admin["h"], timeout=60).json()["data"]
    assert len(got["sections"]) == 50
    assert sum(r["seatCount"] for s in got["sections"] for r in s["rows"]) == 50000

    ev = ticketd.session.post(ticketd.url(f"{API}/events"), headers=admin["h"], timeout=60, json={
        "orgId": org["id"], "venueId": venue["id"], "title": "Stadium " + tag(), "startsAt": "2031-07-01T18:00:00Z"})
    assert ev.status_code == 201, ev.text[:500]
    event = ev.json()["data"]
    assert event["seatCount"] == 50000
    last = seat_page(ticketd, event["id"], admin["h"], timeout=60, page=100, limit=500)
    assert last.status_code == 200, last.text[:500]
    body = last.json()
    assert body["meta"]["total"] == 50000 and body["meta"]["hasNext"] is False
    assert len(body["data"]) == 500
    assert body["data"][-1]["seatCode"] == "S49-R19-50"
    assert body["data"][0]["seatCode"] == "S49-R10-1"


def test_outsiders_are_refused_before_their_layout_is_parsed(ticketd):
    """A non-member's (possibly huge, possibly invalid) layout is refused as 404 without validation."""
    admin, outsider = user(ticketd), user(ticketd)
    org = make_org(ticketd, admin)
    res = ticketd.post(venues_url(org["id"]), json={"name": "", "sections": "not a list"}, headers=outsider["h"])
    assert res.status_code == 404, res.text


def test_appended_sections_count_against_the_venue_seat_limit():
    from conftest import Ticketd
    t = Ticketd({"VENUE_MAX_SEATS": "30"})
    try:
        admin = user(t)
        org = make_org(t, admin)
        venue = make_venue(t, admin, org["id"], [{"name": "A", "rows": [{"name": "1", "seatCount": 20}]}])
        more = {"sections": [{"name": "B", "rows": [{"name": "1", "seatCount": 11}]}]}
        res = t.post(f"{API}/venues/{venue['id']}/sections", json=more, headers=admin["h"])
        assert res.status_code == 422, res.text
        assert codes(res) == ["TOO_MANY_SEATS"]
        more["sections"][0]["rows"][0]["seatCount"] = 10
        res = t.post(f"{API}/venues/{venue['id']}/sections", json=more, headers=admin["h"])
        assert res.status_code == 201, res.text
        assert res.json()["data"]["seatCount"] == 30
    finally:
        t.stop()
