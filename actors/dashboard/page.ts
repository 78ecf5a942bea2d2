/**
 * The dashboard page: one self-contained HTML document (inline CSS and JS, no CDN, the chart is
 * inline SVG) that follows `/events` (server-sent events) and renders every update. It builds the
 * DOM with textContent only, so nothing from the cluster (paths, reasons) is ever parsed as HTML.
 * Stable hooks for tests and scripts: `tr[data-node=ID] [data-field=state]`, `tr[data-file=PATH]`,
 * `[data-health=KEY]`, `#rate-files[data-bytes]`, `#rate-stored[data-bytes]`, `#conn[data-state]`.
 */

const STYLE = `
:root { --bg:#0f1512; --panel:#17201b; --line:#2a372f; --text:#dfe8e1; --dim:#8fa396; --ok:#5fcf80; --warn:#e8b44a; --bad:#ef6a5b; --files:#6cb6ff; --stored:#5fcf80; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; gap:16px; align-items:baseline; padding:12px 20px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header h1 { font-size:18px; margin:0; font-weight:600; }
header .meta { color:var(--dim); }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; background:var(--line); }
.badge.ok { background:#1f4a2c; color:var(--ok); } .badge.warn { background:#4a3c1c; color:var(--warn); } .badge.bad { background:#4d1f1a; color:var(--bad); }
main { display:grid; grid-template-columns: minmax(0,3fr) minmax(0,2fr); gap:16px; padding:16px 20px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0; }
section h2 { font-size:14px; margin:0 0 10px; color:var(--dim); font-weight:600; text-transform:uppercase; letter-spacing:.05em; }
section h2 .meta, section h2 .badge { text-transform:none; letter-spacing:0; font-weight:500; margin-left:8px; }
.wide { grid-column: 1 / -1; }
table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--dim); font-weight:500; font-size:12px; }
td.num, th.num { text-align:right; }
td.path { white-space:normal; word-break:break-all; }
tr.dead td { color:var(--dim); }
.bar { width:120px; height:8px; background:var(--line); border-radius:4px; overflow:hidden; display:inline-block; vertical-align:middle; margin-right:6px; }
.bar > span { display:block; height:100%; background:var(--stored); }
.health { display:grid; grid-template-columns: repeat(auto-fill, minmax(130px,1fr)); gap:8px; }
.health > div { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:6px 10px; }
.health .v { font-size:20px; font-weight:600; font-variant-numeric: tabular-nums; }
.health .k { color:var(--dim); font-size:12px; }
.health .bad .v { color:var(--bad); } .health .warn .v { color:var(--warn); }
#events { list-style:none; margin:0; padding:0; max-height:420px; overflow:auto; font-size:13px; }
#events li { padding:3px 0; border-bottom:1px solid var(--line); display:flex; gap:8px; }
#events li .t { color:var(--dim); font-variant-numeric: tabular-nums; flex:none; }
#events li .k { color:var(--dim); flex:none; width:175px; overflow:hidden; text-overflow:ellipsis; }
#events li.warn .s { color:var(--warn); }
.rates { display:flex; gap:24px; margin-bottom:6px; flex-wrap:wrap; }
.rates .v { font-size:18px; font-weight:600; font-variant-numeric: tabular-nums; }
.key { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
svg { width:100%; height:180px; display:block; }
svg .grid { stroke:var(--line); stroke-width:1; }
svg text { fill:var(--dim); font-size:11px; }
.empty { color:var(--dim); font-style:italic; }
.stale { color:var(--warn); }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
`;

/*
 * The script avoids template literals on purpose: it lives inside a TypeScript template literal.
 */
const SCRIPT = `
"use strict";
var EVENTS_MAX = 200;
var events = [];
var lastView = null;
var receivedAt = 0;

function $(id) { return document.getElementById(id); }
function el(tag, attrs, children) {
  var e = document.createElement(tag);
  if (attrs) for (var k in attrs) {
    if (k === "text") e.textContent = attrs[k];
    else if (k === "class") e.className = attrs[k];
    else e.setAttribute(k, attrs[k]);
  }
  if (children) for (var i = 0; i < children.length; i++) if (children[i]) e.appendChild(children[i]);
  return e;
}
function svgEl(tag, attrs) {
  var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (var k in attrs) { if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); }
  return e;
}
function fmtBytes(n) {
  if (!isFinite(n)) return "?";
  var u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return i === 0 ? Math.round(n) + " B" : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) + " " + u[i];
}
function fmtMs(ms) {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1000) return ms + " ms";
  if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
  return Math.round(ms / 60000) + " min";
}
function fmtTime(ms) {
  var d = new Date(ms);
  function p(n, w) { n = String(n); while (n.length < (w || 2)) n = "0" + n; return n; }
  return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3);
}
function replace(node, children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  for (var i = 0; i < children.length; i++) node.appendChild(children[i]);
}

function setConn(state, text) {
  var c = $("conn");
  c.setAttribute("data-state", state);
  c.className = "badge " + (state === "live" ? "ok" : state === "connecting" ? "warn" : "bad");
  c.textContent = text;
}

function renderNamenode(v) {
  var n = $("namenode");
  if (v.namenode.reachable) { n.className = "badge ok"; n.textContent = "namenode ok"; n.title = ""; }
  else { n.className = "badge bad"; n.textContent = "namenode unreachable"; n.title = v.namenode.error || ""; }
  n.setAttribute("data-state", v.namenode.reachable ? "ok" : "unreachable");
}

function renderNodes(v) {
  var rows = [];
  for (var i = 0; i < v.nodes.length; i++) {
    var d = v.nodes[i];
    var state = d.state + (d.silent ? " (silent)" : "");
    var cls = d.state === "dead" ? "bad" : d.state === "full" || d.silent ? "warn" : "ok";
    var pct = d.capacityBytes > 0 ? Math.min(100, (100 * (d.capacityBytes - d.availableBytes)) / d.capacityBytes) : 0;
    var bar = el("span", { class: "bar", title: pct.toFixed(1) + "% of the disk in use" }, [el("span", { style: "width:" + pct.toFixed(1) + "%" })]);
    rows.push(el("tr", { "data-node": d.id, "data-state": d.state, class: d.state === "dead" ? "dead" : "" }, [
      el("td", { text: d.id }),
      el("td", { "data-field": "state" }, [el("span", { class: "badge " + cls, text: state })]),
      el("td", {}, [bar, document.createTextNode(fmtBytes(d.availableBytes) + " free of " + fmtBytes(d.capacityBytes))]),
      el("td", { class: "num", "data-field": "used", text: fmtBytes(d.usedBytes) }),
      el("td", { class: "num", "data-field": "chunks", text: String(d.chunks) }),
      el("td", { class: "num", "data-field": "load", text: Math.round(Number(d.load)) + "%" }),
      el("td", { class: "num", "data-field": "writes", text: String(d.activeWrites) }),
      el("td", { class: "num", "data-field": "repairs", text: String(d.repairs || 0) }),
      el("td", { class: "num", "data-field": "heartbeat", text: d.state === "dead" ? fmtMs(d.lastHeartbeatMsAgo) + " ago" : fmtMs(d.lastHeartbeatMsAgo) }),
    ]));
  }
  if (rows.length === 0) rows.push(el("tr", {}, [el("td", { colspan: "9", class: "empty", text: "no datanode has reported yet" })]));
  replace($("nodes-body"), rows);
  var alive = v.nodes.filter(function (d) { return d.state !== "dead"; }).length;
  $("nodes-count").textContent = alive + " of " + v.nodes.length + " alive";
}

var HEALTH = [
  ["underReplicated", "under-replicated", "warn"],
  ["overReplicated", "over-replicated", "warn"],
  ["corrupt", "corrupt", "bad"],
  ["missing", "missing", "bad"],
  ["files", "files", ""],
  ["chunks", "chunks", ""],
  ["liveNodes", "live datanodes", ""],
  ["repairsInflight", "repairs running", ""],
];
function renderHealth(v) {
  var f = v.fsck;
  var s = $("health-status");
  if (!f) { s.className = "badge"; s.textContent = "unknown"; s.setAttribute("data-state", "unknown"); replace($("health"), []); return; }
  s.className = "badge " + (f.healthy ? "ok" : "bad");
  s.textContent = (f.healthy ? "healthy" : "unhealthy") + (f.safeMode ? ", safe mode" : "");
  s.setAttribute("data-state", f.healthy ? "healthy" : "unhealthy");
  var cells = [];
  for (var i = 0; i < HEALTH.length; i++) {
    var key = HEALTH[i][0], val = f[key];
    if (val === undefined) continue;
    var cls = val > 0 ? HEALTH[i][2] : "";
    cells.push(el("div", { class: cls, "data-health": key }, [el("div", { class: "v", text: String(val) }), el("div", { class: "k", text: HEALTH[i][1] })]));
  }
  replace($("health"), cells);
}

function renderFiles(v) {
  var rows = [];
  for (var i = 0; i < v.files.entries.length; i++) {
    var f = v.files.entries[i];
    rows.push(el("tr", { "data-file": f.path }, [el("td", { class: "path", text: f.path }), el("td", { class: "num", text: fmtBytes(f.size || 0) })]));
  }
  if (rows.length === 0) rows.push(el("tr", {}, [el("td", { colspan: "2", class: "empty", text: "no files yet" })]));
  replace($("files-body"), rows);
  var total = v.fsck ? v.fsck.files : v.files.entries.length;
  $("files-count").textContent = (v.files.truncated ? "first " + v.files.entries.length + " of " + total : total + " files") + (v.files.error ? " (listing failed: " + v.files.error + ")" : "");
}

function renderThroughput(v) {
  var t = v.throughput;
  var rf = $("rate-files"), rs = $("rate-stored");
  rf.textContent = fmtBytes(t.filesRate) + "/s"; rf.setAttribute("data-bytes", String(t.filesRate)); rf.setAttribute("data-total", String(t.filesTotal));
  rs.textContent = fmtBytes(t.storedRate) + "/s"; rs.setAttribute("data-bytes", String(t.storedRate)); rs.setAttribute("data-total", String(t.storedTotal));
  $("rate-window").textContent = "average of the last " + t.rateWindowS + " s; " + fmtBytes(t.filesTotal) + " written, " + fmtBytes(t.storedTotal) + " stored in " + t.windowS + " s";
  var W = 600, H = 160, L = 56, B = 18, pts = t.points;
  var max = 1024;
  for (var i = 0; i < pts.length; i++) max = Math.max(max, pts[i].files, pts[i].stored);
  var svg = $("chart");
  var kids = [];
  for (var g = 0; g <= 4; g++) {
    var y = 4 + ((H - B - 4) * g) / 4;
    kids.push(svgEl("line", { class: "grid", x1: L, x2: W, y1: y, y2: y }));
    kids.push(svgEl("text", { x: L - 6, y: y + 4, "text-anchor": "end", text: fmtBytes((max * (4 - g)) / 4) + "/s" }));
  }
  kids.push(svgEl("text", { x: L, y: H - 2, text: "-" + t.windowS + " s" }));
  kids.push(svgEl("text", { x: W, y: H - 2, "text-anchor": "end", text: "now" }));
  function line(key, color) {
    var d = [];
    for (var i = 0; i < pts.length; i++) {
      var x = L + ((W - L) * i) / Math.max(1, pts.length - 1);
      var y = 4 + (H - B - 4) * (1 - pts[i][key] / max);
      d.push(x.toFixed(1) + "," + y.toFixed(1));
    }
    return svgEl("polyline", { points: d.join(" "), fill: "none", style: "stroke:" + color, "stroke-width": 2, "vector-effect": "non-scaling-stroke", "data-series": key });
  }
  kids.push(line("stored", "var(--stored)"));
  kids.push(line("files", "var(--files)"));
  replace(svg, kids);
}

function renderEvents() {
  var items = [];
  for (var i = events.length - 1; i >= 0; i--) {
    var e = events[i];
    var li = el("li", { class: e.level, "data-kind": e.kind, "data-seq": String(e.seq), title: JSON.stringify(e.fields) }, [
      el("span", { class: "t", text: fmtTime(e.atMs) }),
      el("span", { class: "k", text: e.kind }),
      el("span", { class: "s", text: e.summary }),
    ]);
    items.push(li);
  }
  if (items.length === 0) items.push(el("li", { class: "empty", text: "no events since the dashboard started" }));
  replace($("events"), items);
}

function render(v) {
  lastView = v; receivedAt = Date.now();
  document.title = "woods dashboard (" + v.prefix + ")";
  $("prefix").textContent = "prefix " + v.prefix;
  renderNamenode(v); renderNodes(v); renderHealth(v); renderFiles(v); renderThroughput(v); renderEvents();
  $("updated").textContent = "updated " + fmtTime(v.nowMs);
  $("stale").textContent = v.namenode.reachable ? "" : "last answer from the namenode " + fmtMs(v.namenode.lastOkAgoMs) + " ago: " + (v.namenode.error || "");
}

function addEvents(list, reset) {
  if (reset) events = [];
  for (var i = 0; i < list.length; i++) events.push(list[i]);
  if (events.length > EVENTS_MAX) events.splice(0, events.length - EVENTS_MAX);
}

function connect() {
  setConn("connecting", "connecting");
  var es = new EventSource("events");
  es.addEventListener("snapshot", function (m) { var d = JSON.parse(m.data); addEvents(d.events, true); render(d.view); setConn("live", "live"); });
  es.addEventListener("update", function (m) { var d = JSON.parse(m.data); addEvents(d.events, false); render(d.view); setConn("live", "live"); });
  es.onerror = function () { setConn("lost", "reconnecting"); };
}
connect();
`;

const BODY = `
<header>
  <h1>Whispering Woods</h1>
  <span class="meta" id="prefix"></span>
  <span id="conn" class="badge warn" data-state="connecting">connecting</span>
  <span id="namenode" class="badge">namenode ?</span>
  <span class="meta" id="updated"></span>
  <span class="stale" id="stale"></span>
</header>
<main>
  <section class="wide" id="datanodes">
    <h2>Datanodes <span class="meta" id="nodes-count"></span></h2>
    <table>
      <thead><tr><th>id</th><th>state</th><th>capacity</th><th class="num">used by chunks</th><th class="num">chunks</th><th class="num">CPU load</th><th class="num">writes</th><th class="num">repairs</th><th class="num">last heartbeat</th></tr></thead>
      <tbody id="nodes-body"></tbody>
    </table>
  </section>
  <section id="throughput">
    <h2>Throughput</h2>
    <div class="rates">
      <div><span class="key" style="background:var(--files)"></span>written by clients <div class="v" id="rate-files" data-bytes="0">-</div></div>
      <div><span class="key" style="background:var(--stored)"></span>stored on datanodes <div class="v" id="rate-stored" data-bytes="0">-</div></div>
    </div>
    <svg id="chart" viewBox="0 0 600 160" role="img" aria-label="bytes per second over time"></svg>
    <div class="meta" id="rate-window"></div>
  </section>
  <section id="health-panel">
    <h2>Health <span id="health-status" class="badge" data-state="unknown">unknown</span></h2>
    <div class="health" id="health"></div>
  </section>
  <section id="files-panel">
    <h2>Files <span class="meta" id="files-count"></span></h2>
    <div style="max-height:420px; overflow:auto">
      <table><thead><tr><th>path</th><th class="num">size</th></tr></thead><tbody id="files-body"></tbody></table>
    </div>
  </section>
  <section id="events-panel">
    <h2>Events</h2>
    <ul id="events"></ul>
  </section>
</main>
`;

/** The whole page. */
export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>woods dashboard</title>
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
