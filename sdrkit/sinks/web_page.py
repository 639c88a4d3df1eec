"""The live web view's page (one HTML file with an inline script; served by :mod:`sdrkit.sinks.web`)."""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sdrkit live view</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{margin:0;background:#111;color:#ddd;font:13px/1.35 system-ui,sans-serif}
 header{padding:6px 12px;background:#1b1b1b;display:flex;gap:18px;align-items:baseline;flex-wrap:wrap}
 header h1{font-size:15px;margin:0;color:#fff}
 #status{color:#8c8}
 main{display:grid;grid-template-columns:minmax(0,3fr) minmax(260px,1fr);gap:10px;padding:10px}
 canvas{width:100%;display:block;background:#000;border:1px solid #333}
 section{background:#1a1a1a;border:1px solid #2a2a2a;padding:8px;margin-bottom:10px}
 h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#999;margin:0 0 6px}
 #now{font-size:30px;font-weight:600;color:#fff}
 .bar{display:flex;align-items:center;gap:6px;margin:2px 0}
 .bar span.n{width:90px;overflow:hidden;white-space:nowrap}
 .bar div{height:12px;background:#3a7bd5}
 .bar span.c{color:#aaa;font-size:11px}
 table{border-collapse:collapse;width:100%}
 td{padding:1px 4px;border-bottom:1px solid #262626}
 td:last-child{text-align:right;font-variant-numeric:tabular-nums}
 .axis{display:flex;justify-content:space-between;color:#888;font-size:11px}
</style></head>
<body>
<header><h1 id="title">sdrkit live view</h1><span id="status">connecting…</span>
 <span>updates: <b id="updates">0</b> (<span id="ups">0</span>/s)</span></header>
<main>
 <div>
  <section><h2>spectrum</h2><canvas id="spec" width="1024" height="220"></canvas>
   <div class="axis"><span id="f0"></span><span id="fc"></span><span id="f1"></span></div></section>
  <section><h2>waterfall</h2><canvas id="wf" width="512" height="200"></canvas></section>
 </div>
 <div>
  <section><h2>prediction</h2><div id="now">–</div><div id="conf"></div></section>
  <section><h2>rolling tally per class</h2><div id="tally"></div></section>
  <section id="scoresec" style="display:none"><h2>rolling accuracy (labelled stream)</h2>
   <div id="acc"></div><table id="persnr"></table></section>
  <section><h2>stream health</h2><table id="health"></table></section>
 </div>
</main>
<script>
const $ = id => document.getElementById(id);
const spec = $("spec"), sctx = spec.getContext("2d");
const wf = $("wf"), wctx = wf.getContext("2d");
let n = 0, t0 = performance.now(), lo = -110, hi = -10;
function color(v) {               // 0..1 -> viridis-like RGB
  const r = Math.round(255 * Math.min(1, Math.max(0, 1.7 * v - 0.7)));
  const g = Math.round(255 * Math.min(1, Math.max(0, 1.4 * v - 0.1)));
  const b = Math.round(255 * Math.min(1, Math.max(0, 0.6 + 0.6 * v - 1.4 * v * v)));
  return [r, g, b];
}
function fmtHz(f) { return (f / 1e6).toFixed(3) + " MHz"; }
function drawSpectrum(s, mask) {
  const db = s.db, w = spec.width, h = spec.height, m = db.length;
  const sorted = db.slice().sort((a, b) => a - b);
  const tlo = sorted[Math.floor(m * 0.05)] - 10, thi = sorted[m - 1] + 5;
  lo = 0.9 * lo + 0.1 * tlo; hi = 0.9 * hi + 0.1 * thi;
  sctx.fillStyle = "#000"; sctx.fillRect(0, 0, w, h);
  if (mask) {
    sctx.fillStyle = "rgba(255,80,80,0.35)";
    for (let i = 0; i < mask.length; i++) if (mask[i] > 0.5) sctx.fillRect(i * w / mask.length, 0, w / mask.length + 1, h);
  }
  sctx.strokeStyle = "#333"; sctx.beginPath();
  for (let k = 1; k < 5; k++) { sctx.moveTo(0, k * h / 5); sctx.lineTo(w, k * h / 5); }
  sctx.stroke();
  sctx.strokeStyle = "#6cf"; sctx.beginPath();
  for (let i = 0; i < m; i++) {
    const y = h - (db[i] - lo) / (hi - lo) * h, x = i * w / (m - 1);
    i ? sctx.lineTo(x, y) : sctx.moveTo(x, y);
  }
  sctx.stroke();
  sctx.fillStyle = "#888"; sctx.fillText(hi.toFixed(0) + " dBFS", 4, 12); sctx.fillText(lo.toFixed(0) + " dBFS", 4, h - 4);
  $("f0").textContent = fmtHz(s.f0); $("f1").textContent = fmtHz(s.f1); $("fc").textContent = fmtHz((s.f0 + s.f1) / 2);
  // waterfall: scroll down one row, newest on top
  wctx.drawImage(wf, 0, 0, wf.width, wf.height - 1, 0, 1, wf.width, wf.height - 1);
  const row = wctx.createImageData(wf.width, 1);
  for (let x = 0; x < wf.width; x++) {
    const i = Math.floor(x * m / wf.width), v = Math.min(1, Math.max(0, (db[i] - lo) / (hi - lo)));
    let [r, g, b] = color(v);
    if (mask && mask[Math.floor(x * mask.length / wf.width)] > 0.5) { r = Math.min(255, r + 120); }
    row.data.set([r, g, b, 255], 4 * x);
  }
  wctx.putImageData(row, 0, 0);
}
let lastNow = null, rowsSince = 99;
function markWaterfall(label) {   // the prediction written onto the waterfall where it changes
  rowsSince++;
  if (!label || (label === lastNow && rowsSince < 40)) return;
  lastNow = label; rowsSince = 0;
  wctx.fillStyle = "rgba(0,0,0,0.6)"; wctx.fillRect(0, 0, 8 + 7 * label.length, 12);
  wctx.fillStyle = "#fff"; wctx.font = "10px sans-serif"; wctx.fillText(label, 4, 10);
}
function rows(el, pairs) { el.innerHTML = pairs.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join(""); }
function update(ev) {
  n++; $("updates").textContent = n;
  $("ups").textContent = (n / ((performance.now() - t0) / 1000)).toFixed(1);
  $("title").textContent = "sdrkit live view: " + ev.title;
  $("status").textContent = ev.ended ? "stream ended" : "live";
  if (ev.spectrum) { drawSpectrum(ev.spectrum, ev.mask); markWaterfall(ev.now); }
  $("now").textContent = ev.now || "–";
  const last = ev.frames && ev.frames.length ? ev.frames[ev.frames.length - 1] : null;
  $("conf").textContent = last && last.p != null ? `newest frame: ${last.pred} (p = ${last.p})` : "";
  const tally = ev.tally || {}, tot = Object.values(tally).reduce((a, b) => a + b, 0) || 1;
  $("tally").innerHTML = Object.entries(tally).map(([k, v]) =>
    `<div class="bar" data-class="${k}"><span class="n">${k}</span><div style="width:${(150 * v / tot).toFixed(0)}px"></div>` +
    `<span class="c">${v} (${(100 * v / tot).toFixed(0)}%)</span></div>`).join("");
  const h = ev.health;
  const hp = [["rate", `${h.rate_msps} MS/s (nominal ${h.nominal_msps})`], ["samples lost", h.samples_lost],
              ["frames in / analyzed", `${h.frames_in} / ${h.frames_analyzed} (${(100 * h.analyzed_fraction).toFixed(1)}%)`],
              ["frames skipped", h.frames_skipped], ["queue (peak)", `${h.queue} (${h.queue_peak})`],
              ["latency (last batch)", h.latency_ms == null ? "–" : h.latency_ms + " ms"], ["timeouts", h.timeouts]];
  for (const [k, v] of Object.entries(h.counters || {})) hp.push([k + " fraction", (100 * v).toFixed(1) + "%"]);
  rows($("health"), hp);
  if (ev.score) {
    $("scoresec").style.display = "";
    $("acc").innerHTML = `<b id="accv">${(100 * ev.score.accuracy).toFixed(1)}%</b> over the last ${ev.score.frames} frames ` +
      `(${ev.score.scored} scored, ${ev.score.distinct} distinct)`;
    rows($("persnr"), Object.entries(ev.score.per_snr).map(([s, v]) =>
      [s === "n/a" ? "SNR n/a" : `${s} dB`, `${(100 * v.accuracy).toFixed(0)}% (${v.frames})`]));
  }
}
const es = new EventSource("/events");
es.onmessage = m => update(JSON.parse(m.data));
es.onerror = () => { $("status").textContent = "disconnected (run ended?)"; };
</script></body></html>
"""
