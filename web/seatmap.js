// The live seat map of one event: the layout from GET /events/:id/seats (rendered once), the
// statuses from the SSE stream (only changed seats are touched), and sign-in, the waiting room of
// a flash sale, reserve, simulated payment and tickets through the public API. No framework, no
// build step.
const API = "/api/v1";
const $ = (id) => document.getElementById(id);

const state = {
  eventId: null,
  event: null,
  token: sessionStorage.getItem("ticketd.token"),
  email: sessionStorage.getItem("ticketd.email"),
  seats: new Map(), // id -> {el, status, label}
  picked: new Set(),
  mine: new Set(),
  hold: null, // the reservation being paid
  maxPick: 10,
  source: null,
  admission: null, // {token, expiresAt} from the waiting room, for this event
  waiting: false, // in the waiting room: reserving waits for admission
  queueTimer: null,
};

function say(text, error = false) {
  const m = $("message");
  m.textContent = text;
  m.classList.toggle("error", error);
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let res;
  try {
    res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { status: 0, body: null, error: "The server cannot be reached" };
  }
  let json = null;
  try {
    json = await res.json();
  } catch (e) {
    json = null;
  }
  const error = json && json.success === false ? (json.errors?.[0]?.message || json.message) : null;
  return { status: res.status, body: json, error };
}

function money(cents, currency) {
  if (cents == null) return "";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD" }).format(cents / 100);
  } catch (e) {
    return (cents / 100).toFixed(2) + " " + (currency || "");
  }
}

const STATUS_WORDS = { AVAILABLE: "available", RESERVED: "held", SOLD: "sold", BLOCKED: "not for sale" };

// ---------------------------------------------------------------------------------------------
// Rendering: once, then class changes on the seats that change.

function seatLabel(seat, status) {
  const word = state.mine.has(seat.id) ? "held by you" : state.picked.has(seat.id) ? "picked" : STATUS_WORDS[status] || status;
  return `${seat.sectionName}, row ${seat.rowName}, seat ${seat.seatNo}, ${word}${seat.price ? ", " + seat.price : ""}`;
}

function paint(id) {
  const s = state.seats.get(id);
  if (!s) return;
  const el = s.el;
  el.className = "seat s-" + s.status + (state.picked.has(id) ? " selected" : "") + (state.mine.has(id) ? " mine" : "");
  el.setAttribute("aria-pressed", state.picked.has(id) ? "true" : "false");
  el.setAttribute("aria-label", seatLabel(s, s.status));
  el.dataset.status = s.status;
}

function setStatus(id, status) {
  const s = state.seats.get(id);
  if (!s || s.status === status) return;
  s.status = status;
  if (status !== "AVAILABLE" && state.picked.has(id)) {
    state.picked.delete(id);
    updatePicked();
  }
  paint(id);
}

async function loadSeats(eventId) {
  const first = await api("GET", `/events/${eventId}/seats?limit=500&page=1`);
  if (first.status !== 200) throw new Error(first.error || `seats: HTTP ${first.status}`);
  let items = first.body.data;
  const pages = Math.ceil(first.body.meta.total / 500);
  const rest = [];
  for (let p = 2; p <= pages; p++) rest.push(api("GET", `/events/${eventId}/seats?limit=500&page=${p}`));
  for (const r of await Promise.all(rest)) {
    if (r.status !== 200) throw new Error(r.error || `seats: HTTP ${r.status}`);
    items = items.concat(r.body.data);
  }
  return items;
}

function render(items) {
  const map = $("map");
  const frag = document.createDocumentFragment();
  const rows = []; // for keyboard moves: arrays of buttons
  let section = null;
  let sectionEl = null;
  let rowKey = null;
  let rowEl = null;
  let rowButtons = null;
  const currency = state.event?.currency;
  for (const it of items) {
    if (it.sectionId !== section) {
      section = it.sectionId;
      sectionEl = document.createElement("div");
      sectionEl.className = "section";
      sectionEl.setAttribute("role", "group");
      sectionEl.setAttribute("aria-label", it.section);
      const h = document.createElement("h3");
      h.textContent = it.section;
      sectionEl.append(h);
      frag.append(sectionEl);
      rowKey = null;
    }
    if (it.rowId !== rowKey) {
      rowKey = it.rowId;
      rowEl = document.createElement("div");
      rowEl.className = "row";
      rowEl.setAttribute("role", "group");
      rowEl.setAttribute("aria-label", `${it.section}, row ${it.row}`);
      const name = document.createElement("span");
      name.className = "row-name";
      name.textContent = it.row;
      name.setAttribute("aria-hidden", "true");
      rowEl.append(name);
      sectionEl.append(rowEl);
      rowButtons = [];
      rows.push(rowButtons);
    }
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = it.seatNo;
    b.dataset.id = it.id;
    b.tabIndex = -1;
    b._row = rows.length - 1;
    b._col = rowButtons.length;
    rowEl.append(b);
    rowButtons.push(b);
    const price = it.priceCents != null ? money(it.priceCents + (it.feesCents || 0), currency) : "";
    state.seats.set(it.id, { id: it.id, el: b, status: it.status, seatNo: it.seatNo, sectionName: it.section, rowName: it.row, price });
    paint(it.id);
  }
  if (rows.length && rows[0].length) rows[0][0].tabIndex = 0;
  map.replaceChildren(frag);
  map.addEventListener("click", (e) => {
    const b = e.target.closest("button.seat");
    if (b) toggle(b.dataset.id);
  });
  map.addEventListener("keydown", (e) => {
    const b = e.target.closest("button.seat");
    if (!b) return;
    let r = b._row;
    let c = b._col;
    if (e.key === "ArrowRight") c++;
    else if (e.key === "ArrowLeft") c--;
    else if (e.key === "ArrowDown") r++;
    else if (e.key === "ArrowUp") r--;
    else return;
    e.preventDefault();
    if (r < 0 || r >= rows.length) return;
    c = Math.max(0, Math.min(c, rows[r].length - 1));
    const next = rows[r][c];
    b.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  });
}

// ---------------------------------------------------------------------------------------------
// Live statuses.

function setLink(kind, text) {
  const l = $("link");
  l.classList.toggle("live", kind === "live");
  l.classList.toggle("down", kind === "down");
  $("link-text").textContent = text;
}

function connect() {
  if (state.source) state.source.close();
  const src = new EventSource(`${API}/events/${state.eventId}/stream`);
  state.source = src;
  src.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    for (const s of snap.seats) setStatus(s.id, s.status);
    document.body.dataset.live = "true";
    setLink("live", "live");
  });
  src.addEventListener("seat.updated", (e) => {
    const upd = JSON.parse(e.data);
    for (const s of upd.seats) setStatus(s.id, s.status);
  });
  src.addEventListener("heartbeat", (e) => {
    const hb = JSON.parse(e.data);
    setLink(hb.live ? "live" : "down", hb.live ? "live" : "live updates paused, reconnecting…");
  });
  src.onerror = () => {
    document.body.dataset.live = "false";
    setLink("down", "reconnecting…");
  };
}

// ---------------------------------------------------------------------------------------------
// Picking, holding, paying.

function toggle(id) {
  const s = state.seats.get(id);
  if (!s) return;
  if (state.picked.has(id)) {
    state.picked.delete(id);
  } else {
    if (s.status !== "AVAILABLE" || state.mine.has(id)) {
      say(`Seat ${s.seatNo} is ${STATUS_WORDS[s.status] || s.status}.`);
      return;
    }
    if (state.picked.size >= state.maxPick) {
      say(`At most ${state.maxPick} seats per reservation.`);
      return;
    }
    state.picked.add(id);
  }
  paint(id);
  updatePicked();
}

function updatePicked() {
  const n = state.picked.size;
  if (n === 0) {
    $("picked").textContent = "No seats picked.";
  } else {
    const names = [...state.picked].map((id) => {
      const s = state.seats.get(id);
      return `${s.sectionName} ${s.rowName}-${s.seatNo}`;
    });
    $("picked").textContent = `${n} seat${n > 1 ? "s" : ""}: ${names.join(", ")}`;
  }
  $("reserve").disabled = n === 0 || !state.token || state.waiting;
}

function showUser() {
  const signedIn = Boolean(state.token);
  $("login").hidden = signedIn;
  $("who").hidden = !signedIn;
  $("who-text").textContent = signedIn ? `Signed in as ${state.email}` : "";
  updatePicked();
}

async function login(e) {
  e.preventDefault();
  const email = $("email").value.trim();
  const res = await api("POST", "/auth/login", { email, password: $("password").value });
  if (res.status !== 200) {
    say(res.error || `Sign-in failed (HTTP ${res.status})`, true);
    return;
  }
  state.token = res.body.data.accessToken;
  state.email = res.body.data.user?.email || email;
  sessionStorage.setItem("ticketd.token", state.token);
  sessionStorage.setItem("ticketd.email", state.email);
  $("password").value = "";
  say("Signed in.");
  showUser();
  refreshTickets();
  if (state.event && state.event.queueMode !== "OFF") joinQueue();
}

function logout() {
  leaveQueue();
  state.admission = null;
  state.token = null;
  state.email = null;
  sessionStorage.removeItem("ticketd.token");
  sessionStorage.removeItem("ticketd.email");
  showUser();
}

function idempotencyKey() {
  if (crypto.randomUUID) return "web-" + crypto.randomUUID();
  return "web-" + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

// ---------------------------------------------------------------------------------------------
// The waiting room (flash sales): join, poll every retryAfterMs, reserve once admitted.

function leaveQueue() {
  clearTimeout(state.queueTimer);
  state.queueTimer = null;
  state.waiting = false;
  $("queue").hidden = true;
}

async function joinQueue() {
  clearTimeout(state.queueTimer);
  const res = await api("POST", `/events/${state.eventId}/queue`);
  if (res.status !== 200) {
    // Unreachable for now (503) or refused: ask again later, the place is kept.
    const retry = Number(res.body?.data?.retryAfterMs) || 3000;
    $("queue").hidden = false;
    $("queue-text").textContent = res.error || "The waiting room cannot be reached; retrying…";
    state.queueTimer = setTimeout(joinQueue, retry);
    return;
  }
  const place = res.body.data;
  document.body.dataset.queue = place.status;
  if (place.status === "OPEN") {
    leaveQueue();
    updatePicked();
    return;
  }
  if (place.status === "ADMITTED") {
    state.admission = { token: place.admissionToken, expiresAt: place.admissionExpiresAt };
    leaveQueue();
    updatePicked();
    say(`It's your turn: pick your seats and reserve before ${new Date(place.admissionExpiresAt).toLocaleTimeString()}.`);
    return;
  }
  state.waiting = true;
  $("queue").hidden = false;
  $("queue-text").textContent =
    place.status === "SOLD_OUT"
      ? "Sold out for now. We keep your place: if held seats come back, you move on."
      : `You are number ${place.position} in line, about ${place.estimatedWaitSeconds} s to go. Keep this page open.`;
  updatePicked();
  state.queueTimer = setTimeout(joinQueue, place.retryAfterMs || 2000);
}

async function reserve() {
  const seatIds = [...state.picked];
  if (!seatIds.length) return;
  $("reserve").disabled = true;
  const body = { eventId: state.eventId, seatIds, idempotencyKey: idempotencyKey() };
  if (state.admission) body.admissionToken = state.admission.token;
  const res = await api("POST", "/reservations", body);
  if (res.status === 401) {
    logout();
    say("Your session expired: sign in again.", true);
    return;
  }
  if (res.status === 429 && res.body?.errors?.[0]?.code === "QUEUE_REQUIRED") {
    state.admission = null;
    say("This sale has a waiting room: you are in line now.");
    joinQueue();
    return;
  }
  if (res.status !== 201 && res.status !== 200) {
    say(res.error || `Reservation failed (HTTP ${res.status})`, true);
    updatePicked();
    return;
  }
  const r = res.body.data;
  state.hold = r;
  for (const id of seatIds) {
    state.picked.delete(id);
    state.mine.add(id);
    setStatus(id, "RESERVED");
    paint(id);
  }
  updatePicked();
  $("hold").hidden = false;
  $("hold-text").textContent = `${seatIds.length} seat(s), ${money(r.totalCents, r.currency)}, held until ${new Date(r.expiresAt).toLocaleTimeString()}.`;
  say("Seats held. Pay before the hold expires.");
}

async function release() {
  if (!state.hold) return;
  const res = await api("POST", `/reservations/${state.hold.id}/cancel`);
  if (res.status !== 200) {
    say(res.error || `Release failed (HTTP ${res.status})`, true);
    return;
  }
  endHold();
  say("Hold released.");
}

function endHold() {
  for (const id of state.mine) {
    state.mine.delete(id);
    paint(id);
  }
  state.hold = null;
  $("hold").hidden = true;
}

async function pay() {
  if (!state.hold) return;
  $("pay").disabled = true;
  try {
    const intent = await api("POST", "/payments", { reservationId: state.hold.id });
    if (intent.status === 404 && !intent.body?.errors?.some((x) => x.code && x.code !== "ROUTE_NOT_FOUND")) {
      say("Payments are not available on this server yet.", true);
      return;
    }
    if (intent.status !== 201 && intent.status !== 200) {
      say(intent.error || `Payment failed (HTTP ${intent.status})`, true);
      return;
    }
    const payment = intent.body.data;
    const done = await api("POST", `/dev/payments/${payment.id}/complete`, { outcome: "SUCCEEDED" });
    if (done.status === 404) {
      say("The payment simulator is off on this server (PAYMENT_SIMULATOR=on enables it).", true);
      return;
    }
    if (done.status >= 300) {
      say(done.error || `Payment failed (HTTP ${done.status})`, true);
      return;
    }
    say("Payment sent; issuing tickets…");
    const issued = await waitForTickets(30000);
    if (issued) {
      endHold();
      say("Paid: your tickets are below.");
    } else {
      say("Paid; tickets are not issued yet, they will appear under Your tickets.", true);
    }
  } finally {
    $("pay").disabled = false;
  }
}

async function refreshTickets() {
  if (!state.token) return [];
  const res = await api("GET", "/me/tickets?limit=100");
  if (res.status !== 200 || !Array.isArray(res.body?.data)) return [];
  const mine = res.body.data.filter((t) => t.eventId === state.eventId);
  const list = $("ticket-list");
  list.replaceChildren(
    ...mine.map((t) => {
      const li = document.createElement("li");
      const seat = t.seat ? `${t.seat.section || ""} ${t.seat.row || ""}-${t.seat.seatNo || t.seat.seatNumber || ""} ` : "";
      li.append(`${seat}${t.status}: `);
      const code = document.createElement("code");
      code.textContent = t.code;
      li.append(code);
      return li;
    }),
  );
  $("tickets").hidden = mine.length === 0;
  return mine;
}

async function waitForTickets(ms) {
  const before = new Set((await refreshTickets()).map((t) => t.id));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await refreshTickets();
    if (now.some((t) => !before.has(t.id))) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

async function listEvents() {
  $("events").hidden = false;
  $("title").textContent = "ticketd events";
  setLink("live", "pick an event");
  const res = await api("GET", "/events?limit=50");
  const list = $("event-list");
  for (const e of res.body?.data || []) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/app/events/${e.id}`;
    a.textContent = e.title;
    li.append(a, ` · ${new Date(e.startsAt).toLocaleString()}`);
    list.append(li);
  }
  if (!list.children.length) list.append("No published events yet.");
}

async function main() {
  $("login").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("reserve").addEventListener("click", reserve);
  $("pay").addEventListener("click", pay);
  $("release").addEventListener("click", release);
  showUser();
  const m = location.pathname.match(/\/app\/events\/([0-9a-fA-F-]{36})/);
  if (!m) {
    await listEvents();
    return;
  }
  state.eventId = m[1].toLowerCase();
  const ev = await api("GET", `/events/${state.eventId}`);
  if (ev.status !== 200) {
    $("title").textContent = "Event not found";
    setLink("down", "not available");
    say(ev.error || `HTTP ${ev.status}`, true);
    return;
  }
  state.event = ev.body.data;
  $("title").textContent = state.event.title;
  $("when").textContent = new Date(state.event.startsAt).toLocaleString();
  document.title = `${state.event.title} · ticketd`;
  $("map-panel").hidden = false;
  try {
    render(await loadSeats(state.eventId));
  } catch (e) {
    say(String(e.message || e), true);
    return;
  }
  document.body.dataset.rendered = "true";
  connect();
  refreshTickets();
  if (state.token && state.event.queueMode !== "OFF") joinQueue();
}

main();
