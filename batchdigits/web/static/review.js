// batchdigits review page: keyboard first, rows loaded a page at a time.
// Each decision is shown at once and POSTed in order; the server writes the
// corrections file atomically before it answers.
"use strict";

const PAGE = 50;          // rows per /api/rows request
const STRIP_BEFORE = 3;   // neighbours shown in the strip
const STRIP_AFTER = 8;

const state = {
  total: 0,
  decided: 0,
  doubtfulLeft: 0,
  current: 0,
  rows: new Map(),        // index -> row from the server (with .decision)
  pages: new Map(),       // page number -> Promise
  queue: Promise.resolve(),
  pending: 0,
};
const DOUBTFUL = new Set(["low_confidence", "blank", "error"]);
const $ = (id) => document.getElementById(id);

function imageUrl(path) {
  return "/image/" + path.split("/").map(encodeURIComponent).join("/");
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error((await response.json()).error || response.statusText);
  return response.json();
}

function loadPage(page) {
  if (!state.pages.has(page)) {
    const promise = getJson(`/api/rows?offset=${page * PAGE}&limit=${PAGE}`).then((data) => {
      for (const row of data.rows) state.rows.set(row.i, row);
    });
    promise.catch(() => state.pages.delete(page));  // try again next time
    state.pages.set(page, promise);
  }
  return state.pages.get(page);
}

async function ensure(index) {
  const page = Math.floor(index / PAGE);
  const wanted = [loadPage(page)];
  if (index % PAGE >= PAGE - 15 && (page + 1) * PAGE < state.total) wanted.push(loadPage(page + 1));
  await wanted[0];
  Promise.all(wanted).catch(showError);
}

function showError(error) {
  const banner = $("banner");
  banner.textContent = `Not saved or not loaded: ${error.message}. Reload the page to continue.`;
  banner.hidden = false;
}

function renderCounter() {
  const left = state.total - state.decided;
  $("counter").innerHTML = "";
  const parts = [
    [String(state.doubtfulLeft), " doubtful left · "],
    [String(left), ` of ${state.total} rows left · `],
    [String(state.decided), " decided"],
  ];
  for (const [number, text] of parts) {
    const b = document.createElement("b");
    b.textContent = number;
    $("counter").append(b, text);
  }
  const saved = $("saved");
  saved.textContent = state.pending ? `saving ${state.pending}…` : "all decisions saved";
  saved.classList.toggle("pending", state.pending > 0);
}

function renderGrid(grid) {
  const box = $("grid");
  box.innerHTML = "";
  box.classList.toggle("empty", !grid);
  if (!grid) {
    box.textContent = "no grid";
    return;
  }
  for (const value of grid) {
    const cell = document.createElement("div");
    const level = Math.round(255 * (1 - value / 16));
    cell.style.background = `rgb(${level},${level},${level})`;
    cell.style.color = level > 110 ? "#000" : "#fff";
    cell.textContent = value;
    box.append(cell);
  }
}

function renderTop(top) {
  const body = $("top").tBodies[0];
  body.innerHTML = "";
  for (const [digit, p] of top) {
    const tr = body.insertRow();
    tr.insertCell().textContent = digit;
    tr.insertCell().textContent = p.toFixed(4);
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, Math.round(p * 120))}px`;
    tr.insertCell().append(bar);
  }
}

function decisionText(decision) {
  if (!decision) return "";
  return decision.label === "" ? "not a digit" : decision.label;
}

function renderCard(row) {
  const img = $("thumb");
  img.classList.remove("missing");
  img.src = imageUrl(row.path);
  $("path").textContent = row.path;
  const status = $("status");
  status.textContent = row.status;
  status.className = `status ${row.status}`;
  $("position").textContent = `row ${row.i + 1} of ${state.total}`;
  $("predicted").textContent = row.label || (row.status === "blank" ? "–" : "");
  $("confidence").textContent = row.confidence || "–";
  const decision = $("decision");
  decision.textContent = decisionText(row.decision) || "–";
  decision.className = "digit decision" + (row.decision ? "" : " none") +
    (row.decision && row.decision.label === "" ? " notdigit" : "");
  renderGrid(row.grid);
  renderTop(row.top);
  $("note").textContent = [row.error, row.note].filter(Boolean).filter((t, i, a) => a.indexOf(t) === i).join(" · ");
}

function renderStrip() {
  const strip = $("strip");
  strip.innerHTML = "";
  const first = Math.max(0, state.current - STRIP_BEFORE);
  const last = Math.min(state.total - 1, state.current + STRIP_AFTER);
  for (let i = first; i <= last; i++) {
    const row = state.rows.get(i);
    const tile = document.createElement("div");
    tile.className = "tile" + (i === state.current ? " current" : "");
    tile.dataset.index = i;
    const mini = document.createElement("div");
    mini.className = "mini";
    const label = document.createElement("div");
    if (row) {
      const img = document.createElement("img");
      img.src = imageUrl(row.path);  // also warms the cache for the big picture
      img.alt = "";
      img.onerror = () => img.remove();
      mini.append(img);
      label.className = "label" + (row.decision ? " done" : "");
      label.textContent = row.decision ? `→ ${decisionText(row.decision)}` : (row.label || row.status);
    }
    tile.append(mini, label);
    tile.addEventListener("click", () => go(i));
    strip.append(tile);
  }
}

async function render() {
  renderCounter();
  if (state.total === 0) {
    $("card").textContent = "The CSV has no rows.";
    return;
  }
  const index = state.current;
  await ensure(index);
  if (index !== state.current) return;  // moved on meanwhile
  renderCard(state.rows.get(index));
  renderStrip();
}

function go(index) {
  state.current = Math.min(Math.max(index, 0), Math.max(state.total - 1, 0));
  render().catch(showError);
}

function decide(label) {
  const row = state.rows.get(state.current);
  if (!row) return;
  const before = row.decision;
  row.decision = label === null ? null : { label, at: "" };
  const delta = (row.decision ? 1 : 0) - (before ? 1 : 0);
  state.decided += delta;
  if (DOUBTFUL.has(row.status)) state.doubtfulLeft -= delta;
  state.pending += 1;
  const body = JSON.stringify({ path: row.path, label });
  state.queue = state.queue.then(async () => {
    const response = await fetch("/api/decide", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body,
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    state.pending -= 1;
    if (state.pending === 0) {  // the server's count is the truth
      state.decided = data.decided;
      state.doubtfulLeft = data.doubtful_left;
    }
    renderCounter();
  }).catch((error) => {
    state.pending = Math.max(0, state.pending - 1);
    row.decision = before;
    showError(error);
    renderCounter();
  });
  if (label !== null && state.current < state.total - 1) go(state.current + 1);
  else go(state.current);
}

async function nextUndecided() {
  const data = await getJson(`/api/next?after=${state.current}`);
  if (data.index !== null) go(data.index);
}

// Keys are handled strictly in order, each once its row is loaded, so fast
// typing never loses or reorders a decision.
let keyChain = Promise.resolve();

function actionFor(key) {
  if (/^[0-9]$/.test(key)) return () => decide(key);
  switch (key) {
    case "Enter": return acceptPrediction;
    case "x": case "X": return () => decide("");
    case "ArrowRight": case "ArrowDown": return () => go(state.current + 1);
    case "ArrowLeft": case "ArrowUp": return () => go(state.current - 1);
    case "PageDown": return () => go(state.current + 10);
    case "PageUp": return () => go(state.current - 10);
    case "Home": return () => go(0);
    case "End": return () => go(state.total - 1);
    case "Backspace": case "Delete": return undo;
    case "n": return () => nextUndecided();
    default: return null;
  }
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || state.total === 0) return;
  const action = actionFor(event.key);
  if (!action) return;
  event.preventDefault();
  keyChain = keyChain.then(async () => {
    await ensure(state.current);
    await action();
  }).catch(showError);
}

function acceptPrediction() {
  const row = state.rows.get(state.current);
  if (row.label !== "") decide(row.label);
  else if (row.status === "blank") decide("");  // "no digit here" was the prediction
  else flash("No prediction to accept: type a digit or x.");
}

function undo() {
  const row = state.rows.get(state.current);
  if (row.decision) decide(null);
}

function flash(text) {
  $("note").textContent = text;
}

async function start() {
  const summary = await getJson("/api/summary");
  state.total = summary.total;
  state.decided = summary.decided;
  state.doubtfulLeft = summary.doubtful_left;
  state.current = summary.resume;
  document.title = `batchdigits review · ${summary.doubtful_left} doubtful left`;
  $("thumb").addEventListener("error", () => $("thumb").classList.add("missing"));
  document.addEventListener("keydown", onKey);
  await render();
  document.body.dataset.ready = "true";  // for tests and scripts
}

start().catch(showError);
