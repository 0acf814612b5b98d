// passer's status page: polls /api/status and draws the cards, the node and
// job tables, and the charts (plain canvas, no libraries); the job view is
// job.js, the token-aware fetch api.js.
"use strict";

const REFRESH_MS = 2000;
let previousNodes = new Map(); // node_id -> {t, finished}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function fmt(value, digits) {
  if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (value >= 1e4) return (value / 1e3).toFixed(1) + "k";
  return Number(value).toFixed(digits || 0);
}

// A duration in seconds with a unit chosen after rounding, so 0.9996 s
// reads "1.00 s", never "1000 ms".
function seconds(s) {
  if (!(s > 0)) return "0 ms";
  if (s < 0.001) return Math.round(s * 1e6) + " µs";
  const ms = s * 1000;
  if (ms < 9.995) return ms.toFixed(2) + " ms";
  if (ms < 99.95) return ms.toFixed(1) + " ms";
  if (ms < 999.5) return ms.toFixed(0) + " ms";
  if (s < 9.995) return s.toFixed(2) + " s";
  if (s < 119.5) return s.toFixed(1) + " s";
  return (s / 60).toFixed(1) + " min";
}

function millis(ms) {
  return seconds(ms / 1000);
}

function bar(fraction, kind) {
  const span = el("span");
  span.style.width = Math.max(0, Math.min(1, fraction)) * 100 + "%";
  return el("div", { class: "bar " + (kind || "") }, span);
}

function drawCards(s) {
  const cards = [
    ["jobs running", s.jobs_running], ["tasks in flight", s.tasks_in_flight],
    ["tasks launched", s.tasks_launched], ["tasks finished", s.tasks_finished],
    ["tasks failed", s.tasks_failed], ["retries", s.tasks_retried],
    ["jobs rejected", s.jobs_rejected], ["reservations refused", s.reservations_refused],
    ["admission limit", s.admission_limit],
  ];
  document.getElementById("cards").replaceChildren(
    ...cards.map(([label, value]) => el("div", { class: "card" }, el("div", { class: "value" }, fmt(value)), el("div", { class: "label" }, label)))
  );
}

function drawNodes(nodes, now) {
  const rows = nodes.map((n) => {
    const before = previousNodes.get(n.node_id);
    const rate = before && now > before.t ? (n.tasks_finished - before.finished) / (now - before.t) : 0;
    previousNodes.set(n.node_id, { t: now, finished: n.tasks_finished });
    const state = n.up ? el("span", { class: "up" }, n.connected ? "up, streaming" : "up") : el("span", { class: "down" }, "down");
    return el("tr", { class: "node" },
      el("td", {}, n.node_id), el("td", {}, n.address),
      el("td", {}, ...n.labels.map((l) => el("span", { class: "tag" }, l))),
      el("td", {}, state), el("td", {}, n.slots_busy + "/" + n.slots_total),
      el("td", {}, bar(n.slots_total ? n.slots_busy / n.slots_total : 0)),
      el("td", {}, n.queue_length), el("td", {}, fmt(Math.max(0, rate), 1)), el("td", {}, fmt(n.tasks_finished)));
  });
  document.querySelector("#nodes tbody").replaceChildren(...rows);
}

// Jobs of more than one task get a row each; single-task jobs (the many
// small jobs Sparrow is for) are folded into one summary row.
function drawJobs(jobs) {
  const all = jobs.running.concat(jobs.recent);
  const single = all.filter((j) => j.tasks === 1);
  const multi = all.filter((j) => j.tasks !== 1);
  const rows = multi.map((j) => {
    const kind = j.failed > 0 ? "failed" : j.done ? "done" : "";
    const selected = j.job_id === openJobId() ? " selected" : "";
    const row = el("tr", { class: "job" + selected, title: "show its tasks" },
      el("td", {}, j.job_id), el("td", {}, j.tenant || "—"),
      el("td", {}, bar(j.tasks ? j.finished / j.tasks : 1, kind)),
      el("td", {}, j.finished + "/" + j.tasks), el("td", {}, j.failed),
      el("td", {}, seconds(j.elapsed)),
      el("td", {}, j.done ? "finished" : j.progress ? "running · " + j.progress : "running"));
    row.addEventListener("click", () => showJob(j.job_id));
    return row;
  });
  if (single.length > 0) {
    const running = single.filter((j) => !j.done).length;
    const failed = single.filter((j) => j.failed > 0).length;
    const finished = single.length - running;
    const mean = single.reduce((sum, j) => sum + j.elapsed, 0) / single.length;
    rows.push(el("tr", { class: "job summary" },
      el("td", {}, single.length + " single-task jobs"), el("td", {}, "—"),
      el("td", {}, bar(finished / single.length, failed > 0 ? "failed" : running ? "" : "done")),
      el("td", {}, finished + "/" + single.length), el("td", {}, failed),
      el("td", {}, "mean " + seconds(mean)), el("td", {}, running + " running")));
  }
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no jobs yet")));
  document.querySelector("#jobs tbody").replaceChildren(...rows);
}

// Draws series [{values, color, label, width, alpha, axis, format}] against
// times `ts` on a canvas. Series with `axis: "right"` get their own scale,
// labelled on the right, so a small series is not flattened by a large one.
function drawChart(id, ts, series) {
  const canvas = document.getElementById(id);
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width, height = canvas.clientHeight || canvas.height;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const hasRight = series.some((s) => s.axis === "right");
  const left = 52, right = hasRight ? 48 : 8, top = 18, bottom = 20;
  const plotW = width - left - right, plotH = height - top - bottom;
  const scaleOf = (axis) => {
    let max = 0;
    for (const s of series) if ((s.axis || "left") === axis) for (const v of s.values) max = Math.max(max, v);
    return max > 0 ? max * 1.1 : 1;
  };
  const maxOf = { left: scaleOf("left"), right: scaleOf("right") };
  const labelOf = (axis) => {
    const s = series.find((x) => (x.axis || "left") === axis);
    return (s && s.format) || ((v) => fmt(v, maxOf[axis] < 10 ? 1 : 0));
  };
  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#e2e5ea"; ctx.fillStyle = "#6b7385"; ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + plotW, y); ctx.stroke();
    ctx.fillText(labelOf("left")((maxOf.left * i) / 4), 4, y + 4);
    if (hasRight) ctx.fillText(labelOf("right")((maxOf.right * i) / 4), left + plotW + 4, y + 4);
  }
  const t0 = ts.length ? ts[0] : 0, t1 = ts.length ? ts[ts.length - 1] : 1;
  const span = Math.max(t1 - t0, 1);
  ctx.fillText("-" + seconds(span), left, height - 5);
  ctx.fillText("now", left + plotW - 22, height - 5);
  let legendX = left;
  for (const s of series) {
    const max = maxOf[s.axis || "left"];
    ctx.globalAlpha = s.alpha || 1;
    ctx.strokeStyle = s.color; ctx.lineWidth = s.width || 2; ctx.beginPath();
    s.values.forEach((v, i) => {
      const x = left + ((ts[i] - t0) / span) * plotW, y = top + plotH - (v / max) * plotH;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = s.color; ctx.fillRect(legendX, 4, 10, 10);
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#1d2330"; ctx.fillText(s.label, legendX + 14, 13);
    legendX += ctx.measureText(s.label).width + 34;
  }
  canvas.dataset.points = String(ts.length);
  canvas.dataset.drawn = "true";
}

function drawCharts(history) {
  const ts = history.map((p) => p.t);
  // launched/s underneath, wide and pale; finished/s on top, thin: when the
  // two agree (the usual case) both stay visible.
  drawChart("chart-throughput", ts, [
    { values: history.map((p) => p.launched_per_s), color: "#d08a00", label: "launched/s", width: 5, alpha: 0.45 },
    { values: history.map((p) => p.finished_per_s), color: "#2f6fde", label: "finished/s", width: 1.5 },
  ]);
  drawChart("chart-latency", ts, [
    { values: history.map((p) => p.latency_ms), color: "#c93c37", label: "mean latency", format: millis },
  ]);
  // Busy slots on the left axis, queued reservations on the right: a queue
  // of thousands no longer flattens a few busy slots.
  drawChart("chart-load", ts, [
    { values: history.map((p) => p.slots_busy), color: "#1f9d55", label: "slots busy" },
    { values: history.map((p) => p.queue_length), color: "#6b7385", label: "queued (right axis)", axis: "right" },
  ]);
}

async function refresh() {
  try {
    const response = await api("/api/status");
    const status = await response.json();
    const s = status.scheduler;
    document.getElementById("scheduler").textContent = "scheduler " + s.address + " · up " + seconds(s.uptime_s) + " · " + status.nodes.length + " node monitors";
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    drawCards(s);
    drawNodes(status.nodes, s.uptime_s);
    drawJobs(status.jobs);
    drawCharts(status.history);
    await refreshJobView();
    document.body.dataset.loaded = "true";
  } catch (error) {
    document.getElementById("scheduler").textContent = "cannot reach the scheduler: " + error;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
