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

// Each version's score on its held-out rows beside the champion's on the same rows (what the gate compared), as
// points on an axis that says which way is better: a bar's length would read as "more", which an error is not, and
// a score below zero (r2) has no length. Versions scored by another score type than the newest cannot share the axis.
let versionsChart;
function drawChart(versions, live) {
  const newest = versions.at(-1);
  const shown = versions.filter((version) => version.score_type === newest?.score_type);
  const direction = newest?.greater_is_better === false ? "lower is better" : "higher is better";
  const colour = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const data = {
    labels: shown.map((version) => `v${version.version}${version.version === live ? " (live)" : ""}`),
    datasets: [
      {
        label: "the version, on its held-out rows",
        data: shown.map((version) => version.score),
        backgroundColor: colour("--colour2"),
        borderColor: colour("--colour2"),
        pointRadius: shown.map((version) => (version.version === live ? 8 : 5)),
      },
      {
        label: "the champion it was compared with, on the same rows",
        data: shown.map((version) => version.champion_score),
        backgroundColor: "white",
        borderColor: colour("--colour1"),
        pointStyle: "rectRot",
        pointRadius: 6,
      },
    ],
  };
  const options = {
    animation: false,
    maintainAspectRatio: false,
    showLine: false,
    plugins: { legend: { labels: { usePointStyle: true } } },
    scales: {
      x: { offset: true },
      y: { title: { display: true, text: `${newest?.score_type ?? "score"} (${direction})` } },
    },
  };
  if (versionsChart) {
    versionsChart.data = data;
    versionsChart.options = options;
    versionsChart.update();
  } else {
    versionsChart = new Chart(document.getElementById("versions-chart"), { type: "line", data, options });
  }
}

refreshVersions().catch((error) => show(document.getElementById("train-status"), error.message, true));
