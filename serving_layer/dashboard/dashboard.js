"use strict";
// The live dashboard: every 2 s it asks the serving layer for GET /status, GET /batch/runs and
// the chosen view (its batch part and its speed part), and redraws. Plain DOM and SVG; no
// inline script or style (the page's Content-Security-Policy allows only its own files).
//
// Every number shown from /status carries data-stage (or data-freshness), data-field and
// data-value (the raw value, as JSON), and #dashboard carries the generated_at of the status
// shown, so a test can compare the page with the answer it was drawn from.

(() => {
  const REFRESH_MS = 2000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COLOURS = { batch: "#4e79a7", speed: "#b07aa1" };
  const GRANULARITY_MS = { minute: 60000, hour: 3600000, day: 86400000 };
  const BUCKETS = 48;
  const ADDITIVE = new Set(["count", "sum"]);

  // The Lambda picture: ingest and broker, then the batch path on top and the speed path below.
  const BOX = { w: 180, h: 132 };
  const LAYOUT = {
    ingest: [10, 124], broker: [215, 124], archiver: [430, 24],
    batch: [640, 24], speed: [535, 244], serving: [850, 124],
  };
  const ARROWS = [
    "M190,190 H212",                     // ingest -> broker
    "M395,164 H412 V90 H427",            // broker -> archiver
    "M610,90 H637",                      // archiver -> batch
    "M820,90 H835 V164 H847",            // batch -> serving
    "M395,216 H412 V310 H532",           // broker -> speed
    "M715,310 H835 V216 H847",           // speed -> serving
  ];

  const $ = (selector) => document.querySelector(selector);
  const root = $("#dashboard");

  // ---- small helpers -------------------------------------------------------------------

  function make(namespace, tag, attrs, parent, text) {
    const node = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, value);
    }
    if (text !== undefined && text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  const svg = (tag, attrs, parent, text) => make(SVG_NS, tag, attrs, parent, text);
  const html = (tag, attrs, parent, text) => make(null, tag, attrs, parent, text);
  const raw = (value) => JSON.stringify(value === undefined ? null : value);

  function number(value, digits = 0) {
    if (value === null || value === undefined) return "–";
    return value.toLocaleString("en-US", { maximumFractionDigits: digits });
  }
  const rate = (value) => number(value, value !== null && Math.abs(value) < 100 ? 1 : 0);
  const percent = (value) => (value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`);
  const ms = (value) => (value === null || value === undefined ? "–" : number(value, value < 10 ? 1 : 0));

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 120) return `${number(seconds, 1)} s`;
    if (seconds < 7200) return `${number(seconds / 60, 1)} min`;
    return `${number(seconds / 3600, 1)} h`;
  }

  function clock(text) {
    if (!text) return "–";
    const moment = new Date(text);
    return Number.isNaN(moment.getTime()) ? text : moment.toLocaleTimeString("en-GB", { hour12: false });
  }

  function shorten(text, length) {
    return text.length > length ? `${text.slice(0, length - 1)}…` : text;
  }

  async function fetchJson(url, options) {
    // A request that hangs must not stop the refresh loop: give up after 10 s. With keys set,
    // the tab's key goes along, and a 401 shows the form asking for one (api-key.js).
    const response = await window.lambdaApiKey.fetch(url, () => ({
      cache: "no-store",
      signal: AbortSignal.timeout(10000),
      ...options,
    }));
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = { detail: text };
    }
    return { status: response.status, body };
  }

  function detailOf(body) {
    const detail = body && body.detail;
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  }

  // ---- the pipeline --------------------------------------------------------------------

  function hook(stage, field, value, shown, extra) {
    return { attrs: { "data-stage": stage, "data-field": field, "data-value": raw(value), ...extra }, text: shown };
  }

  function textLine(parent, x, y, parts, attrs) {
    const text = svg("text", { x, y, ...attrs }, parent);
    for (const part of parts) {
      if (typeof part === "string") text.appendChild(document.createTextNode(part));
      else svg("tspan", part.attrs, text, part.text);
    }
    return text;
  }

  function upClass(up) {
    if (up === true) return "up";
    return up === false ? "down" : "unknown";
  }

  function drawStage(parent, stage, isBottleneck, title) {
    const position = LAYOUT[stage.stage];
    if (!position) return;
    const name = stage.stage;
    const state = upClass(stage.up);
    const group = svg("g", {
      class: `stage ${state}${isBottleneck ? " bottleneck" : ""}`,
      "data-stage": name,
      "data-bottleneck": isBottleneck ? "true" : "false",
      transform: `translate(${position[0]},${position[1]})`,
    }, parent);
    svg("title", {}, group, stage.detail || name);
    svg("rect", { width: BOX.w, height: BOX.h, rx: 8 }, group);
    if (isBottleneck) svg("text", { x: 0, y: -7, class: "badge" }, group, "▼ bottleneck");
    textLine(group, 12, 22, [title || name], { class: "name" });
    textLine(group, BOX.w - 12, 22, [hook(name, "up", stage.up, state === "unknown" ? "?" : state)],
      { class: `state ${state}`, "text-anchor": "end" });
    const unit = name === "serving" ? "queries/s" : "events/s";
    textLine(group, 12, 44, [hook(name, "throughput", stage.throughput, rate(stage.throughput)), ` ${unit}`]);
    textLine(group, 12, 63, ["lag ", hook(name, "lag", stage.lag, number(stage.lag))]);
    const latency = stage.latency_ms || {};
    const seconds = latency.p99 >= 10000; // long runs (batch) read better in seconds
    const shown = (value) => (seconds && value !== null && value !== undefined ? number(value / 1000, 1) : ms(value));
    textLine(group, 12, 82, [
      "p50/p99 ", hook(name, "latency_p50", latency.p50, shown(latency.p50)),
      "/", hook(name, "latency_p99", latency.p99, shown(latency.p99)), seconds ? " s" : " ms",
    ]);
    textLine(group, 12, 101, ["busy ", hook(name, "utilisation", stage.utilisation, percent(stage.utilisation))]);
    textLine(group, 12, 121, [shorten(stage.detail || "", 27)], { class: "detail" });
  }

  function drawReplicas(parent, speed) {
    const [x, y] = LAYOUT.speed;
    (speed.instances || []).forEach((instance, index) => {
      const extra = { "data-instance": instance.id };
      const hookOf = (field, shown) => hook("speed", field, instance[field], shown, extra);
      const parts = [
        hookOf("up", instance.up === false ? "✖" : "●"), ` ${instance.id}  `,
        hookOf("throughput", rate(instance.throughput)), " events/s · busy ",
        hookOf("utilisation", percent(instance.utilisation)),
      ];
      if (Array.isArray(instance.partitions)) {
        parts.push(` · partitions ${instance.partitions.length ? instance.partitions.join(", ") : "none"}`);
      }
      if (instance.restarts) parts.push(` · restarts ${instance.restarts}`);
      textLine(parent, x, y + BOX.h + 22 + 18 * index, parts,
        { class: `replica ${upClass(instance.up)}`, "data-replica": instance.id });
    });
  }

  function renderPipeline(status) {
    const picture = $("#pipeline-svg");
    const speed = status.stages.find((stage) => stage.stage === "speed");
    const replicas = speed && speed.instances ? speed.instances.length : 0;
    const height = Math.max(400, LAYOUT.speed[1] + BOX.h + 30 + 18 * replicas);
    picture.setAttribute("viewBox", `0 0 1040 ${height}`);
    picture.replaceChildren();
    const marker = svg("marker", {
      id: "arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto",
    }, svg("defs", {}, picture));
    svg("path", { d: "M0,0 L10,5 L0,10 z" }, marker);
    for (const d of ARROWS) svg("path", { d, class: "arrow", "marker-end": "url(#arrowhead)" }, picture);
    const label = { class: "path-label", "text-anchor": "end" };
    svg("text", { x: 405, y: 70, ...label }, picture, "batch path: every event, recomputed");
    svg("text", { x: 525, y: 336, ...label }, picture, "speed path: events since the batch");
    const bottleneck = status.bottleneck;
    // The stages' titles come with the status (its stage_names), from the one table of them.
    const titles = Object.fromEntries((status.stage_names || []).map((entry) => [entry.stage, entry.title]));
    for (const stage of status.stages) {
      drawStage(picture, stage, Boolean(bottleneck && bottleneck.stage === stage.stage), titles[stage.stage]);
    }
    if (speed) drawReplicas(picture, speed);

    const line = $("#bottleneck");
    line.dataset.value = raw(bottleneck);
    line.classList.toggle("on", Boolean(bottleneck));
    if (bottleneck) {
      const where = bottleneck.instance && bottleneck.instance !== bottleneck.stage
        ? `${bottleneck.stage} (${bottleneck.instance})` : bottleneck.stage;
      line.textContent = `Bottleneck: ${where}: ${bottleneck.reason}`;
    } else {
      line.textContent = "Bottleneck: none";
    }
  }

  // ---- freshness and warnings ----------------------------------------------------------

  function setField(layer, field, value, shown) {
    const node = document.querySelector(`[data-freshness="${layer}"][data-field="${field}"]`);
    node.dataset.value = raw(value);
    node.textContent = shown;
  }

  function renderFreshness(freshness) {
    const batch = (freshness && freshness.batch) || null;
    const speed = (freshness && freshness.speed) || {};
    setField("batch", "version", batch && batch.version, batch ? batch.version : "none yet");
    setField("batch", "age_seconds", batch && batch.age_seconds, age(batch && batch.age_seconds));
    setField("batch", "events", batch && batch.events, number(batch && batch.events));
    setField("speed", "lag", speed.lag, number(speed.lag));
    const p99 = speed.visible_p99_ms;
    setField("speed", "visible_p99_ms", p99, p99 === null || p99 === undefined ? "–" : `${ms(p99)} ms`);
  }

  function renderWarnings(warnings) {
    const count = $("#warning-count");
    count.dataset.value = raw(warnings.length);
    count.textContent = warnings.length;
    const list = $("#warning-list");
    list.replaceChildren();
    if (!warnings.length) html("li", { class: "none" }, list, "none");
    for (const warning of warnings) {
      const item = html("li", { class: warning.severity, "data-code": warning.code }, list);
      html("strong", {}, item, warning.code);
      item.appendChild(document.createTextNode(` ${warning.stage ? `${warning.stage}: ` : ""}${warning.message} `));
      if (warning.since) html("small", {}, item, `since ${clock(warning.since)}`);
    }
  }

  async function refreshStatus() {
    const { status, body } = await fetchJson("/status");
    if (status !== 200) throw new Error(`/status answered ${status}: ${detailOf(body)}`);
    renderPipeline(body);
    renderFreshness(body.freshness);
    renderWarnings(body.warnings || []);
    root.dataset.generatedAt = body.generated_at;
    $("#updated").textContent = `status of ${clock(body.generated_at)}, rates over the last ${body.window_seconds} s`;
  }

  // ---- batch runs ----------------------------------------------------------------------

  function renderRuns(runs) {
    const body = $("#runs tbody");
    body.replaceChildren();
    for (const run of runs) {
      const row = html("tr", { "data-run-id": run.id, "data-state": run.state }, body);
      html("code", {}, html("td", {}, row), run.id);
      html("td", {}, row, run.trigger);
      html("td", { class: `state-${run.state}` }, row, run.state);
      html("td", { title: run.started_at || run.requested_at }, row, clock(run.started_at || run.requested_at));
      html("td", { class: "num" }, row, run.duration_s == null ? "–" : `${number(run.duration_s, 1)} s`);
      html("td", { class: "num" }, row, number(run.events));
      html("code", {}, html("td", {}, row), run.version || "–");
      html("td", { class: "error", title: run.error || "" }, row, run.error || "");
    }
    if (!runs.length) html("td", { colspan: 8, class: "note" }, html("tr", {}, body), "no batch run yet");
  }

  async function refreshRuns() {
    const { status, body } = await fetchJson("/batch/runs");
    if (status !== 200) throw new Error(`/batch/runs answered ${status}: ${detailOf(body)}`);
    renderRuns(body.runs);
  }

  async function runBatchNow() {
    const button = $("#run-batch");
    const answer = $("#run-answer");
    button.disabled = true;
    try {
      const { status, body } = await fetchJson("/batch/runs", { method: "POST" });
      answer.dataset.status = status;
      answer.dataset.runId = body.id || "";
      if (status === 202) {
        answer.className = "ok";
        answer.textContent = `202: run ${body.id} queued`;
      } else if (status === 409) {
        answer.className = "busy";
        answer.textContent = `409: run ${body.id} is queued or running already`;
      } else {
        answer.className = "failed";
        answer.textContent = `${status}: ${detailOf(body)}`;
      }
      await refreshRuns();
    } catch (error) {
      answer.className = "failed";
      answer.dataset.status = "error";
      answer.textContent = `no answer: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  // ---- a view over time ----------------------------------------------------------------

  let views = [];
  let chartRequest = 0;

  function chosenView() {
    return views.find((view) => view.name === $("#chart-view").value);
  }

  function fillChoices() {
    const view = chosenView();
    const metrics = $("#chart-metric");
    const granularities = $("#chart-granularity");
    metrics.replaceChildren();
    granularities.replaceChildren();
    if (!view) return;
    for (const [name, kind] of Object.entries(view.metrics)) {
      if (ADDITIVE.has(kind)) html("option", { value: name }, metrics, `${name} (${kind})`);
    }
    for (const [name, size] of Object.entries(GRANULARITY_MS)) {
      if (size >= GRANULARITY_MS[view.granularity]) html("option", { value: name }, granularities, name);
    }
  }

  async function loadViews() {
    const { status, body } = await fetchJson("/views");
    if (status !== 200) throw new Error(`/views answered ${status}: ${detailOf(body)}`);
    views = body.views.filter((view) => Object.values(view.metrics).some((kind) => ADDITIVE.has(kind)));
    const select = $("#chart-view");
    select.replaceChildren();
    for (const view of views) html("option", { value: view.name }, select, view.name);
    fillChoices();
  }

  function sumByBucket(rows, metric) {
    const sums = new Map();
    for (const row of rows) {
      const bucket = Date.parse(row.bucket);
      sums.set(bucket, (sums.get(bucket) || 0) + (row[metric] || 0));
    }
    return sums;
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= value);
  }

  function bucketLabel(bucket, granularity) {
    const text = new Date(bucket).toISOString();
    return granularity === "day" ? text.slice(5, 10) : text.slice(11, 16);
  }

  function drawChart(buckets, parts, granularity, metric) {
    const chart = $("#chart-svg");
    chart.replaceChildren();
    const [width, height, left, right, top, bottom] = [1040, 260, 64, 10, 12, 34];
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;
    const totals = buckets.map((bucket) => (parts.batch.get(bucket) || 0) + (parts.speed.get(bucket) || 0));
    const max = niceMax(Math.max(0, ...totals));
    const y = (value) => top + plotHeight - (value / max) * plotHeight;
    for (let tick = 0; tick <= 4; tick += 1) {
      const value = (max * tick) / 4;
      svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid" }, chart);
      svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", class: "tick" }, chart, number(value, 2));
    }
    const step = plotWidth / buckets.length;
    const barWidth = Math.max(1, step * 0.8);
    buckets.forEach((bucket, index) => {
      const x = left + index * step + (step - barWidth) / 2;
      let base = 0;
      for (const source of ["batch", "speed"]) {
        const value = parts[source].get(bucket) || 0;
        if (value > 0) {
          const bar = svg("rect", {
            class: `bar ${source}`, x, y: y(base + value), width: barWidth,
            height: Math.max(0.5, y(base) - y(base + value)), fill: COLOURS[source],
            "data-source": source, "data-bucket": new Date(bucket).toISOString(), "data-value": raw(value),
          }, chart);
          svg("title", {}, bar, `${new Date(bucket).toISOString()} ${source}: ${number(value, 2)} ${metric}`);
        }
        base += value;
      }
      if (index % 8 === 0) {
        svg("text", { x: x + barWidth / 2, y: height - 14, "text-anchor": "middle", class: "tick" }, chart,
          bucketLabel(bucket, granularity));
      }
    });
    svg("line", { x1: left, x2: width - right, y1: y(0), y2: y(0), class: "axis" }, chart);
    svg("text", { x: width - right, y: height - 2, "text-anchor": "end", class: "tick" }, chart,
      `${granularity} buckets, UTC`);

    const legend = $("#chart-legend");
    legend.replaceChildren();
    for (const source of ["batch", "speed"]) {
      const total = buckets.reduce((sum, bucket) => sum + (parts[source].get(bucket) || 0), 0);
      html("span", { class: `swatch ${source}` }, legend);
      html("span", { "data-source": source, "data-value": raw(total) }, legend, `${source} ${number(total, 2)}`);
    }
  }

  async function refreshChart() {
    if (!views.length) await loadViews();
    const view = chosenView();
    const note = $("#chart-note");
    if (!view) {
      note.textContent = "no view has a count or sum metric";
      return;
    }
    const request = ++chartRequest;
    const metric = $("#chart-metric").value;
    const granularity = $("#chart-granularity").value;
    const size = GRANULARITY_MS[granularity];
    const first = Math.floor(Date.now() / size) * size - (BUCKETS - 1) * size;
    const query = `granularity=${granularity}&group_by=&start=${encodeURIComponent(new Date(first).toISOString())}`;
    const answers = await Promise.all(["batch", "speed"].map(
      (source) => fetchJson(`/views/${encodeURIComponent(view.name)}?source=${source}&${query}`)));
    if (request !== chartRequest) return; // the choice changed meanwhile: a newer request draws
    const failed = answers.find((answer) => answer.status !== 200);
    if (failed) {
      $("#chart-svg").replaceChildren();
      note.textContent = `${view.name} answered ${failed.status}: ${detailOf(failed.body)}`;
      return;
    }
    const [batch, speed] = answers.map((answer) => answer.body);
    const buckets = Array.from({ length: BUCKETS }, (_, index) => first + index * size);
    drawChart(buckets, { batch: sumByBucket(batch.rows, metric), speed: sumByBucket(speed.rows, metric) },
      granularity, metric);
    note.textContent = `${view.name}.${metric}, last ${BUCKETS} ${granularity}s: batch version `
      + `${batch.meta.batch.version || "none yet"}, speed lag ${number(speed.meta.speed.lag)}`;
  }

  // ---- the loop ------------------------------------------------------------------------

  async function refresh() {
    const started = Date.now();
    const results = await Promise.allSettled([refreshStatus(), refreshRuns(), refreshChart()]);
    const problems = results.filter((result) => result.status === "rejected").map((result) => result.reason.message);
    const problem = $("#problem");
    problem.hidden = !problems.length;
    problem.textContent = problems.join("; ");
    root.dataset.stale = raw(results[0].status === "rejected");
    setTimeout(refresh, Math.max(0, REFRESH_MS - (Date.now() - started)));
  }

  $("#run-batch").addEventListener("click", runBatchNow);
  $("#chart-view").addEventListener("change", () => { fillChoices(); refreshChart().catch(() => {}); });
  $("#chart-metric").addEventListener("change", () => refreshChart().catch(() => {}));
  $("#chart-granularity").addEventListener("change", () => refreshChart().catch(() => {}));
  refresh();
})();
