// passer's status page: the job view. A click on a job row (or the address
// #job=ID) opens it; it lists the job's tasks from /api/jobs/ID, failures
// first, and cancels the job with POST /api/jobs/ID/cancel. An ended task's
// logs open under its row from /api/jobs/ID/tasks/TASK/logs (fetched once:
// they no longer change).
"use strict";

const TASK_STATES = ["failed", "running", "pending", "cancelled", "succeeded"];

// Task ids whose logs are open, and the logs fetched, of the open job.
const openLogs = new Set();
const fetchedLogs = new Map();
let logsOfJob = null;

// The id of the job the address asks for, or null.
function openJobId() {
  const match = /^#job=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function jobPath(id) {
  return "/api/jobs/" + encodeURIComponent(id);
}

function showJob(id) {
  location.hash = "job=" + encodeURIComponent(id);
}

function jobMessage(text) {
  document.getElementById("job-message").textContent = text;
}

async function refreshJobView() {
  const id = openJobId();
  const section = document.getElementById("job-view");
  section.hidden = id === null;
  if (id === null) return;
  document.getElementById("job-title").textContent = id;
  try {
    const response = await api(jobPath(id));
    const job = await response.json();
    if (!response.ok) {
      document.getElementById("job-cancel").disabled = true;
      document.querySelector("#tasks tbody").replaceChildren();
      document.getElementById("job-summary").textContent = "";
      jobMessage(job.error || response.statusText);
      return;
    }
    drawJobView(job);
  } catch (error) {
    jobMessage("cannot load the job: " + error.message);
  }
}

function drawJobView(job) {
  const counts = TASK_STATES.filter((s) => job.counts[s] > 0).map((s) => job.counts[s] + " " + s);
  const parts = [job.state, job.tasks_total + " tasks: " + counts.join(", ")];
  if (job.tenant) parts.push("tenant " + job.tenant);
  if (job.elapsed_s !== undefined) parts.push("running for " + seconds(job.elapsed_s));
  if (job.tasks.length < job.tasks_total) parts.push("showing the first " + job.tasks.length + " (failures first)");
  document.getElementById("job-summary").textContent = parts.join(" · ");
  document.getElementById("job-cancel").disabled = job.state !== "running";
  if (logsOfJob !== job.job_id) {
    logsOfJob = job.job_id;
    openLogs.clear();
    fetchedLogs.clear();
  }
  const rows = job.tasks.flatMap((t) => {
    const row = el("tr", { class: "task " + t.state },
      el("td", {}, t.task_id), el("td", {}, el("span", { class: "state " + t.state }, t.state)),
      el("td", {}, t.node || "—"), el("td", {}, t.attempt || "—"),
      el("td", {}, t.state === "pending" ? "—" : seconds(t.duration_s)),
      el("td", { class: "error" }, t.error),
      el("td", {}, t.log_bytes > 0 ? logsButton(t) : "—"));
    if (!openLogs.has(t.task_id)) return [row];
    const text = fetchedLogs.get(t.task_id) ?? "loading…";
    return [row, el("tr", { class: "task-logs" }, el("td", { colspan: "7" }, el("pre", { class: "logs" }, text)))];
  });
  document.querySelector("#tasks tbody").replaceChildren(...rows);
  document.getElementById("job-view").dataset.loaded = job.job_id;
}

function logsButton(task) {
  const label = (openLogs.has(task.task_id) ? "hide " : "show ") + task.log_bytes + " B";
  const button = el("button", { class: "logs" }, label);
  button.addEventListener("click", () => toggleLogs(task.task_id));
  return button;
}

async function toggleLogs(taskId) {
  if (openLogs.delete(taskId)) return refreshJobView();
  openLogs.add(taskId);
  if (!fetchedLogs.has(taskId)) {
    try {
      const response = await api(jobPath(openJobId()) + "/tasks/" + encodeURIComponent(taskId) + "/logs");
      const answer = await response.json();
      fetchedLogs.set(taskId, response.ok ? answer.logs : answer.error || response.statusText);
    } catch (error) {
      fetchedLogs.set(taskId, "cannot load the logs: " + error.message);
    }
  }
  await refreshJobView();
}

async function cancelOpenJob() {
  const id = openJobId();
  if (id === null || !window.confirm("Cancel job " + id + "? Its unfinished tasks end CANCELLED.")) return;
  askTokenAgain();
  try {
    const response = await api(jobPath(id) + "/cancel", { method: "POST", headers: { "X-Requested-With": "passer-status-page" } });
    const answer = await response.json();
    jobMessage(response.ok ? "cancelled" : answer.error || response.statusText);
  } catch (error) {
    jobMessage("cannot cancel: " + error.message);
  }
  await refreshJobView();
}

document.getElementById("job-cancel").addEventListener("click", cancelOpenJob);
document.getElementById("job-close").addEventListener("click", (event) => {
  event.preventDefault();
  history.replaceState(null, "", location.pathname);
  refreshJobView();
});
window.addEventListener("hashchange", () => {
  jobMessage("");
  refreshJobView().then(() => document.getElementById("job-view").scrollIntoView());
});
