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
    if (queued.job_id === null) {  // retrain_when decides, and none of its conditions is met yet
      bar.parentElement.hidden = true;
      show(status, `${queued.rows_added} rows added; ${queued.message}.`);
      await refreshMonitoring();
      return;
    }
    show(status, `${queued.rows_added} rows added; retrain queued (${queued.trigger}).`);
    const job = await follow(queued.job_id, (progress) => {
      bar.style.width = `${Math.round(progress.progress * 100)}%`;
      show(status, `${progress.state}: ${progress.stage || "waiting for the worker"}`);
    });
    show(status, describe(job), job.state === "failed");
    await refreshVersions();
    await refreshMonitoring();
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
  if (report.promoted) return `Promoted v${report.challenger_version} (${scores}, ${rows}).`;
  if (report.awaiting_approval) return `v${report.challenger_version} is better and waits for approval (${scores}, ${rows}).`;
  return `Kept v${report.serving_version}: v${report.challenger_version} did not pass (${scores}, ${rows}).`;
}

async function refreshVersions() {
  const models = await (await call("models")).json();
  const live = models.serving[models.environment];
  const body = document.querySelector("#versions tbody");
  body.replaceChildren(...models.versions.map((version) => {
    const row = document.createElement("tr");
    row.classList.toggle("live", version.version === live);
    const waiting = waitsForApproval(version, models.environment, live);
    const cells = [
      `v${version.version}${version.version === live ? " (live)" : ""}`,
      version.score === null ? "" : version.score.toFixed(4),
      version.score_type,
      version.champion_score === null ? "" : version.champion_score.toFixed(4),
      version.passed ? "passed" : "failed",
      version.training_rows,
      version.test_rows ?? "",
      version.trees ?? "",
      version.predict_ms_per_1000_rows === null ? "" : version.predict_ms_per_1000_rows.toFixed(1),
      version.trigger,
      new Date(version.created).toLocaleString(),
      version.created_by,
      waiting ? approveButton(version.version) : version.serving.join(", "),
    ];
    row.replaceChildren(...cells.map((content) => {
      const cell = document.createElement("td");
      cell.append(content ?? "");
      return cell;
    }));
    return row;
  }));
  drawChart(models.versions.slice().reverse(), live);
  return models;
}

// A challenger that beat its champion in an environment where a person promotes (auto_promote: false), and that no
// later choice has passed by.
function waitsForApproval(version, environment, live) {
  return version.awaiting_approval && version.environment === environment && (live === undefined || version.version > live);
}

function approveButton(version) {
  const button = Object.assign(document.createElement("button"), { type: "button", textContent: `Approve v${version}` });
  button.title = "waiting for approval: serve it in this environment";
  button.addEventListener("click", async () => {
    const status = document.getElementById("versions-status");
    button.disabled = true;
    try {
      await call(`models/${version}/approve`, { method: "POST" });
      show(status, `v${version} approved: it serves now.`);
      await refreshVersions();
    } catch (error) {
      show(status, error.message, true);
      button.disabled = false;
    }
  });
  const cell = document.createElement("span");
  cell.append("waiting for approval ", button);
  return cell;
}

// Each version's score on its held-out rows beside the champion's on the same rows (what the gate compared), as
// points on an axis that says which way is better: a bar's length would read as "more", which an error is not, and
// a score below zero (r2) has no length. Versions scored by another score type than the newest cannot share the axis.
function drawChart(versions, live) {
  const newest = versions.at(-1);
  const shown = versions.filter((version) => version.score_type === newest?.score_type);
  const direction = newest?.greater_is_better === false ? "lower is better" : "higher is better";
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
    showLine: false,
    plugins: { legend: { labels: { usePointStyle: true } } },
    scales: {
      x: { offset: true },
      y: { title: { display: true, text: `${newest?.score_type ?? "score"} (${direction})` } },
    },
  };
  draw("versions-chart", "line", data, options);
}

const number = (value, digits = 4) => (value === null || value === undefined ? "" : value.toFixed(digits));

async function refreshMonitoring(models) {
  models = models ?? await (await call("models")).json();
  const monitoring = await (await call("monitoring")).json();
  const conditions = Object.entries(monitoring.retrain_when).map(([name, value]) => `${name} ${value}`);
  document.getElementById("retrain-when").textContent = conditions.length
    ? `A retrain starts when any of these is met (retrain_when): ${conditions.join(", ")}.`
    : "Every upload of corrected rows starts a retrain (retrain_when is empty).";
  const latest = monitoring.reports.filter((report) => report.drift.length).at(-1);
  drawDrift(latest);
  drawLabelled(monitoring.labelled, models.versions);
  const body = document.querySelector("#reports tbody");
  body.replaceChildren(...monitoring.reports.slice(-10).reverse().map((report) => {
    const row = document.createElement("tr");
    const cells = [
      report.checked_at.replace("T", " ").replace("+00:00", ""),
      report.champion_version === null ? "" : `v${report.champion_version}`,
      report.predictions,
      report.drift_share === null ? "" : `${Math.round(report.drift_share * 100)}%`,
      number(report.score_drop),
      report.new_rows ?? "",
      report.triggers.join(", "),
      report.retrain_job ? "queued" : "",
    ];
    row.replaceChildren(...cells.map((text) => Object.assign(document.createElement("td"), { textContent: text })));
    row.title = report.notes.join("\n");
    return row;
  }));
}

// One bar per tested column, longer the more it drifted, red where it did. A report's columns share one scale:
// p-values with at most 1,000 training rows, drawn as -log10(p) (a drifted column's p is near 0, which has no
// length), distances with more.
const charts = {};
const MAX_LOG_P = 10;
function driftBar(column) {
  return ["ks", "chi2"].includes(column.test) ? Math.min(MAX_LOG_P, -Math.log10(Math.max(column.statistic, 1e-300))) : column.statistic;
}

function drawDrift(report) {
  const columns = report?.drift ?? [];
  const threshold = columns[0]?.threshold;
  const axis = columns.length > 0 && ["ks", "chi2"].includes(columns[0].test)
    ? `-log10 p-value (drifted above ${(-Math.log10(threshold)).toFixed(2)}: p < ${threshold})`
    : `distance (drifted at ${threshold ?? 0.1} or more)`;
  document.getElementById("drift-note").textContent = report
    ? `${report.predictions} logged predictions against ${report.reference_rows} training rows, at ${report.checked_at}: ` +
      `${Math.round(report.drift_share * 100)}% of the columns drifted.`
    : "No report has measured drift yet: it takes 100 logged predictions.";
  draw("drift-chart", "bar", {
    labels: columns.map((column) => column.column),
    datasets: [{
      label: axis,
      data: columns.map(driftBar),
      backgroundColor: columns.map((column) => (column.drifted ? "#b00020" : "#9aa3ad")),
    }],
  }, { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: axis } } } });
}

function drawLabelled(labelled, versions) {
  const registered = Object.fromEntries(versions.map((version) => [version.version, version.score]));
  const scoreType = labelled.at(-1)?.score_type ?? versions[0]?.score_type ?? "score";
  const direction = versions[0]?.greater_is_better === false ? "lower is better" : "higher is better";
  draw("labelled-chart", "line", {
    labels: labelled.map((upload) => `${upload.labelled_at.slice(0, 16).replace("T", " ")} v${upload.model_version}: ${upload.source}`),
    datasets: [
      { label: "on newly labelled rows", data: labelled.map((upload) => upload.score), showLine: false, pointRadius: 5,
        backgroundColor: colour("--colour2"), borderColor: colour("--colour2") },
      { label: "registered (on its held-out rows)", data: labelled.map((upload) => registered[upload.model_version] ?? null),
        stepped: true, borderDash: [6, 4], pointStyle: "rectRot", pointRadius: 6, backgroundColor: "white",
        borderColor: colour("--colour1") },
    ],
  }, {
    plugins: { legend: { labels: { usePointStyle: true } } },
    scales: {
      x: { offset: true, title: { display: true, text: "upload (UTC): the champion then, the file" } },
      y: { title: { display: true, text: `${scoreType} (${direction})` } },
    },
  });
}

function colour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function draw(canvas, type, data, options) {
  options = { animation: false, maintainAspectRatio: false, ...options };
  if (charts[canvas]) {
    Object.assign(charts[canvas], { data, options });
    charts[canvas].update();
  } else {
    charts[canvas] = new Chart(document.getElementById(canvas), { type, data, options });
  }
}

// For a challenger or a shadow: what `compare` and `shadow-report` say (the app answers 404 for any other
// environment, whose page has no such section).
async function refreshComparison() {
  const response = await fetch("comparison", { headers });
  if (response.status === 404) {
    return;
  }
  const found = await response.json();
  if (!response.ok) {
    throw new Error(found.error || response.statusText);
  }
  document.getElementById("comparison").hidden = false;
  showChallengerReport(found.challenger);
  document.getElementById("shadow").hidden = !found.shadow;
  if (found.shadow) {
    showShadowReport(found.shadow);
  }
}

function showChallengerReport(report) {
  const summary = document.getElementById("comparison-summary");
  const tables = document.getElementById("comparison-tables");
  if (report.problem) {
    summary.textContent = report.problem;
    tables.replaceChildren();
    return;
  }
  const { challenger, champion } = report;
  const against = champion ? `v${champion.version}, the champion of ${report.compared_with}` : `${report.compared_with}, which has no champion`;
  summary.textContent = `v${challenger.version} of ${report.environment} against ${against}, on the same ${report.rows} held-out ` +
    `rows (${report.compared_on}): ${report.score_type} ${number(challenger.score)}` +
    (champion ? ` against ${number(champion.score)} (${signed(report.difference)}); they disagree on ${report.disagreements} rows` : "") +
    `. The gate ${report.gate_passes ? "would promote" : "would not promote"} it: ${report.gate_reason.replace(/\.?$/, ".")}` +
    (report.drift_share === null ? "" : ` Drift of its training rows against the champion's: ${Math.round(report.drift_share * 100)}% of the columns.`);
  const sides = [["challenger", challenger], ["champion", champion]].filter(([, side]) => side);
  const kind = report.problem_type === "classification" ? "class" : "range of the target";
  const parts = [
    tableOf("The two models", ["model", "version", "environment", report.score_type, "ms per 1,000 rows", "trees", "training rows"],
      sides.map(([name, side]) => [name, `v${side.version}`, side.environment, number(side.score), number(side.predict_ms_per_1000_rows, 1),
        side.trees, side.training_rows])),
    tableOf(`${report.breakdown_score} of each ${kind}`, [kind, "rows", "champion", "challenger", "difference"],
      report.breakdown.map((row) => [row.group, row.rows, number(row.champion), number(row.challenger), signed(row.difference)])),
  ];
  if (report.problem_type === "classification") {
    parts.push(
      tableOf("Where they disagree", ["champion says", "challenger says", "rows", "champion right", "challenger right"],
        report.disagreement_pairs.map((pair) => [pair.champion, pair.challenger, pair.rows, pair.champion_right, pair.challenger_right])),
      tableOf("Mistakes that changed", ["true class", "predicted", "champion", "challenger", "change"],
        report.confusion_changes.map((change) => [change.truth, change.predicted, change.champion, change.challenger, change.change])),
    );
  } else {
    parts.push(tableOf("Where they disagree", ["range of the target", "rows", "champion closer", "challenger closer"],
      report.disagreement_pairs.map((pair) => [pair.range, pair.rows, pair.champion_closer, pair.challenger_closer])));
  }
  tables.replaceChildren(...parts.filter((table) => table.tBodies[0].rows.length));
}

function showShadowReport(report) {
  const percent = (share) => (share === null ? "" : `${(share * 100).toFixed(1)}%`);
  const latency = report.latency_ms;
  const scores = report.labelled_rows
    ? ` On the ${report.labelled_rows} of those rows labelled since, ${report.score_type}: ${report.shadow_of} ` +
      `${number(report.scores.production)}, this shadow ${number(report.scores.shadow)}.`
    : "";
  document.getElementById("shadow-summary").textContent = `It answers ${percent(report.share)} of ${report.shadow_of}'s ` +
    `/predict requests: ${report.requests} requests (${report.rows} rows) so far, on which they agree ${percent(report.agreement)}.` +
    (latency.production ? ` Latency p50 / p99: ${report.shadow_of} ${number(latency.production.p50, 1)} / ` +
      `${number(latency.production.p99, 1)} ms a request, this shadow ${number(latency.shadow.p50, 2)} / ` +
      `${number(latency.shadow.p99, 2)} ms a row of its batches.` : "") + scores + " " + report.notes.join(" ");
  const table = tableOf("What each predicted", ["value", report.shadow_of, "this shadow"],
    report.distribution.map((row) => [row.value, counted(row.production), counted(row.shadow)]));
  document.getElementById("shadow-tables").replaceChildren(...(report.distribution.length ? [table] : []));
}

const counted = (value) => (Number.isInteger(value) ? value : number(value, 2));  // rows of a class, or a quantile
const signed = (value) => (value === null || value === undefined ? "" : `${value >= 0 ? "+" : ""}${value.toFixed(4)}`);

function tableOf(caption, headings, rows) {
  const table = document.createElement("table");
  const head = table.createTHead();
  head.append(rowOf("th", headings));
  table.createCaption().textContent = caption;
  table.createTBody().append(...rows.map((row) => rowOf("td", row)));
  return table;
}

function rowOf(tag, cells) {
  const row = document.createElement("tr");
  row.append(...cells.map((text) => Object.assign(document.createElement(tag), { textContent: text ?? "" })));
  return row;
}

refreshVersions()
  .then((models) => refreshMonitoring(models))
  .then(() => refreshComparison())
  .catch((error) => show(document.getElementById("train-status"), error.message, true));
