// The gesam web map: draw the selected map view, play it with the pointer, show what the cursor is on.
//
// Every command goes through POST /api/osc with an OSC address and its arguments: the same parser
// and controller as an OSC message. Commands are sent one at a time in order; cursor moves while
// dragging are throttled (at most one per MOVE_INTERVAL_MS, the newest wins). Coordinates are
// normalised map coordinates: x to the right, y up, both 0..1. Nothing here is fetched from
// anywhere but this server. An audio file dropped on the map goes to POST /api/locate (query by
// example); the cursor's and each pad's sound can be dragged out (or downloaded) as a WAV file
// from /api/sound.wav.
"use strict";

const MOVE_INTERVAL_MS = 33; // <= ~30 moves a second while dragging
const POLL_MS = 150; // engine state refresh
const DEFAULT_GRID = 16; // cells for "play while dragging" when there are no maps
const DEFAULT_MAX_UPLOAD = 50 * 1024 * 1024; // bytes of a dropped file, until /api/views says
const PAD_XY = /^\/gesam\/state\/pad\/(\d+)\/xy$/;

const $ = (id) => document.getElementById(id);
const mapEl = $("map");
const imageEl = $("map-image");
const markerEl = $("marker");
const viewSelect = $("view");
const statusEl = $("status");

const state = {
  maps: { views: [], classes: [], feature_clip: {}, feature_units: {}, feature_colors: {}, grid: 0 },
  cursor: null, // [x, y] of the engine's cursor
  pads: [], // [x, y] of each pad
  located: null, // the answer of the last dropped file
  locating: false,
  dragging: false,
  dragCell: null,
  lastSent: null, // the newest point queued by the pointer
  queue: [], // pending {address, args}
  pumping: false,
  lastMoveAt: -Infinity,
  audio: null, // AudioContext, made on the first user gesture that wants browser playback
  pollFailed: false,
  counts: { commands: 0, errors: 0, browserSounds: 0, located: 0 },
};
window.gesamWebMap = state; // for tests and curious people: read-only use

// ---- status line ------------------------------------------------------------------------------
function showStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
  if (isError) state.counts.errors += 1;
}

function fmt(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

// ---- coordinates ------------------------------------------------------------------------------
function clamp01(v) {
  return Math.min(Math.max(v, 0), 1);
}

/** The normalised map point under a pointer event (y up). */
function pointOf(ev) {
  const r = mapEl.getBoundingClientRect();
  return [clamp01((ev.clientX - r.left) / r.width), clamp01(1 - (ev.clientY - r.top) / r.height)];
}

function cellOf([x, y]) {
  const n = state.maps.grid || DEFAULT_GRID;
  return Math.min(Math.floor(y * n), n - 1) * n + Math.min(Math.floor(x * n), n - 1);
}

// ---- commands: one at a time, in order ---------------------------------------------------------
function enqueue(address, args) {
  const last = state.queue[state.queue.length - 1];
  if (address === "/gesam/xy" && last && last.address === "/gesam/xy") {
    last.args = args; // newest wins
  } else {
    state.queue.push({ address, args });
  }
  pump();
}

async function pump() {
  if (state.pumping) return;
  state.pumping = true;
  try {
    while (state.queue.length) {
      const item = state.queue[0];
      if (item.address === "/gesam/xy") {
        const wait = state.lastMoveAt + MOVE_INTERVAL_MS - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        state.lastMoveAt = performance.now();
      }
      state.queue.shift(); // after the wait: a newer move may have replaced item.args meanwhile
      const replies = await sendOsc(item.address, item.args);
      if (replies && (item.address === "/gesam/play" || item.address === "/gesam/trigger")) {
        const xy = item.address === "/gesam/play" ? item.args.slice(0, 2) : state.cursor;
        showStatus(`played x ${fmt(xy[0])}, y ${fmt(xy[1])}`);
        flashMarker();
        playInBrowser(xy);
      }
      refreshState();
    }
  } finally {
    state.pumping = false;
  }
}

/** POST one command; its replies, or null after showing why it was refused. */
async function sendOsc(address, args) {
  let res;
  let data;
  try {
    res = await fetch("/api/osc", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ address, args }),
    });
    data = await res.json();
  } catch (err) {
    showStatus(`${address}: the engine did not answer (${err.message}); is gesam serve running?`, true);
    return null;
  }
  if (!res.ok) {
    showStatus(data && data.error ? data.error : `${address}: HTTP ${res.status}`, true);
    return null;
  }
  state.counts.commands += 1;
  handleReplies(data.replies);
  return data.replies;
}

/** Show what the engine's replies say changed: the cursor, a pad's point. */
function handleReplies(replies) {
  let padsChanged = false;
  for (const [reply, values] of replies) {
    if (reply === "/gesam/state/xy") {
      state.cursor = values;
      drawCursor();
    }
    const pad = PAD_XY.exec(reply);
    if (pad) {
      state.pads[Number(pad[1])] = values;
      padsChanged = true;
    }
  }
  if (padsChanged) drawPads();
}

function play(xy) {
  state.lastSent = xy;
  enqueue("/gesam/play", xy);
}

function move(xy) {
  state.lastSent = xy;
  enqueue("/gesam/xy", xy);
}

// ---- browser playback -------------------------------------------------------------------------
/** Make (or wake) the AudioContext; only inside a user gesture, as browsers require. */
function ensureAudio() {
  if (!$("browser-audio").checked) return;
  if (!state.audio) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      showStatus("this browser has no Web Audio; playback stays on the engine's output", true);
      return;
    }
    state.audio = new Context();
  }
  if (state.audio.state === "suspended") state.audio.resume();
}

async function playInBrowser(xy) {
  if (!$("browser-audio").checked || !state.audio || !xy) return;
  try {
    const res = await fetch(`/api/sound.wav?x=${encodeURIComponent(xy[0])}&y=${encodeURIComponent(xy[1])}`);
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      throw new Error(data.error || `HTTP ${res.status}`);
    }
    const buffer = await state.audio.decodeAudioData(await res.arrayBuffer());
    const source = state.audio.createBufferSource();
    source.buffer = buffer;
    source.connect(state.audio.destination);
    source.start();
    state.counts.browserSounds += 1;
  } catch (err) {
    showStatus(`browser playback failed: ${err.message}`, true);
  }
}

// ---- sounds out: drag to the desktop or a DAW, or download ---------------------------------------
/** The absolute URL of the WAV of the point xy (24-bit when asked for), and its file name. */
function soundFile(xy) {
  const bits = $("bits24").checked ? "&bits=24" : "";
  const path = `/api/sound.wav?x=${encodeURIComponent(xy[0])}&y=${encodeURIComponent(xy[1])}${bits}`;
  return { url: new URL(path, window.location.href).href, name: `gesam_${xy[0].toFixed(3)}_${xy[1].toFixed(3)}.wav` };
}

function setDownload(link, xy) {
  if (!xy) return;
  const { url, name } = soundFile(xy);
  link.href = url;
  link.download = name;
}

/** dragstart of a "drag the sound out" handle: Chromium saves a DownloadURL drop as that file. */
function dragSoundOut(ev, xy) {
  if (!xy) {
    ev.preventDefault();
    return;
  }
  const { url, name } = soundFile(xy);
  ev.dataTransfer.effectAllowed = "copy";
  ev.dataTransfer.setData("DownloadURL", `audio/wav:${name}:${url}`);
  ev.dataTransfer.setData("text/uri-list", url);
  ev.dataTransfer.setData("text/plain", url);
}

// ---- pads and the kit -------------------------------------------------------------------------
function samePoints(a, b) {
  return a.length === b.length && a.every((p, i) => b[i] && p[0] === b[i][0] && p[1] === b[i][1]);
}

function drawPads() {
  const markers = $("pad-markers");
  const list = $("pads");
  markers.replaceChildren();
  list.replaceChildren();
  state.pads.forEach((xy, n) => {
    if (!xy) return;
    const [x, y] = xy;
    const dot = document.createElement("div");
    dot.className = "pad-marker";
    dot.dataset.pad = String(n);
    dot.textContent = String(n);
    dot.style.left = `${x * 100}%`;
    dot.style.top = `${(1 - y) * 100}%`;
    markers.append(dot);

    const item = document.createElement("li");
    item.dataset.pad = String(n);
    const where = document.createElement("span");
    where.className = "pad-xy";
    where.textContent = `${x.toFixed(3)}, ${y.toFixed(3)}`;
    const handle = document.createElement("span");
    handle.className = "drag-out";
    handle.draggable = true;
    handle.title = `drag pad ${n}'s sound out as a WAV file`;
    handle.textContent = "\u21F1 drag";
    handle.addEventListener("dragstart", (ev) => dragSoundOut(ev, state.pads[n]));
    const link = document.createElement("a");
    link.className = "download";
    link.textContent = "WAV";
    setDownload(link, xy);
    item.append(where, " ", handle, " ", link);
    list.append(item);
  });
}

$("kit-randomize").addEventListener("click", () => enqueue("/gesam/kit/randomize", []));
$("kit-undo").addEventListener("click", () => enqueue("/gesam/kit/undo", []));

// ---- a dropped audio file: where it lands on the map (query by example) --------------------------
function carriesFiles(ev) {
  return Boolean(ev.dataTransfer) && Array.from(ev.dataTransfer.types || []).includes("Files");
}

async function locateFile(file) {
  const limit = state.maps.max_upload || DEFAULT_MAX_UPLOAD;
  if (file.size > limit) {
    showStatus(`${file.name} is ${file.size} bytes; at most ${limit} can be dropped`, true);
    return;
  }
  state.locating = true;
  showStatus(`locating ${file.name}...`);
  try {
    let res;
    let data;
    try {
      res = await fetch("/api/locate", {
        method: "POST",
        headers: {
          "Content-Type": file.type.startsWith("audio/") ? file.type : "application/octet-stream",
          "X-File-Name": encodeURIComponent(file.name),
        },
        body: file,
      });
      data = await res.json();
    } catch (err) {
      showStatus(`${file.name}: the engine did not answer (${err.message}); is gesam serve running?`, true);
      return;
    }
    if (!res.ok) {
      showStatus(data && data.error ? data.error : `${file.name}: HTTP ${res.status}`, true);
      return;
    }
    state.located = data;
    state.counts.located += 1;
    handleReplies(data.replies || []);
    showLocated(file.name, data);
    showStatus(`${file.name} lands at x ${fmt(data.x)}, y ${fmt(data.y)}` + (data.class ? ` (${data.class})` : ""));
    refreshState();
  } finally {
    state.locating = false;
  }
}

function showLocated(name, data) {
  $("located").hidden = false;
  $("located-file").textContent = `${name}: x ${data.x.toFixed(3)}, y ${data.y.toFixed(3)}`;
  $("located-class").textContent = data.class
    ? `class ${data.class}` + (data.class_probability != null ? ` (${Math.round(data.class_probability * 100)}%)` : "")
    : "no class (the model has no classifier)";
  const nearest = data.nearest || [];
  const list = $("located-nearest");
  list.replaceChildren();
  for (const n of nearest) {
    const item = document.createElement("li");
    item.textContent = `${n.file} (${n.label}, ${fmt(n.distance)})`;
    list.append(item);
  }
  list.hidden = nearest.length === 0;
  $("located-nearest-title").textContent = nearest.length
    ? "nearest training sounds"
    : "no training sounds to compare with (the model has no map/points.json)";
}

mapEl.addEventListener("dragover", (ev) => {
  if (!carriesFiles(ev)) return;
  ev.preventDefault();
  ev.dataTransfer.dropEffect = "copy";
  mapEl.classList.add("drop-target");
});

mapEl.addEventListener("dragleave", () => mapEl.classList.remove("drop-target"));

mapEl.addEventListener("drop", (ev) => {
  mapEl.classList.remove("drop-target");
  if (!carriesFiles(ev)) return;
  ev.preventDefault();
  ev.stopPropagation();
  const files = ev.dataTransfer.files;
  if (!files.length) {
    showStatus("nothing to locate: drop an audio file (WAV, AIFF, FLAC, OGG or MP3) on the map", true);
    return;
  }
  if (files.length > 1) showStatus(`locating only the first of ${files.length} files`);
  locateFile(files[0]);
});

// a file dropped beside the map must not replace the page with the file
document.addEventListener("dragover", (ev) => {
  if (carriesFiles(ev)) ev.preventDefault();
});
document.addEventListener("drop", (ev) => {
  if (!carriesFiles(ev)) return;
  ev.preventDefault();
  showStatus("drop the file on the map to find where it lands", true);
});

// ---- engine state -----------------------------------------------------------------------------
function drawCursor() {
  if (!state.cursor) return;
  const [x, y] = state.cursor;
  markerEl.hidden = false;
  markerEl.style.left = `${x * 100}%`;
  markerEl.style.top = `${(1 - y) * 100}%`;
  $("position").textContent = `x ${x.toFixed(3)}, y ${y.toFixed(3)}`;
  setDownload($("download-sound"), state.cursor);
}

function flashMarker() {
  markerEl.classList.add("flash");
  setTimeout(() => markerEl.classList.remove("flash"), 120);
}

function showState(s) {
  state.cursor = s.cursor;
  drawCursor();
  if (Array.isArray(s.pads) && !samePoints(s.pads, state.pads)) {
    state.pads = s.pads;
    drawPads();
  }
  $("ready").textContent = (s.ready ? "exact sound ready" : "playing the nearest ready sound until this one is made")
    + (s.output ? ` · output ${s.output}` : "");
  const info = s.info;
  const cls = info && info.class;
  $("class-name").textContent = cls ? cls.name : "–";
  $("class-swatch").style.background = cls ? cls.color : "transparent";
  mapEl.dataset.className = cls ? cls.name : "";
  const body = $("features").tBodies[0];
  body.replaceChildren();
  for (const [name, value] of Object.entries((info && info.features) || {})) {
    const row = body.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = `${fmt(value)} ${state.maps.feature_units[name] || ""}`.trim();
  }
}

async function refreshState() {
  try {
    const res = await fetch("/api/state", { cache: "no-store" });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
    showState(data);
    if (state.pollFailed) showStatus("connected again");
    state.pollFailed = false;
  } catch (err) {
    if (!state.pollFailed) showStatus(`the engine does not answer (${err.message}); is gesam serve running?`, true);
    state.pollFailed = true;
  }
}

async function pollForever() {
  await refreshState();
  setTimeout(pollForever, POLL_MS);
}

// ---- views and legend -------------------------------------------------------------------------
async function loadViews() {
  try {
    const res = await fetch("/api/views", { cache: "no-store" });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
    state.maps = data;
  } catch (err) {
    showStatus(`cannot read the map views: ${err.message}`, true);
    return;
  }
  viewSelect.replaceChildren();
  for (const view of state.maps.views) {
    viewSelect.add(new Option(view.title || view.name, view.name));
  }
  viewSelect.disabled = state.maps.views.length === 0;
  if (state.maps.message) {
    const message = $("map-message");
    message.textContent = state.maps.message;
    message.hidden = false;
  }
  selectView(viewSelect.value);
}

function selectView(name) {
  const view = state.maps.views.find((v) => v.name === name);
  mapEl.dataset.view = view ? view.name : "";
  if (view) {
    imageEl.hidden = false;
    imageEl.alt = `${view.title || view.name} map`;
    imageEl.src = view.image_url;
  } else {
    imageEl.hidden = true;
    imageEl.removeAttribute("src");
  }
  drawLegend(view);
}

function drawLegend(view) {
  const legend = $("legend");
  legend.replaceChildren();
  if (!view) {
    legend.textContent = state.maps.message || "no maps";
    return;
  }
  if (view.kind === "class") {
    const list = document.createElement("ul");
    for (const c of state.maps.classes) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = c.color;
      item.append(swatch, ` ${c.name}`);
      list.append(item);
    }
    legend.append(list);
  } else if (view.kind === "feature") {
    const clip = state.maps.feature_clip[view.name];
    const unit = state.maps.feature_units[view.name] || "";
    const range = document.createElement("div");
    range.className = "range";
    const low = document.createElement("span");
    const high = document.createElement("span");
    low.textContent = clip ? `low ${fmt(clip[0])} ${unit}`.trim() : "low";
    high.textContent = clip ? `high ${fmt(clip[1])} ${unit}`.trim() : "high";
    range.append(low, high);
    const stops = (state.maps.feature_colors || {})[view.name];
    if (stops && stops.length > 1) {
      const bar = document.createElement("div");
      bar.className = "colorbar";
      bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
      legend.append(bar);
    }
    const note = document.createElement("p");
    note.className = "help";
    note.textContent = `${view.title || view.name}: colours run from the low to the high value (clipped there).`;
    legend.append(range, note);
  } else {
    legend.textContent = "t-SNE colours: points of similar colour sound alike.";
  }
}

imageEl.addEventListener("error", () => {
  if (imageEl.getAttribute("src")) showStatus(`the map image ${imageEl.getAttribute("src")} could not be loaded`, true);
});

// ---- pointer and keyboard ----------------------------------------------------------------------
mapEl.addEventListener("pointerdown", (ev) => {
  if (ev.button !== 0) return;
  ev.preventDefault();
  mapEl.focus();
  mapEl.setPointerCapture(ev.pointerId);
  ensureAudio();
  const xy = pointOf(ev);
  state.dragging = true;
  state.dragCell = cellOf(xy);
  play(xy);
});

mapEl.addEventListener("pointermove", (ev) => {
  if (!state.dragging) return;
  const xy = pointOf(ev);
  const cell = cellOf(xy);
  if ($("drag-play").checked && cell !== state.dragCell) {
    state.dragCell = cell;
    play(xy);
  } else {
    move(xy);
  }
});

function endDrag(ev) {
  if (!state.dragging) return;
  state.dragging = false;
  const xy = pointOf(ev);
  if (!state.lastSent || xy[0] !== state.lastSent[0] || xy[1] !== state.lastSent[1]) move(xy);
}

mapEl.addEventListener("pointerup", endDrag);
mapEl.addEventListener("pointercancel", endDrag);

document.addEventListener("keydown", (ev) => {
  if (ev.key !== " " || ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLButtonElement) return;
  ev.preventDefault();
  ensureAudio();
  enqueue("/gesam/trigger", []);
});

$("browser-audio").addEventListener("change", ensureAudio); // a click: a user gesture
$("drag-sound").addEventListener("dragstart", (ev) => dragSoundOut(ev, state.cursor));
$("bits24").addEventListener("change", () => {
  drawCursor();
  drawPads();
});
viewSelect.addEventListener("change", () => selectView(viewSelect.value));

loadViews();
pollForever();
