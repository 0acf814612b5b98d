// passer's status page: polls /api/status and draws the cards, the node and
// job tables, and the charts (plain canvas, no libraries).
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

function seconds(s) {
  if (s < 1) return (s * 1000).toFixed(0) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  return (s / 60).toFixed(1) + " min";
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

function drawJobs(jobs) {
  const all = jobs.running.concat(jobs.recent);
  const rows = all.map((j) => {
    const kind = j.failed > 0 ? "failed" : j.done ? "done" : "";
    return el("tr", { class: "job" },
      el("td", {}, j.job_id), el("td", {}, j.tenant || "—"),
      el("td", {}, bar(j.tasks ? j.finished / j.tasks : 1, kind)),
      el("td", {}, j.finished + "/" + j.tasks), el("td", {}, j.failed),
      el("td", {}, seconds(j.elapsed)), el("td", {}, j.done ? "finished" : "running"));
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no jobs yet")));
  document.querySelector("#jobs tbody").replaceChildren(...rows);
}

// Draws series [{values, color, label}] against times `ts` on a canvas.
function drawChart(id, ts, series) {
  const canvas = document.getElementById(id);
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width, height = canvas.clientHeight || canvas.height;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const left = 48, right = 8, top = 18, bottom = 20;
  const plotW = width - left - right, plotH = height - top - bottom;
  let max = 0;
  for (const s of series) for (const v of s.values) max = Math.max(max, v);
  max = max > 0 ? max * 1.1 : 1;
  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#e2e5ea"; ctx.fillStyle = "#6b7385"; ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + plotW, y); ctx.stroke();
    ctx.fillText(fmt((max * i) / 4, max < 10 ? 1 : 0), 4, y + 4);
  }
  const t0 = ts.length ? ts[0] : 0, t1 = ts.length ? ts[ts.length - 1] : 1;
  const span = Math.max(t1 - t0, 1);
  ctx.fillText("-" + seconds(span), left, height - 5);
  ctx.fillText("now", left + plotW - 22, height - 5);
  let legendX = left;
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.beginPath();
    s.values.forEach((v, i) => {
      const x = left + ((ts[i] - t0) / span) * plotW, y = top + plotH - (v / max) * plotH;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = s.color; ctx.fillRect(legendX, 4, 10, 10);
    ctx.fillStyle = "#1d2330"; ctx.fillText(s.label, legendX + 14, 13);
    legendX += ctx.measureText(s.label).width + 34;
  }
  canvas.dataset.points = String(ts.length);
  canvas.dataset.drawn = "true";
}

function drawCharts(history) {
  const ts = history.map((p) => p.t);
  drawChart("chart-throughput", ts, [
    { values: history.map((p) => p.finished_per_s), color: "#2f6fde", label: "finished/s" },
    { values: history.map((p) => p.launched_per_s), color: "#d08a00", label: "launched/s" },
  ]);
  drawChart("chart-latency", ts, [{ values: history.map((p) => p.latency_ms), color: "#c93c37", label: "mean latency ms" }]);
  drawChart("chart-load", ts, [
    { values: history.map((p) => p.slots_busy), color: "#1f9d55", label: "slots busy" },
    { values: history.map((p) => p.queue_length), color: "#6b7385", label: "queued" },
  ]);
}

async function refresh() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    const status = await response.json();
    const s = status.scheduler;
    document.getElementById("scheduler").textContent = "scheduler " + s.address + " · up " + seconds(s.uptime_s) + " · " + status.nodes.length + " node monitors";
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    drawCards(s);
    drawNodes(status.nodes, s.uptime_s);
    drawJobs(status.jobs);
    drawCharts(status.history);
    document.body.dataset.loaded = "true";
  } catch (error) {
    document.getElementById("scheduler").textContent = "cannot reach the scheduler: " + error;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
