// The page's behaviour: plain browser APIs, no build step. Requests use relative URLs so the app works
// behind a path prefix, and the API key rides along from the page's address (or the cookie it set).
"use strict";

const apiKey = new URLSearchParams(window.location.search).get("api_key");
const headers = apiKey ? { "X-API-Key": apiKey } : {};
const POLL_MS = 1000;

async function call(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({ error: response.statusText }));
    throw new Error(body.error || response.statusText);
  }
  return response;
}

function show(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

document.getElementById("predict-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("predict-status");
  const button = form.querySelector("button");
  button.disabled = true;
  show(status, "Predicting...");
  try {
    const response = await call("predict", { method: "POST", body: new FormData(form) });
    const name = (response.headers.get("Content-Disposition") || "").match(/filename="(.+)"/);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = name ? name[1] : "predictions.csv";
    link.click();
    URL.revokeObjectURL(link.href);
    show(status, `Predicted with model v${response.headers.get("X-Model-Version")}: ${link.download} downloaded.`);
  } catch (error) {
    show(status, error.message, true);
  } finally {
    button.disabled = false;
  }
});

document.getElementById("train-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("train-status");
  const button = form.querySelector("button");
  const bar = document.getElementById("train-bar");
  button.disabled = true;
  bar.parentElement.hidden = false;
  bar.style.width = "0%";
  show(status, "Uploading...");
  try {
    const queued = await (await call("train", { method: "POST", body: new FormData(form) })).json();
    show(status, `${queued.rows_added} rows added; retrain queued.`);
    const job = await follow(queued.job_id, (progress) => {
      bar.style.width = `${Math.round(progress.progress * 100)}%`;
      show(status, `${progress.state}: ${progress.stage || "waiting for the worker"}`);
    });
    show(status, describe(job), job.state === "failed");
    await refreshVersions();
  } catch (error) {
    show(status, error.message, true);
  } finally {
    button.disabled = false;
  }
});

async function follow(jobId, onProgress) {
  for (;;) {
    const job = await (await call(`jobs/${jobId}`)).json();
    onProgress(job);
    if (job.state === "done" || job.state === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function describe(job) {
  if (job.state === "failed") return `Retrain failed: ${job.message}`;
  const report = job.report;
  const scores = report.champion_score === null
    ? `${report.score_type} ${report.challenger_score.toFixed(4)}`
    : `${report.score_type} ${report.challenger_score.toFixed(4)} vs champion ${report.champion_score.toFixed(4)}`;
  const rows = `on the same ${report.test_rows} held-out rows, ${report.compared_on}`;
  return report.promoted
    ? `Promoted v${report.challenger_version} (${scores}, ${rows}).`
    : `Kept v${report.serving_version}: v${report.challenger_version} did not pass (${scores}, ${rows}).`;
}

async function refreshVersions() {
  const models = await (await call("models")).json();
  const live = models.serving[models.environment];
  const body = document.querySelector("#versions tbody");
  body.replaceChildren(...models.versions.map((version) => {
    const row = document.createElement("tr");
    row.classList.toggle("live", version.version === live);
    const cells = [
      `v${version.version}${version.version === live ? " (live)" : ""}`,
      version.score === null ? "" : version.score.toFixed(4),
      version.score_type,
      version.champion_score === null ? "" : version.champion_score.toFixed(4),
      version.passed ? "passed" : "failed",
      version.training_rows,
      version.test_rows ?? "",
      new Date(version.created).toLocaleString(),
      version.created_by,
      version.serving.join(", "),
    ];
    row.replaceChildren(...cells.map((text) => Object.assign(document.createElement("td"), { textContent: text })));
    return row;
  }));
  drawChart(models.versions.slice().reverse(), live);
}

// A bar per version, oldest first, the live one in the accent colour.
function drawChart(versions, live) {
  const svgNs = "http://www.w3.org/2000/svg";
  const width = 640, height = 160, pad = 24;
  const scores = versions.map((v) => v.score ?? 0);
  const top = Math.max(1, ...scores);
  const step = versions.length ? (width - 2 * pad) / versions.length : 0;
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "score per model version");
  versions.forEach((version, index) => {
    const barHeight = ((version.score ?? 0) / top) * (height - 2 * pad);
    const bar = document.createElementNS(svgNs, "rect");
    Object.entries({ x: pad + index * step + step * 0.15, y: height - pad - barHeight, width: step * 0.7,
      height: barHeight }).forEach(([name, value]) => bar.setAttribute(name, value));
    bar.setAttribute("class", version.version === live ? "chart-bar live" : "chart-bar");
    const label = document.createElementNS(svgNs, "text");
    label.setAttribute("x", pad + index * step + step / 2);
    label.setAttribute("y", height - 6);
    label.setAttribute("text-anchor", "middle");
    label.setAttribute("class", "chart-label");
    label.textContent = `v${version.version} ${version.score === null ? "" : version.score.toFixed(3)}`;
    svg.append(bar, label);
  });
  document.getElementById("chart").replaceChildren(svg);
}

refreshVersions().catch((error) => show(document.getElementById("train-status"), error.message, true));
