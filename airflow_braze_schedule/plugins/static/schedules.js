// The Braze schedules page: reads /braze/api (paged on the server), and cancels by triggering the
// braze_schedule_admin DAG through Airflow's own REST API with the user's own session, so Airflow decides
// who may. Every value is put in the page as text, never as HTML.
"use strict";

const BRAZE = new URL(".", location.href); // <airflow>/braze/
const AIRFLOW = new URL("..", BRAZE); // <airflow>/
const ADMIN_DAG = "braze_schedule_admin";
const PAGE_SIZE = 100;
let context = null;
let offset = 0;
let total = 0;

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function notice(text, kind, id) {
  const box = document.getElementById("notices");
  if (id) document.getElementById(id)?.remove();
  const node = el("div", { class: kind || "", id: id || null }, text);
  box.append(node);
  return node;
}

async function getJson(path, params) {
  const url = new URL(path, BRAZE);
  for (const [name, value] of Object.entries(params || {})) if (value) url.searchParams.set(name, value);
  const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(`HTTP ${answer.status}: ${body.detail || answer.statusText}`);
  return body;
}

function airflowLink(text, path) {
  return el("a", { href: new URL(path, AIRFLOW).href, target: "_top" }, text);
}

function runLinks(change) {
  if (!change || !change.dag_id) return el("span", { class: "muted" }, "outside Airflow");
  const dag = encodeURIComponent(change.dag_id);
  const run = encodeURIComponent(change.run_id || "");
  const parts = [airflowLink(change.dag_id, `dags/${dag}`)];
  if (change.run_id) parts.push(" / ", airflowLink(change.run_id, `dags/${dag}/runs/${run}`));
  if (change.task_id && change.run_id) {
    parts.push(" / ", airflowLink(change.task_id, `dags/${dag}/runs/${run}/tasks/${encodeURIComponent(change.task_id)}`));
  }
  return el("span", {}, parts);
}

function utcInput(name) {
  const value = document.querySelector(`[name=${name}]`).value;
  return value ? new Date(value + "Z").toISOString().replace(".000Z", "Z") : "";
}

function filters() {
  const form = document.getElementById("filters");
  return {
    conn_id: form.conn_id.value.trim() || "braze_default",
    scope: form.scope.value,
    state: form.state.value,
    send_after: utcInput("send_after"),
    send_before: utcInput("send_before"),
  };
}

function owner(entry) {
  const id = entry.kind === "canvas" ? entry.canvas_id : entry.campaign_id;
  if (!id) return el("span", { class: "muted" }, "-");
  return entry.dashboard_url ? el("a", { href: entry.dashboard_url, target: "_blank", rel: "noopener" }, id) : id;
}

function sendTime(entry) {
  if (!entry.send_time) return el("span", { class: "muted" }, "unknown");
  const mode = { utc: "UTC", local: "users' local time", optimal: "optimal time" }[entry.time_mode] || "";
  return el("span", { title: `delivers ${entry.send_starts} .. ${entry.send_ends}` }, entry.send_time, el("br"),
    el("span", { class: "muted" }, mode));
}

function scheduleIds(ids) {
  if (ids.group) {
    return el("span", { title: ids.ids.join("\n") }, `group of ${ids.count}`, el("br"),
      el("span", { class: "muted" }, `${ids.recipients ?? "?"} recipients`));
  }
  return ids.ids.length ? el("code", {}, ids.ids[0]) : el("span", { class: "muted" }, "none");
}

function cancelButton(entry) {
  const live = entry.state === "scheduled" || entry.state === "updated";
  if (!live) return "";
  const why = cancelRefusal();
  return el("button", {
    type: "button", class: "cancel", "data-key": entry.schedule_key, disabled: Boolean(why),
    title: why || `trigger ${ADMIN_DAG} to cancel this key`, onclick: () => cancel(entry.schedule_key),
  }, "Cancel");
}

function cancelRefusal() {
  if (!context) return "loading";
  if (!context.admin_dag.deployed) return `the DAG ${ADMIN_DAG} is not deployed`;
  if (!context.can_cancel) return context.cannot_cancel_because;
  return null;
}

function row(entry) {
  const flagged = entry.flags.length > 0;
  return el("tr", { class: flagged ? "flagged" : null, "data-key": entry.schedule_key },
    el("td", {}, el("a", {
      class: "key", href: `#${encodeURIComponent(entry.schedule_key)}`,
      onclick: (event) => { event.preventDefault(); showDetail(entry.schedule_key); },
    }, entry.schedule_key)),
    el("td", {}, el("span", { class: `state state-${entry.state}` }, entry.state || "pending")),
    el("td", {}, entry.outcome || ""),
    el("td", {}, entry.kind || ""),
    el("td", {}, owner(entry)),
    el("td", {}, sendTime(entry)),
    el("td", {}, scheduleIds(entry.schedule_ids)),
    el("td", {}, entry.last_change ? [entry.last_change.action, " ", el("span", { class: "muted" }, entry.last_change.at),
      el("br"), runLinks(entry.last_change)] : ""),
    el("td", {}, entry.flags.map((flag) => el("div", { class: "flag", title: flag.message }, "⚑ " + flag.code.replaceAll("_", " ")))),
    el("td", {}, cancelButton(entry)),
  );
}

async function load() {
  const started = performance.now();
  const body = document.querySelector("#schedules tbody");
  try {
    const page = await getJson("api/schedules", { ...filters(), limit: PAGE_SIZE, offset });
    total = page.total;
    body.replaceChildren(...page.entries.map(row));
    document.getElementById("range").textContent = total
      ? `${(offset + 1).toLocaleString()}–${(offset + page.entries.length).toLocaleString()} of ${total.toLocaleString()}`
      : "no schedules match";
    document.getElementById("prev").disabled = offset === 0;
    document.getElementById("next").disabled = offset + PAGE_SIZE >= total;
    document.getElementById("notices").querySelector("#load-error")?.remove();
  } catch (error) {
    notice(`Could not read the registry: ${error.message}`, "error", "load-error");
  }
  document.body.dataset.loadedMs = String(Math.round(performance.now() - started));
  document.body.dataset.loaded = "true";
}

async function showDetail(key) {
  const entry = await getJson(`api/schedules/${key.split("/").map(encodeURIComponent).join("/")}`,
    { conn_id: filters().conn_id });
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-key").textContent = key;
  document.getElementById("detail-summary").replaceChildren(
    el("p", {}, "State ", el("span", { class: `state state-${entry.state}` }, entry.state), " · send ",
      sendTime(entry), " · ", owner(entry), " ", cancelButton(entry)),
    ...entry.flags.map((flag) => el("p", { class: "flag" }, "⚑ " + flag.message)),
    entry.schedule_ids.group ? el("p", { class: "muted" },
      `A group of ${entry.schedule_ids.count} schedules for ${entry.schedule_ids.recipients} recipients: `,
      entry.schedule_ids.ids.join(", ")) : "",
  );
  document.querySelector("#history tbody").replaceChildren(...entry.history.map((line) => el("tr", {},
    el("td", {}, line.seq), el("td", {}, line.at), el("td", {}, line.action), el("td", {}, line.state || ""),
    el("td", {}, line.outcome || ""), el("td", {}, line.schedule_id ? el("code", {}, line.schedule_id) : ""),
    el("td", {}, runLinks(line)), el("td", {}, line.note || ""))));
  document.getElementById("detail").dataset.key = key;
  document.getElementById("detail").scrollIntoView();
}

async function cancel(key) {
  if (!window.confirm(`Cancel the schedule of ${key}? This triggers the DAG ${ADMIN_DAG}.`)) return;
  const url = new URL(`api/v2/dags/${ADMIN_DAG}/dagRuns`, AIRFLOW);
  const answer = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ logical_date: null, conf: { schedule_key: key, braze_conn_id: filters().conn_id } }),
  });
  const body = await answer.json().catch(() => ({}));
  if (answer.status === 403) {
    notice(`Airflow refused the cancel of ${key} (403): your role may not trigger ${ADMIN_DAG}. ` +
      "Ask an administrator for a role that may trigger DAG runs.", "error", "cancel-result");
    return;
  }
  if (!answer.ok) {
    notice(`Airflow refused the cancel of ${key} (HTTP ${answer.status}): ${JSON.stringify(body.detail ?? body)}`,
      "error", "cancel-result");
    return;
  }
  const run = body.dag_run_id;
  const line = notice("", "", "cancel-result");
  line.append(`Cancelling ${key}: run `, airflowLink(run, `dags/${ADMIN_DAG}/runs/${encodeURIComponent(run)}`),
    ` of ${ADMIN_DAG} is queued; this page refreshes when it is done.`);
  await waitForRun(run, key, line);
}

async function waitForRun(run, key, line) {
  const url = new URL(`api/v2/dags/${ADMIN_DAG}/dagRuns/${encodeURIComponent(run)}`, AIRFLOW);
  for (let tries = 0; tries < 150; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const answer = await fetch(url, { credentials: "same-origin" });
    const state = answer.ok ? (await answer.json()).state : null;
    if (state === "success" || state === "failed") {
      line.append(` The run ended: ${state}.`);
      if (state === "failed") line.className = "error";
      await load();
      if (document.getElementById("detail").dataset.key === key) await showDetail(key);
      return;
    }
  }
  line.append(" Still running after five minutes: refresh later.");
}

async function loadContext() {
  context = await getJson("api/context");
  document.getElementById("who").textContent = `signed in as ${context.user}`;
  const select = document.querySelector("[name=state]");
  for (const state of context.states) select.append(el("option", { value: state }, state.replace("_", " ")));
  if (!context.admin_dag.deployed) {
    notice(`Cancel is off: the maintenance DAG ${ADMIN_DAG} is not deployed. Copy example_dags/` +
      `braze_schedule_admin.py from the airflow-braze-schedule provider into your DAGs folder.`, "warn", "admin-dag");
  } else if (context.admin_dag.paused) {
    notice(`The DAG ${ADMIN_DAG} is paused: a cancel is queued until someone unpauses it.`, "warn", "admin-dag");
  }
  if (!context.can_cancel) notice(`You can read these schedules but not cancel them: ${context.cannot_cancel_because}.`,
    "warn", "no-cancel");
}

function applyFilters(event) {
  if (event) event.preventDefault();
  offset = 0;
  load();
}

function localInput(date) {
  return date.toISOString().slice(0, 16);
}

document.getElementById("filters").addEventListener("submit", applyFilters);
document.getElementById("next24").addEventListener("click", () => {
  const now = new Date();
  document.querySelector("[name=send_after]").value = localInput(now);
  document.querySelector("[name=send_before]").value = localInput(new Date(now.getTime() + 24 * 3600 * 1000));
  applyFilters();
});
document.getElementById("clear").addEventListener("click", () => {
  document.getElementById("filters").reset();
  applyFilters();
});
document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); load(); });
document.getElementById("next").addEventListener("click", () => { offset += PAGE_SIZE; load(); });
document.getElementById("close-detail").addEventListener("click", () => { document.getElementById("detail").hidden = true; });

loadContext().catch((error) => notice(`Could not read your permissions: ${error.message}`, "error")).finally(load);
