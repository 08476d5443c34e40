// batchdigits review page: keyboard first (buttons too), rows loaded a page at a time.
//
// A decision is shown as saved only once the server answered that it wrote it
// to the corrections file; until then it waits in an outbox (one entry per
// scan: the latest label wins), is marked "not saved yet", and is sent again
// every few seconds, so a stopped server loses nothing while this page is open.
// After the doubtful rows and after the last row the page stops at a panel
// that says what was saved where and the next command; no key changes a
// decision there.
"use strict";

const PAGE = 50;          // rows per /api/rows request
const STRIP_BEFORE = 3;   // neighbours shown in the strip
const STRIP_AFTER = 8;
const POLL_MS = 10000;    // the summary is read again this often (a refit may have re-ranked rows)
const PERMANENT = new Set([400, 404, 405, 413, 415, 422]);  // refusals that retrying cannot mend

const state = {
  total: 0,
  doubtful: 0,            // rows of doubtful status; they come first in review order
  summary: null,          // the server's last summary (its counts are the truth)
  current: 0,             // index of the row shown (at a stop: the row next to it)
  stop: null,             // null, "doubtful" (after the doubtful rows) or "end" (after the last row)
  rows: new Map(),        // index -> row from the server
  pages: new Map(),       // page number -> Promise
  pinned: null,           // the row on screen while the rows ahead were refreshed
  generation: undefined,  // the server's refit generation, when it has one
  wanted: new Map(),      // path -> label ("" not a digit, null undo) not yet confirmed
  confirmed: new Map(),   // path -> decision the server confirmed on this page
  sending: false,
  failures: 0,
  lastError: "",
};
const DOUBTFUL = ["low_confidence", "blank", "error"];
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function imageUrl(path) {
  return "/image/" + path.split("/").map(encodeURIComponent).join("/");
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  let data = {};
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// --- rows -------------------------------------------------------------------------

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
  if (index < 0 || index >= state.total) return;
  const page = Math.floor(index / PAGE);
  const wanted = [loadPage(page)];
  if (index % PAGE >= PAGE - 15 && (page + 1) * PAGE < state.total) wanted.push(loadPage(page + 1));
  await wanted[0];
  Promise.all(wanted).catch(() => {});
}

function rowAt(index) {
  if (state.pinned && state.pinned.i === index) return state.pinned;
  return state.rows.get(index);
}

// What the page knows of a row's decision: { label, saved } or null.
function decisionOf(row) {
  if (state.wanted.has(row.path)) {
    const label = state.wanted.get(row.path);
    return label === null ? null : { label, saved: false };
  }
  const decision = state.confirmed.has(row.path) ? state.confirmed.get(row.path) : row.decision;
  return decision ? { label: decision.label, saved: true } : null;
}

function labelText(label) {
  return label === "" ? "not a digit" : label;
}

// --- the summary: counts, generation, commands -------------------------------------

function applySummary(summary) {
  const before = state.generation;
  if (!summary.commands && state.summary) summary.commands = state.summary.commands;  // /api/decide has none
  state.summary = summary;
  state.total = summary.total;
  const counts = summary.counts || {};
  state.doubtful = DOUBTFUL.reduce((n, status) => n + (counts[status] || 0), 0);
  state.generation = summary.generation;
  if (before !== undefined && summary.generation !== undefined && summary.generation !== before) {
    refreshAhead();
  }
  const learning = $("learning");
  learning.hidden = !summary.refitting;
  learning.textContent = summary.refitting ? "learning from your labels…" : "";
  renderCounter();
  if (state.stop) renderStop();
}

// A refit re-ranked the rows: the rows ahead are read again, in the new order
// and with the new readings; the row on screen stays as it is until one moves.
function refreshAhead() {
  const here = state.stop ? null : state.rows.get(state.current) || state.pinned;
  state.rows = new Map();
  state.pages = new Map();
  state.pinned = here ? { ...here, i: state.current } : null;
  ensure(state.current + 1).then(renderStrip, () => {});
}

async function poll() {
  try {
    applySummary(await getJson("/api/summary"));
    if (!state.wanted.size) hideBanner();
  } catch (error) {
    showOffline(error);
  }
}

// --- saving -----------------------------------------------------------------------

function want(row, label) {
  state.wanted.delete(row.path);  // re-inserted last: the outbox keeps the order of the latest changes
  state.wanted.set(row.path, label);
  pump();
}

async function pump() {
  if (state.sending) return;
  state.sending = true;
  renderSaved();
  while (state.wanted.size) {
    const [path, label] = state.wanted.entries().next().value;
    try {
      const response = await fetch("/api/decide", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path, label }),
      });
      let data = {};
      try { data = await response.json(); } catch (_) { /* not JSON */ }
      if (!response.ok && !PERMANENT.has(response.status)) {
        throw new Error(data.error || `HTTP ${response.status}`);
      }
      if (state.wanted.get(path) === label) state.wanted.delete(path);  // unless changed meanwhile
      if (response.ok) {
        state.confirmed.set(path, data.decision);
        state.failures = 0;
        hideBanner();
        applySummary(data);
      } else {
        showBanner(`Not saved, and not sent again: ${data.error || response.status} (${path}).`);
      }
    } catch (error) {
      state.failures += 1;
      state.lastError = error.message;
      showOffline(error);
      renderSaved();
      await sleep(Math.min(3000, 400 * 2 ** Math.min(state.failures, 3)));
    }
    renderSaved();
    renderDecision();
    renderStrip();
  }
  state.sending = false;
  renderSaved();
  if (state.stop) renderStop();
}

function renderSaved() {
  const saved = $("saved");
  const waiting = state.wanted.size;
  let text = "all decisions saved";
  if (waiting && state.failures) text = `${waiting} not saved yet · retrying`;
  else if (waiting) text = `saving ${waiting}…`;
  else if (!state.summary || !state.summary.decided) text = "nothing to save yet";
  saved.textContent = text;
  saved.className = "saved" + (waiting ? (state.failures ? " failing" : " pending") : "");
}

function showOffline(error) {
  const restart = state.summary && state.summary.commands && state.summary.commands.restart;
  const waiting = state.wanted.size;
  const kept = waiting ? ` ${waiting} decision${waiting === 1 ? " is" : "s are"} kept on this page and sent again every few seconds.` : "";
  const offline = error instanceof TypeError;  // fetch could not reach the server
  const why = offline ? "The review server is not answering." : `The server refused: ${error.message}.`;
  const how = restart ? ` Start it again with: ${restart} — this page then goes on.` : "";
  showBanner(why + kept + how);
}

function showBanner(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

// --- drawing ----------------------------------------------------------------------

function renderCounter() {
  const s = state.summary;
  if (!s) return;
  const counter = $("counter");
  counter.innerHTML = "";
  const parts = [
    [String(s.doubtful_left), " doubtful left · "],
    [String(s.left), ` of ${s.total} rows left · `],
    [String(s.decided), " saved"],
  ];
  for (const [number, text] of parts) {
    const b = document.createElement("b");
    b.textContent = number;
    counter.append(b, text);
  }
  document.title = s.doubtful_left === 0 && state.doubtful > 0
    ? "all doubtful rows checked · batchdigits review"
    : `${s.doubtful_left} doubtful left · batchdigits review`;
  renderSaved();
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

function percent(confidence) {
  const value = parseFloat(confidence);
  return Number.isFinite(value) ? Math.round(100 * value) : null;
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
  const failed = row.status === "error" || (!row.label && row.status !== "blank" && !row.grid);
  $("reading-box").hidden = failed;
  $("sure-box").hidden = failed || row.status === "blank";
  $("failed-box").hidden = !failed;
  $("failed-box").textContent = failed
    ? `no prediction: this file could not be read${row.error ? ` (${row.error})` : ""}` : "";
  $("predicted").textContent = row.status === "blank" ? "blank" : (row.label || "–");
  $("predicted").classList.toggle("word", row.status === "blank");
  const sure = percent(row.confidence);
  $("sure").textContent = sure === null ? "–" : `${sure} %`;
  $("sure-words").textContent = failed ? "" : row.status === "blank"
    ? "no ink was found: Enter saves it as not a digit"
    : sure === null ? "" : `of the rows read this sure, about ${sure} in 100 are right`;
  const changed = $("changed");
  changed.hidden = !row.was;
  changed.textContent = row.was ? `reading changed: was ${row.was}, now ${row.label || "blank"}` : "";
  const others = (row.top || []).map(([digit]) => digit).filter((d) => d !== row.label).slice(0, 2);
  $("also").textContent = failed || !others.length ? "" : `next most likely: ${others.join(", then ")}`;
  renderGrid(row.grid);
  renderDecision();
  $("note").textContent = row.note && row.note !== row.error ? row.note : "";
}

function renderDecision() {
  if (state.stop) return;
  const row = rowAt(state.current);
  if (!row) return;
  const decision = decisionOf(row);
  const box = $("decision");
  box.textContent = decision ? labelText(decision.label) : "–";
  box.className = "digit decision" + (decision ? "" : " none") +
    (decision && decision.label === "" ? " notdigit" : "") + (decision && !decision.saved ? " unsaved" : "");
  const note = $("decision-state");
  note.textContent = !decision ? "" : decision.saved ? "saved"
    : state.failures ? "not saved yet · retrying" : "saving…";
  note.className = "decision-state" + (decision && !decision.saved ? " unsaved" : "");
}

// The strip: the rows around the one shown; while a row is kept on screen
// through a refit, it stands first of the rows ahead in their new order.
function stripRows() {
  const first = Math.max(0, state.current - STRIP_BEFORE);
  const last = Math.min(state.total - 1, state.current + STRIP_AFTER);
  const entries = [];
  for (let i = first; i <= last; i++) entries.push([i, state.rows.get(i)]);
  if (!state.pinned || state.stop) return entries.map(([i, row]) => [i, row || rowAt(i)]);
  const others = entries.filter(([, row]) => !row || row.path !== state.pinned.path);
  const at = others.findIndex(([i]) => i >= state.current);
  others.splice(at < 0 ? others.length : at, 0, [state.current, state.pinned]);
  return others.slice(0, last - first + 1);
}

function renderStrip() {
  const strip = $("strip");
  strip.innerHTML = "";
  for (const [i, row] of stripRows()) {
    const isCurrent = !state.stop && row && row === rowAt(state.current) && i === state.current;
    const tile = document.createElement("button");
    tile.type = "button";
    tile.className = "tile" + (isCurrent ? " current" : "");
    tile.dataset.index = i;
    const mini = document.createElement("div");
    mini.className = "mini";
    const label = document.createElement("div");
    label.className = "label";
    if (row) {
      const img = document.createElement("img");
      img.src = imageUrl(row.path);  // also warms the cache for the big picture
      img.alt = "";
      img.onerror = () => img.remove();
      mini.append(img);
      const decision = decisionOf(row);
      if (decision && decision.saved) {
        label.classList.add("done");
        label.textContent = `→ ${labelText(decision.label)}`;
      } else if (decision) {
        label.classList.add("unsaved");
        label.textContent = `${labelText(decision.label)} · not saved`;
      } else {
        label.textContent = row.status === "error" ? "error" : (row.label || row.status);
        if (row.was) label.classList.add("changed");
      }
    }
    tile.append(mini, label);
    tile.addEventListener("click", () => { tile.blur(); run(() => go(i)); });
    strip.append(tile);
  }
}

function renderStop() {
  const s = state.summary;
  const doubtfulDone = s.doubtful_left === 0;
  const atEnd = state.stop === "end";
  let title;
  if (state.doubtful === 0) title = atEnd ? "End of the list" : "No doubtful rows: nothing needs checking";
  else if (doubtfulDone) title = atEnd ? "End of the list · all doubtful rows checked" : "All doubtful rows checked";
  else title = atEnd ? "End of the list" : "End of the doubtful rows";
  $("stop-title").textContent = title;
  $("stop-title").classList.toggle("open", !doubtfulDone);
  const waiting = state.wanted.size;
  $("stop-saved").textContent = `${s.decided} decision${s.decided === 1 ? "" : "s"} saved in ${s.corrections}` +
    (waiting ? ` · ${waiting} not saved yet (sent again until the server takes ${waiting === 1 ? "it" : "them"})` : ".");
  $("stop-left").textContent = doubtfulDone ? "" :
    `${s.doubtful_left} doubtful row${s.doubtful_left === 1 ? " has" : "s have"} no decision yet: n goes to the next one.`;
  const commands = s.commands || {};
  $("next-command").textContent = commands.next || "batchdigits classify FOLDER --out CSV --corrections " + s.corrections;
  $("train-command").textContent = commands.train || `batchdigits train --labels ${s.corrections} --unlabelled FOLDER --out ours.skops`;
  const okRows = state.total - state.doubtful;
  $("stop-next").hidden = atEnd || okRows === 0;
  $("stop-more").textContent = atEnd
    ? "← goes back to the last row. Nothing here changes a decision."
    : okRows > 0
      ? `Optional: → goes on with the ${okRows} other row${okRows === 1 ? "" : "s"} (ok ones, least sure first). ← goes back.`
      : "← goes back.";
}

async function render() {
  renderCounter();
  const atStop = state.stop !== null;
  $("card").hidden = atStop;
  $("stop").hidden = !atStop;
  if (atStop) {
    $("stop-note").textContent = "";
    renderStop();
    await ensure(Math.min(state.current, state.total - 1));
    renderStrip();
    return;
  }
  const index = state.current;
  await ensure(index);
  if (index !== state.current || state.stop) return;  // moved on meanwhile
  const row = rowAt(index);
  if (!row) return;
  renderCard(row);
  renderStrip();
}

// --- moving -----------------------------------------------------------------------

function hasDoubtfulStop() {
  return state.doubtful < state.total;  // else the end of the list is the end of the doubtful rows
}

function go(index) {
  state.pinned = null;
  state.stop = null;
  state.current = Math.min(Math.max(index, 0), Math.max(state.total - 1, 0));
  return render();
}

function goStop(which, index) {
  state.pinned = null;
  state.stop = which;
  state.current = index;
  return render();
}

function forward() {
  if (state.pinned && !state.stop) return afterRefit();
  if (state.stop === "end") return flashStop("This is the end of the list.");
  if (state.stop === "doubtful") return go(state.doubtful);
  if (state.current === state.doubtful - 1 && hasDoubtfulStop()) return goStop("doubtful", state.current);
  if (state.current >= state.total - 1) return goStop("end", state.total - 1);
  return go(state.current + 1);
}

function backward() {
  if (state.stop === "end") return go(state.total - 1);
  if (state.stop === "doubtful") {
    return state.doubtful > 0 ? go(state.doubtful - 1) : flashStop("This is the start of the list.");
  }
  if (state.current === state.doubtful && hasDoubtfulStop()) return goStop("doubtful", state.current);
  return go(state.current - 1);
}

// From the row kept on screen through a refit: the first row of the new order
// that has no decision (nor one on its way), or the stop after the doubtful rows.
async function afterRefit() {
  const here = state.pinned;
  let after = -1;
  for (let tries = 0; tries < 20; tries++) {
    const { index } = await getJson(`/api/next?after=${after}`);
    if (index === null || index <= after) return goStop("end", state.total - 1);
    await ensure(index);
    const row = state.rows.get(index);
    if (row && row.path !== here.path && !state.wanted.has(row.path)) {
      if (DOUBTFUL.includes(here.status) && index >= state.doubtful && hasDoubtfulStop()) {
        return goStop("doubtful", state.doubtful - 1);
      }
      return go(index);
    }
    after = index;
  }
  return go(state.current + 1);
}

async function nextUndecided() {
  const data = await getJson(`/api/next?after=${state.stop === "doubtful" && state.doubtful === 0 ? -1 : state.current}`);
  if (data.index === null) return goStop("end", state.total - 1);
  return go(data.index);
}

// --- deciding ---------------------------------------------------------------------

function decide(label) {
  const row = rowAt(state.current);
  if (!row) return undefined;
  want(row, label);
  renderDecision();
  renderStrip();
  return label === null ? undefined : forward();
}

function acceptPrediction() {
  const row = rowAt(state.current);
  if (row.status === "blank") return decide("");  // "no digit here" was the prediction
  if (row.label && row.status !== "error") return decide(row.label);
  flash("no prediction: type a digit or x");
  return undefined;
}

function undo() {
  const row = rowAt(state.current);
  if (decisionOf(row)) decide(null);
  else flash("nothing to undo on this row");
}

function flash(text) {
  $("note").textContent = text;
}

function flashStop(text) {
  $("stop-note").textContent = text;
}

// --- keys and buttons -------------------------------------------------------------

function actionFor(key) {
  if (/^[0-9]$/.test(key)) return () => decide(key);
  switch (key) {
    case "Enter": return acceptPrediction;
    case "x": case "X": return () => decide("");
    case "ArrowRight": case "ArrowDown": return forward;
    case "ArrowLeft": case "ArrowUp": return backward;
    case "PageDown": return () => go(state.current + 10);
    case "PageUp": return () => go(state.current - 10);
    case "Home": return () => go(0);
    case "End": return () => goStop("end", state.total - 1);
    case "Backspace": case "Delete": return undo;
    case "n": case "N": return nextUndecided;
    default: return null;
  }
}

const DECIDING = /^([0-9]|Enter|x|X|Backspace|Delete)$/;

// Keys are handled strictly in order, each once its row is loaded, so fast
// typing never loses or reorders a decision.
let keyChain = Promise.resolve();

function run(action) {
  keyChain = keyChain.then(async () => {
    if (!state.stop) await ensure(state.current);
    await action();
  }).catch((error) => showBanner(`Not loaded: ${error.message}.`));
}

function press(key) {
  if (key === "?") return toggleHelp();
  if (key === "Escape") return toggleHelp(false);
  const action = actionFor(key);
  if (!action) return false;
  if (DECIDING.test(key)) {
    run(() => (state.stop
      ? flashStop("No row here, so nothing was changed: ← goes back to a row, → goes on.")
      : action()));
  } else {
    run(action);
  }
  return true;
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || state.total === 0) return;
  if (event.target instanceof HTMLButtonElement && (event.key === "Enter" || event.key === " ")) return;
  if (press(event.key) !== false) event.preventDefault();
}

function toggleHelp(show) {
  const help = $("help");
  help.hidden = show === undefined ? !help.hidden : !show;
  $("help-button").setAttribute("aria-expanded", String(!help.hidden));
  return true;
}

function copy(button) {
  const code = $(button.dataset.copy);
  const range = document.createRange();
  range.selectNodeContents(code);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  const done = (text) => { button.textContent = text; setTimeout(() => { button.textContent = "copy"; }, 2500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(code.textContent).then(() => done("copied"), () => done("selected: Ctrl-C"));
  } else {
    done("selected: Ctrl-C");
  }
}

function wireButtons() {
  for (const button of document.querySelectorAll("button[data-key]")) {
    button.addEventListener("click", () => { button.blur(); press(button.dataset.key); });
  }
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", () => copy(button));
  }
  $("help-button").addEventListener("click", () => { $("help-button").blur(); toggleHelp(); });
  $("help-close").addEventListener("click", () => { $("help-close").blur(); toggleHelp(false); });
}

// --- start ------------------------------------------------------------------------

async function start() {
  $("thumb").addEventListener("error", () => $("thumb").classList.add("missing"));
  wireButtons();
  document.addEventListener("keydown", onKey);
  window.addEventListener("beforeunload", (event) => {
    if (state.wanted.size) event.preventDefault();  // decisions not saved yet would be lost
  });
  const summary = await getJson("/api/summary");
  applySummary(summary);
  if (state.total === 0) {
    $("card").textContent = "The CSV has no rows.";
  } else if (summary.left === 0) {
    await goStop("end", state.total - 1);
  } else if (summary.doubtful_left === 0) {
    await goStop("doubtful", Math.max(0, state.doubtful - 1));
  } else {
    await go(summary.resume);
  }
  setInterval(poll, POLL_MS);
  document.body.dataset.ready = "true";  // for tests and scripts
}

start().catch((error) => showOffline(error));
