// Ferryman's dashboard: plain JavaScript over the admin API (the same endpoints a script calls), with the
// master key from this tab's sessionStorage. Every value from the gateway is put in the page as text
// (textContent), never as HTML: log content is whatever clients sent.
"use strict";

const TOKEN = "ferryman.master";
const POLL_MS = 2000;
const COLORS = ["#1f6feb", "#1a7f37", "#bf3989", "#9a6700", "#8250df", "#cf222e", "#0a7c86", "#6e7781"];

const $ = (selector, root = document) => root.querySelector(selector);

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN) || ""}` };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(path, { ...options, headers });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    throw new ApiError(resp.status, (body && body.error && body.error.message) || `HTTP ${resp.status}`);
  }
  return body;
}

// ---- formatting ---------------------------------------------------------------------------------

const fmt = {
  time(seconds) {
    const d = new Date(seconds * 1000);
    const today = new Date().toDateString() === d.toDateString();
    const t = d.toLocaleTimeString([], { hour12: false });
    return today ? t : `${d.toLocaleDateString()} ${t}`;
  },
  ms(value) {
    if (value === null || value === undefined) return "–";
    return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
  },
  usd(value) {
    if (value === null || value === undefined) return "–";
    if (value === 0) return "$0";
    return value < 0.01 ? `$${value.toPrecision(3)}` : `$${value.toFixed(value < 100 ? 4 : 2)}`;
  },
  int(value) {
    return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
  },
  pct(value) {
    return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
  },
};

function statusCell(code) {
  const kind = code < 400 ? "ok" : code === 429 || code < 500 ? "warn" : "bad";
  return h("td", { class: `status ${kind}`, text: code });
}

function showError(error) {
  const banner = $("#app-error");
  if (error instanceof ApiError && error.status === 401) {
    signOut("The master key was refused.");
    return;
  }
  banner.textContent = error ? String(error.message || error) : "";
  banner.hidden = !error;
}

// ---- login --------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  current && current.stop && current.stop();
  current = null;
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#master-key").value = "";
  $("#master-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN, $("#master-key").value);
  try {
    await api("/admin/keys");
  } catch (error) {
    sessionStorage.removeItem(TOKEN);
    $("#login-error").textContent =
      error instanceof ApiError && error.status === 404
        ? "This gateway has no admin API: configure governance (a master key) to use the dashboard."
        : error.message;
    return;
  }
  start();
}

function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  if (!location.hash) location.hash = "#logs";
  route();
}

// ---- views --------------------------------------------------------------------------------------

let current = null;
const views = {};

function route() {
  if (!sessionStorage.getItem(TOKEN)) return;
  const name = (location.hash || "#logs").slice(1);
  const view = views[name] || views.logs;
  if (current && current.stop) current.stop();
  current = view;
  showError(null);
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view.name}`;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === view.name);
  view.start().catch(showError);
}

async function keyNames() {
  const [keys, teams] = await Promise.all([api("/admin/keys"), api("/admin/teams")]);
  return {
    keys: keys.data,
    teams: teams.data,
    key: Object.fromEntries(keys.data.map((k) => [k.id, k.name])),
    team: Object.fromEntries(teams.data.map((t) => [t.id, t.name])),
  };
}

// Logs: the newest page, polled; filters; a row opens its entry.
views.logs = {
  name: "logs",
  timer: null,
  selected: null,
  async start() {
    const form = $("#log-filters");
    if (!form.dataset.bound) {
      form.dataset.bound = "1";
      form.addEventListener("input", () => this.refresh().catch(showError));
      form.addEventListener("submit", (e) => e.preventDefault());
    }
    const [names, providers] = await Promise.all([keyNames(), api("/admin/providers")]);
    this.names = names;
    const keySelect = form.elements.key_id;
    const chosen = keySelect.value;
    keySelect.replaceChildren(
      h("option", { value: "", text: "any key" }),
      ...names.keys.map((k) => h("option", { value: k.id, text: k.name })),
    );
    keySelect.value = chosen;
    $("#provider-names").replaceChildren(...providers.data.map((p) => h("option", { value: p.name })));
    await this.refresh();
    this.timer = setInterval(() => this.refresh().catch(showError), POLL_MS);
  },
  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.seen = null;
  },
  query() {
    const params = new URLSearchParams({ limit: "100" });
    for (const [name, value] of new FormData($("#log-filters"))) if (value) params.set(name, value.trim());
    return params;
  },
  async refresh() {
    const query = this.query().toString();
    const page = await api(`/admin/logs?${query}`);
    $("#live").textContent = `live · ${new Date().toLocaleTimeString([], { hour12: false })}`;
    const seen = query + JSON.stringify(page.data);
    if (seen === this.seen) return; // nothing new: the rows (and a hovered or selected one) stay as they are
    this.seen = seen;
    const rows = page.data.map((e) =>
      h(
        "tr",
        { class: e.id === this.selected ? "row selected" : "row", "data-id": e.id, onclick: () => this.open(e.id) },
        h("td", { text: fmt.time(e.created_at), title: e.id }),
        h("td", { text: e.model_requested }),
        h("td", { text: e.provider ? `${e.provider}/${e.model_deployment}` : "–" }),
        statusCell(e.status_code),
        h("td", { class: "num", text: fmt.ms(e.latency_ms) }),
        h("td", { class: "num", text: fmt.ms(e.ttft_ms) }),
        h("td", { class: "num", text: `${fmt.int(e.input_tokens)} / ${fmt.int(e.output_tokens)}` }),
        h("td", { class: "num", text: fmt.usd(e.cost_usd) }),
      ),
    );
    const body = $("#log-table tbody");
    if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 8, class: "empty", text: "No requests yet." })));
    body.replaceChildren(...rows);
  },
  async open(id) {
    this.selected = id;
    for (const tr of document.querySelectorAll("#log-table tr.row")) tr.classList.toggle("selected", tr.dataset.id === id);
    const e = await api(`/admin/logs/${encodeURIComponent(id)}`);
    const panel = $("#log-detail");
    const cost = e.cost_detail || {};
    panel.replaceChildren(
      h(
        "div",
        { class: "head" },
        h("strong", { text: `${e.model_requested} → ${e.provider ? `${e.provider}/${e.model_deployment}` : "no provider"}` }),
        h("button", { class: "link", type: "button", text: "Close", onclick: () => this.close() }),
      ),
      h(
        "p",
        { class: "hint" },
        `${e.id} · ${fmt.time(e.created_at)} · ${e.route}${e.stream ? " (stream)" : ""}` +
          `${e.cache_hit ? " · cache hit" : ""} · key ${e.key_id ? this.names.key[e.key_id] || e.key_id : "master"}`,
      ),
      h("h3", { text: "Input" }),
      h("pre", { class: "input", text: e.input === null ? "(not kept)" : show(e.input) }),
      h("h3", { text: "Output" }),
      h("pre", { class: "output", text: e.output === null ? "(none)" : outputText(e.output) }),
      h("h3", { text: "Attempts" }),
      h(
        "table",
        { class: "attempts" },
        h("tr", {}, h("th", { text: "Target" }), h("th", { text: "Status" }), h("th", { text: "Duration" })),
        e.attempts.length === 0 ? h("tr", {}, h("td", { colspan: 3, text: "none (answered by the cache)" })) : null,
        e.attempts.map((a) => h("tr", {}, h("td", { text: a.target }), statusCell(a.status), h("td", { text: fmt.ms(a.latency_ms) }))),
      ),
      h("h3", { text: "Cost" }),
      h(
        "table",
        { class: "cost" },
        [
          ["Input tokens", fmt.int(e.input_tokens), fmt.usd(cost.input_tokens_cost)],
          ["of which cached", fmt.int(e.cached_tokens), ""],
          ["Output tokens", fmt.int(e.output_tokens), fmt.usd(cost.output_tokens_cost)],
          ["of which reasoning", fmt.int(e.reasoning_tokens), ""],
          ["Per request", "", fmt.usd(cost.request_cost)],
          ["Total", "", fmt.usd(e.cost_usd)],
        ].map(([label, count, usd]) => h("tr", {}, h("td", { text: label }), h("td", { class: "num", text: count }), h("td", { class: "num", text: usd }))),
      ),
      h("h3", { text: "Latency" }),
      h("p", { text: `total ${fmt.ms(e.latency_ms)} · first token ${fmt.ms(e.ttft_ms)}` }),
      e.error ? h("h3", { text: "Error" }) : null,
      e.error ? h("pre", { class: "error-text", text: e.error }) : null,
    );
    panel.hidden = false;
  },
  close() {
    this.selected = null;
    $("#log-detail").hidden = true;
    for (const tr of document.querySelectorAll("#log-table tr.selected")) tr.classList.remove("selected");
  },
};

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function outputText(output) {
  // the answer's text first (what a reader looks for), then every item as sent
  const texts = [];
  for (const item of Array.isArray(output) ? output : []) {
    for (const part of (item && item.content) || []) if (part && typeof part.text === "string") texts.push(part.text);
  }
  const raw = JSON.stringify(output, null, 2);
  return texts.length ? `${texts.join("\n")}\n\n${raw}` : raw;
}

// Spend: three charts over the chosen range, a series per group, and the range's totals.
const RANGES = { "24h": [24 * 3600, "hour", 3600], "7d": [7 * 86400, "day", 86400], "30d": [30 * 86400, "day", 86400] };

views.spend = {
  name: "spend",
  charts: [],
  async start() {
    const form = $("#spend-controls");
    if (!form.dataset.bound) {
      form.dataset.bound = "1";
      form.addEventListener("change", () => this.refresh().catch(showError));
    }
    await this.refresh();
  },
  stop() {},
  async refresh() {
    const form = $("#spend-controls");
    const [span, bucket, step] = RANGES[form.elements.range.value];
    const group = form.elements.group_by.value;
    const now = Math.floor(Date.now() / 1000);
    const from = Math.floor((now - span) / step + 1) * step;
    const range = `group_by=${group}&from=${from}&to=${now + 1}`;
    const [series, totals, names] = await Promise.all([
      api(`/admin/spend?${range}&bucket=${bucket}`),
      api(`/admin/spend?${range}`),
      keyNames(),
    ]);
    const label = (g) => (g === null ? (group === "key" ? "master key" : "none") : (names[group] && names[group][g]) || g);
    const times = [];
    for (let t = from; t <= now; t += step) times.push(t);
    const groups = [...new Set(series.data.map((r) => r[group]))];
    const index = new Map(times.map((t, i) => [t, i]));
    const metric = (pick) =>
      groups.map((g) => {
        const values = times.map(() => 0);
        for (const r of series.data) if (r[group] === g && index.has(r.t)) values[index.get(r.t)] += pick(r);
        return values;
      });
    const sum = (pick) => totals.data.reduce((acc, r) => acc + pick(r), 0);
    $("#spend-totals").replaceChildren(
      h("div", {}, h("b", { text: fmt.int(sum((r) => r.requests)) }), h("span", { text: "requests" })),
      h("div", {}, h("b", { text: fmt.int(sum((r) => r.input_tokens + r.output_tokens)) }), h("span", { text: "tokens" })),
      h("div", {}, h("b", { text: fmt.usd(sum((r) => r.spend_usd)) }), h("span", { text: "cost" })),
    );
    for (const chart of this.charts) chart.destroy();
    const labels = groups.map(label);
    this.charts = [
      draw("#chart-requests", times, labels, metric((r) => r.requests), (v) => fmt.int(v)),
      draw("#chart-tokens", times, labels, metric((r) => r.input_tokens + r.output_tokens), (v) => fmt.int(v)),
      draw("#chart-cost", times, labels, metric((r) => r.spend_usd), (v) => fmt.usd(v)),
    ];
    $("#spend-group").textContent = group[0].toUpperCase() + group.slice(1);
    const rows = totals.data.map((r) =>
      h(
        "tr",
        {},
        h("td", { text: label(r[group]) }),
        h("td", { class: "num", text: fmt.int(r.requests) }),
        h("td", { class: "num", text: fmt.int(r.input_tokens) }),
        h("td", { class: "num", text: fmt.int(r.output_tokens) }),
        h("td", { class: "num", text: fmt.usd(r.spend_usd) }),
      ),
    );
    if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No spend in this range." })));
    $("#spend-table tbody").replaceChildren(...rows);
  },
};

function draw(selector, times, labels, values, format) {
  const box = $(selector);
  box.replaceChildren();
  const width = Math.max(320, box.clientWidth || 400);
  const opts = {
    width,
    height: 220,
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [{}, { values: (u, ticks) => ticks.map(format), size: 70 }],
    series: [{}, ...labels.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 5 } }))],
  };
  return new uPlot(opts, [times, ...values], box);
}

// Keys: keys and teams with spend against budget, a form that shows a new key once, revoke.
views.keys = {
  name: "keys",
  async start() {
    const form = $("#key-form");
    if (!form.dataset.bound) {
      form.dataset.bound = "1";
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        this.create().catch(showError);
      });
    }
    await this.refresh();
  },
  stop() {},
  async refresh() {
    const names = await keyNames();
    const teamSelect = $("#key-form").elements.team_id;
    const chosen = teamSelect.value;
    teamSelect.replaceChildren(h("option", { value: "", text: "none" }), ...names.teams.map((t) => h("option", { value: t.id, text: t.name })));
    teamSelect.value = chosen;
    const now = Date.now() / 1000;
    const keyRows = names.keys.map((k) => {
      const status = k.revoked ? "revoked" : k.expires_at && k.expires_at <= now ? "expired" : "active";
      return h(
        "tr",
        { "data-id": k.id },
        h("td", { text: k.name }),
        h("td", {}, h("code", { text: k.key_prefix })),
        h("td", { text: k.team_id ? names.team[k.team_id] || k.team_id : "–" }),
        h("td", { class: "wrap", text: k.models && k.models.length ? k.models.join(", ") : "all" }),
        h("td", {}, budget(k)),
        h("td", { text: limits(k.limits) }),
        h("td", { class: `status ${status === "active" ? "ok" : "bad"}`, text: status }),
        h("td", {}, k.revoked ? null : revokeButton(k, () => this.refresh())),
      );
    });
    if (keyRows.length === 0) keyRows.push(h("tr", {}, h("td", { colspan: 8, class: "empty", text: "No keys yet." })));
    $("#key-table tbody").replaceChildren(...keyRows);
    const teamRows = names.teams.map((t) =>
      h(
        "tr",
        {},
        h("td", { text: t.name }),
        h("td", { text: names.keys.filter((k) => k.team_id === t.id && !k.revoked).length }),
        h("td", {}, budget(t)),
        h("td", { text: limits(t.limits) }),
      ),
    );
    if (teamRows.length === 0) teamRows.push(h("tr", {}, h("td", { colspan: 4, class: "empty", text: "No teams." })));
    $("#team-table tbody").replaceChildren(...teamRows);
  },
  async create() {
    const f = $("#key-form").elements;
    const body = { name: f.name.value.trim() };
    const models = f.models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    if (f.max_usd.value) body.budget = { max_usd: Number(f.max_usd.value), ...(f.period.value ? { period: f.period.value } : {}) };
    const lim = {};
    if (f.rpm.value) lim.rpm = Number(f.rpm.value);
    if (f.tpm.value) lim.tpm = Number(f.tpm.value);
    if (Object.keys(lim).length) body.limits = lim;
    if (f.team_id.value) body.team_id = f.team_id.value;
    const created = await api("/admin/keys", { method: "POST", body: JSON.stringify(body) });
    $("#new-key-value").textContent = created.key;
    $("#new-key").hidden = false;
    $("#key-form").reset();
    await this.refresh();
  },
};

function budget(record) {
  const spent = record.spend_usd || 0;
  if (!record.budget) return `${fmt.usd(spent)} (no budget)`;
  const share = record.budget.max_usd > 0 ? spent / record.budget.max_usd : 1;
  const bar = h("i", { class: share >= 1 ? "over" : "" });
  bar.style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
  const period = record.budget.period ? ` / ${record.budget.period}` : "";
  return h("span", {}, `${fmt.usd(spent)} of ${fmt.usd(record.budget.max_usd)}${period}`, h("span", { class: "meter" }, bar));
}

function limits(l) {
  if (!l) return "–";
  return [l.rpm ? `${l.rpm} rpm` : null, l.tpm ? `${l.tpm} tpm` : null].filter(Boolean).join(", ") || "–";
}

function revokeButton(key, done) {
  // two clicks: "Revoke", then "Confirm"
  const button = h("button", { class: "danger", type: "button", text: "Revoke" });
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "1") {
      button.dataset.armed = "1";
      button.textContent = "Confirm";
      return;
    }
    try {
      await api(`/admin/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      await done();
    } catch (error) {
      showError(error);
    }
  });
  return button;
}

// Providers: recent numbers from the request log, keys cooling down, aliases.
views.providers = {
  name: "providers",
  async start() {
    const listing = await api("/admin/providers");
    $("#provider-window").textContent = `Requests over the last ${Math.round(listing.window / 60)} minutes, from the request log.`;
    const rows = listing.data.map((p) =>
      h(
        "tr",
        { "data-name": p.name },
        h("td", {}, h("strong", { text: p.name })),
        h("td", { text: p.type }),
        h("td", { class: "num", text: fmt.int(p.requests) }),
        h("td", { class: `num status ${p.error_rate > 0.05 ? "bad" : "ok"}`, text: fmt.pct(p.error_rate) }),
        h("td", { class: "num", text: fmt.ms(p.p50_latency_ms) }),
        h(
          "td",
          {},
          `${p.keys} `,
          p.cooling_keys.map((c) => h("span", { class: "tag cool", text: `#${c.key} cooling ${Math.ceil(c.seconds_left)} s` })),
        ),
        h("td", { class: "wrap" }, p.aliases.length ? p.aliases.map((a) => h("span", { class: "tag", text: a })) : "–"),
      ),
    );
    $("#provider-table tbody").replaceChildren(...rows);
  },
  stop() {},
};

// ---- start --------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  if (sessionStorage.getItem(TOKEN)) start();
  else signOut();
});
