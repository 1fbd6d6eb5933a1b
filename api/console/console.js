// The operator console: signs in with an operator API key and drives the engine's own HTTP API.
// Coordinates: the API's (lat, lng) objects at its edges; GeoJSON [lng, lat] for everything drawn.

import { MercatorMap, bounds } from "./map.js";
import { applyLabels, currentLang, t, tn, toggleLang } from "./i18n.js";
import { campaignProblems } from "./checks.js";
import { GuidesPanel } from "./guides.js";

const $ = (selector, root = document) => root.querySelector(selector);
const KEY = "de-api-key";
const REACH_M = 3000;
const POLL_MS = { rains: 1000, lots: 2000, campaigns: 4000, density: 5000, guides: 5000 };

const state = {
  key: sessionStorage.getItem(KEY),
  operator: null,
  districts: [],     // the operator's: summaries with .feature (GeoJSON)
  others: [],        // everybody else's: summaries (public)
  selected: null,    // district id
  reach: null,       // FeatureCollection of the selected district's 3 km reach
  outlines: new Map(), // `${district}:${radius}` -> outline geometry at a campaign's radius
  campaigns: [],     // the campaigns of district `campaignsOf`
  campaignsOf: null,
  stats: new Map(),
  rains: new Map(),
  lots: [],
  density: null,
  preview: null,     // an uploaded Feature not saved yet
  editing: null,     // the campaign the form edits (null: a new one)
};

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.field = body?.error?.field || "";
    this.code = body?.error?.code || "";
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ------------------------------------------------------------------ formatting
const yuan = (cents) => `¥${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
const nameOf = (d) => (currentLang() === "zh" && d.name_zh) || d.name;
const localInput = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
// Times are the browser's, in its zone, and every time shown names it: "24 Dec 20:15 UTC+8", with the
// zone's name on hover ("Asia/Shanghai (UTC+8)").
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const locale = () => (currentLang() === "zh" ? "zh-CN" : "en-GB");
const day = (date) => date.toLocaleDateString(locale(), { month: "short", day: "numeric" });
const clock = (date) => date.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
function utcOffset(date) {
  const minutes = -date.getTimezoneOffset(), abs = Math.abs(minutes);
  return `UTC${minutes < 0 ? "-" : "+"}${Math.floor(abs / 60)}${abs % 60 ? `:${String(abs % 60).padStart(2, "0")}` : ""}`;
}
const zoneTitle = (date) => `${ZONE} (${utcOffset(date)})`;
const when = (iso) => { const d = new Date(iso); return `${day(d)} ${clock(d)} ${utcOffset(d)}`; };
// A span of time: the day once if it is one day, the zone once unless it changes (daylight saving).
function whenSpan(fromIso, toIso) {
  const a = new Date(fromIso), b = new Date(toIso);
  const sameZone = utcOffset(a) === utcOffset(b);
  const start = `${day(a)} ${clock(a)}${sameZone ? "" : ` ${utcOffset(a)}`}`;
  return `${start} – ${day(a) === day(b) ? "" : `${day(b)} `}${clock(b)} ${utcOffset(b)}`;
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") node.addEventListener("click", v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// ------------------------------------------------------------------ the map
const map = new MercatorMap($("#map"), ["cells", "density", "others", "campaigns", "footprints", "lots", "preview"]);

function drawReach() {
  const features = state.reach?.features || [];
  map.setLayer("cells", features.map((f) => f.properties.kind === "outline"
    ? { geometry: f.geometry, cls: "reach-outline", attrs: { "data-outline": state.selected } }
    : { geometry: f.geometry, cls: `cell-${f.properties.kind}`, attrs: { "data-cell": f.properties.cell } }));
}

function drawDensity() {
  const features = state.density?.features || [];
  const most = Math.max(1, ...features.map((f) => f.properties.users));
  map.setLayer("density", features.map((f) => ({
    geometry: f.geometry, cls: "density", title: tn("users_n", f.properties.users),
    attrs: { "fill-opacity": (0.15 + 0.6 * (f.properties.users / most)).toFixed(2), "data-users": f.properties.users },
    label: String(f.properties.users), labelCls: "density-label", minZoom: 13,
  })));
  const users = features.reduce((n, f) => n + f.properties.users, 0);
  $("#map-status").textContent = state.density ? t("status_density", { users: tn("users_n", users), cells: tn("cells_n", features.length) }) : "";
}

const topOf = (geometry) => { const b = bounds([geometry]); return [(b[0] + b[2]) / 2, b[3]]; };

function drawDistricts() {
  map.setLayer("footprints", state.districts.filter((d) => d.feature).map((d) => ({
    geometry: d.feature.geometry, cls: `footprint${d.id === state.selected ? " selected" : ""}`,
    attrs: { "data-district-id": d.id }, title: `${nameOf(d)} · ${d.city}`, markerBelowPx: 8,
    label: nameOf(d), labelCls: "district-label", labelAt: topOf(d.feature.geometry), labelOffset: [0, -8],
    onClick: () => select(d.id),
  })));
  map.setLayer("others", state.others.map((d) => ({
    point: [d.centroid.lng, d.centroid.lat], cls: "other-district", radius: 4, title: `${nameOf(d)} · ${d.city}`,
    label: nameOf(d), labelCls: "other-label", labelOffset: [7, 4], minZoom: 11,
  })));
}

function drawCampaigns() {
  const shown = state.campaigns.filter((c) => c.state !== "ended" && state.outlines.has(`${c.district_id}:${c.radius_m}`));
  map.setLayer("campaigns", shown.map((c, i) => {
    const geometry = state.outlines.get(`${c.district_id}:${c.radius_m}`);
    const ring = (geometry.type === "Polygon" ? geometry.coordinates : geometry.coordinates[0])[0];
    const top = ring.reduce((a, b) => (b[1] > a[1] ? b : a));
    return {
      geometry, cls: `campaign-reach kind-${c.kind}`, attrs: { "data-campaign-id": c.id },
      title: `${c.title} · ${t(`kind_${c.kind}`)} · ${c.radius_m} m`, label: `${c.title} (${t(`state_${c.state}`)})`,
      labelCls: `campaign-label kind-${c.kind}`, labelAt: top, labelOffset: [0, -6 - 14 * i],
    };
  }));
}

function drawLots() {
  map.setLayer("lots", state.lots.map((lot) => ({
    point: [lot.location.lng, lot.location.lat], cls: `lot-marker ${lotLevel(lot)}`, radius: 9, glyph: "P", glyphCls: "lot-p",
    attrs: { "data-lot-id": lot.id }, title: `${lot.name}: ${lot.occupied}/${lot.capacity} ${t("occupied")}`,
    label: `${lot.free_spaces} ${t("free")}`, labelCls: "lot-label", labelOffset: [12, 4],
    onClick: () => select(lot.district_id),
  })));
}

const lotLevel = (lot) => (lot.free_spaces === 0 ? "full" : lot.free_spaces < lot.capacity * 0.1 ? "low" : "ok");

function drawPreview() {
  map.setLayer("preview", state.preview ? [{ geometry: state.preview.geometry, cls: "preview", attrs: { "data-preview": "1" } }] : []);
}

// ------------------------------------------------------------------ panels
function renderDistricts() {
  const list = $("#district-list");
  list.replaceChildren(...state.districts.map((d) => h("li", {
    "data-district-id": d.id, class: d.id === state.selected ? "selected" : null, onclick: () => select(d.id),
  }, h("span", {}, nameOf(d)), h("span", { class: "meta" }, d.city))));
  if (!state.districts.length) list.append(h("li", { class: "meta" }, t("no_districts")));
  const district = state.districts.find((d) => d.id === state.selected);
  $("#campaigns-of").textContent = district ? `· ${nameOf(district)}` : "";
}

function renderCampaigns() {
  const list = $("#campaign-list");
  list.replaceChildren(...state.campaigns.map(campaignItem));
  if (!state.campaignsOf) list.append(h("li", { class: "meta" }, "…"));
  else if (!state.campaigns.length) list.append(h("li", { class: "meta" }, t("no_campaigns")));
  list.dataset.district = state.campaignsOf || "";
}

function campaignItem(c) {
  const stats = state.stats.get(c.id);
  const actions = h("span", { class: "item-actions" });
  if (c.state !== "ended") actions.append(h("button", { type: "button", "data-action": "edit", onclick: () => openForm(c) }, t("edit")));
  if (c.state !== "ended") actions.append(h("button", { type: "button", class: "danger", "data-action": "end", onclick: () => endCampaign(c) }, t("end_now")));
  return h("li", { "data-campaign-id": c.id }, actions,
    h("div", {}, h("b", {}, c.title), h("span", { class: `badge kind-${c.kind}` }, t(`kind_${c.kind}`)),
      h("span", { class: `badge state-${c.state}`, "data-state": c.state }, t(`state_${c.state}`))),
    h("div", { class: "meta" }, h("span", { class: "when", title: zoneTitle(new Date(c.starts_at)) },
      whenSpan(c.starts_at, c.ends_at)), " · ", h("span", { class: "nowrap" }, `${c.radius_m} m`)),
    h("div", { class: "meta stats" }, ...(stats ? [`${t("delivered")} ${stats.offers_delivered} · ${t("conversions")} `,
      h("b", { class: "conversions" }, String(stats.conversions)), " · ",
      h("b", { class: "revenue" }, yuan(stats.revenue_cents)),
      ` ${t("revenue")} · ${t("users")} ${stats.unique_users} · ${t("pushed")} ${stats.pushed}`] : ["…"])),
    c.kind === "red_envelope" ? rainBlock(c) : null);
}

function rainBlock(c) {
  const r = state.rains.get(c.id) || { won_packets: 0, packets: c.rain?.packets || 0, won_cents: 0,
    total_cents: c.rain?.total_cents || 0, remaining_packets: c.rain?.packets || 0, remaining_cents: c.rain?.total_cents || 0, refunded_cents: 0 };
  const share = r.packets ? (100 * r.won_packets) / r.packets : 0;
  return h("div", { class: "rain", "data-rain": c.id },
    `${t("won")} `, h("b", { class: "won-packets" }, String(r.won_packets)), ` / ${r.packets} ${tn("packet_noun", r.packets)} · `,
    h("b", { class: "won-cents" }, yuan(r.won_cents)), ` / ${yuan(r.total_cents)} · ${t("remaining")} `,
    h("b", { class: "remaining-packets" }, String(r.remaining_packets)), ` ${tn("packet_noun", r.remaining_packets)} `,
    h("b", { class: "remaining-cents" }, yuan(r.remaining_cents)),
    r.refunded_cents ? ` · ${t("refunded")} ${yuan(r.refunded_cents)}` : "",
    h("div", { class: "bar" }, h("i", { style: `width:${share.toFixed(1)}%` })));
}

function renderLots() {
  const lots = state.lots.filter((lot) => lot.district_id === state.selected);
  const list = $("#lot-list");
  list.replaceChildren(...lots.map((lot) => h("li", { class: `lot ${lotLevel(lot)}`, "data-lot-id": lot.id },
    h("div", {}, h("b", {}, currentLang() === "zh" && lot.name_zh ? lot.name_zh : lot.name)),
    h("div", { class: "meta" }, h("span", { class: "free" }, String(lot.free_spaces)), ` ${t("free")} · `,
      h("span", { class: "occupied" }, String(lot.occupied)), ` / ${lot.capacity} ${t("occupied")}`),
    h("div", { class: "bar" }, h("i", { style: `width:${((100 * lot.occupied) / Math.max(1, lot.capacity)).toFixed(1)}%` })))));
  if (!lots.length) list.append(h("li", { class: "meta" }, t("no_lots")));
}

const guides = new GuidesPanel($("#guides"), { api, ApiError, h, t, tn, yuan, when, showError, clearErrors,
  districtName: (id) => { const d = state.districts.find((x) => x.id === id); return d ? nameOf(d) : id; } });

// ------------------------------------------------------------------ loading
async function loadDistricts() {
  const [mine, all] = await Promise.all([api("GET", "/v1/districts?mine=true"), api("GET", "/v1/districts")]);
  const ids = new Set(mine.districts.map((d) => d.id));
  const features = await Promise.all(mine.districts.map((d) => api("GET", `/v1/districts/${encodeURIComponent(d.id)}`)));
  state.districts = mine.districts.map((d, i) => ({ ...d, feature: features[i] }));
  state.others = all.districts.filter((d) => !ids.has(d.id));
  renderDistricts();
  drawDistricts();
}

async function select(districtId) {
  state.selected = districtId;
  state.reach = null; // not the last district's: outlineAt would take its outline for this one
  state.campaigns = [];
  state.campaignsOf = null; // until they are loaded: never act on another district's list
  state.density = null;
  renderCampaigns();
  drawCampaigns();
  renderDistricts();
  drawDistricts();
  renderLots();
  const reach = await api("GET", `/v1/districts/${encodeURIComponent(districtId)}/cells`);
  if (districtId !== state.selected) return; // another district was selected meanwhile: its reach is drawn
  state.reach = reach;
  drawReach();
  const outline = state.reach.features.find((f) => f.properties.kind === "outline");
  map.fit(bounds([outline.geometry]));
  await Promise.all([loadCampaigns(), loadDensity(), guides.show(districtId)]);
}

async function outlineAt(districtId, radius) {
  const key = `${districtId}:${radius}`;
  if (!state.outlines.has(key)) {
    const fc = radius === REACH_M && districtId === state.selected && state.reach ? state.reach
      : await api("GET", `/v1/districts/${encodeURIComponent(districtId)}/cells?radius_m=${radius}`);
    state.outlines.set(key, fc.features.find((f) => f.properties.kind === "outline").geometry);
  }
}

async function loadCampaigns() {
  const district = state.selected;
  if (!district) return;
  const { campaigns } = await api("GET", `/v1/campaigns?district_id=${encodeURIComponent(district)}`);
  campaigns.sort((a, b) => ["live", "scheduled", "ended"].indexOf(a.state) - ["live", "scheduled", "ended"].indexOf(b.state)
    || b.starts_at.localeCompare(a.starts_at));
  const stats = await Promise.all(campaigns.map((c) => api("GET", `/v1/campaigns/${c.id}/stats`).catch(() => null)));
  campaigns.forEach((c, i) => stats[i] && state.stats.set(c.id, stats[i]));
  await Promise.all(campaigns.filter((c) => c.state !== "ended").map((c) => outlineAt(c.district_id, c.radius_m)));
  if (district !== state.selected) return; // another district was selected meanwhile
  state.campaigns = campaigns;
  state.campaignsOf = district;
  renderCampaigns();
  drawCampaigns();
  await loadRains();
}

async function loadRains() {
  const rains = state.campaigns.filter((c) => c.kind === "red_envelope");
  await Promise.all(rains.map(async (c) => {
    const figures = await api("GET", `/v1/red-envelopes/${c.id}`).catch(() => null);
    if (!figures) return;
    state.rains.set(c.id, figures);
    const block = document.querySelector(`[data-rain="${c.id}"]`);
    if (block) block.replaceWith(rainBlock(c));
  }));
}

async function loadLots() {
  state.lots = await api("GET", "/v1/parking/lots");
  renderLots();
  drawLots();
}

async function loadDensity() {
  const district = state.selected;
  if (!district) return;
  const density = await api("GET", `/v1/districts/${encodeURIComponent(district)}/density`);
  if (district !== state.selected) return;
  state.density = density;
  drawDensity();
}

// Poll each panel on its own clock, one request in flight per panel, quietly through errors.
function every(ms, load, liveOnly = () => true) {
  const tick = async () => {
    if (state.operator && liveOnly()) {
      try { await load(); } catch (error) { if (error.status === 401) return signOut(t("key_rejected")); }
    }
    setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

// ------------------------------------------------------------------ the campaign form
const form = $("#campaign-form");

function showKindFields() {
  const kind = form.elements.kind.value;
  for (const fs of form.querySelectorAll("fieldset[data-kind]")) fs.hidden = fs.dataset.kind !== kind;
}

function clearErrors(root) {
  for (const e of root.querySelectorAll("[data-error-for]")) e.textContent = "";
  for (const e of root.querySelectorAll(".invalid")) e.classList.remove("invalid");
}

// A problem names its field (`radius_m`, `packets`, ...), as the API's 422 does: its message goes beside that
// field. Called once per problem: a form's own checks show all of theirs together.
function showError(root, error) {
  const field = error.field.split(".").pop();
  const slot = (field && root.querySelector(`[data-error-for="${field}"]`)) || root.querySelector('[data-error-for=""]');
  slot.textContent = slot.dataset.errorFor ? error.message : `${error.message}${field ? ` (${t("field")}: ${error.field})` : ""}`;
  root.querySelector(`[name="${field}"]`)?.classList.add("invalid");
}

function openForm(c = null) {
  clearErrors(form);
  form.reset();
  form.hidden = false;
  const lots = state.lots.filter((lot) => lot.district_id === state.selected);
  form.elements.lot_id.replaceChildren(h("option", { value: "" }, t("every_lot")),
    ...lots.map((lot) => h("option", { value: lot.id }, lot.name)));
  const now = new Date();
  state.editing = c;
  form.elements.kind.value = c?.kind || "campaign";
  form.elements.kind.disabled = !!c;
  form.elements.title.value = c?.title || "";
  form.elements.body.value = c?.body || "";
  form.elements.starts_at.value = localInput(c ? new Date(c.starts_at) : now);
  form.elements.ends_at.value = localInput(c ? new Date(c.ends_at) : new Date(now.getTime() + 2 * 3600e3));
  form.elements.radius_m.value = c?.radius_m ?? REACH_M;
  for (const fs of form.querySelectorAll("fieldset[data-kind]")) fs.disabled = !!c; // fixed once created
  for (const zone of form.querySelectorAll(".zone")) { zone.textContent = utcOffset(now); zone.title = zoneTitle(now); }
  showKindFields();
  form.elements.title.focus();
}

// The form's fields as the API names them. Editing sends only what changed: the inputs hold times to
// the minute, and a rain's window may not change at all.
function formBody() {
  const el = form.elements;
  const number = (name) => (el[name].value === "" ? undefined : Number(el[name].value));
  const time = (name) => (el[name].value ? new Date(el[name].value).toISOString() : undefined);
  const body = { title: el.title.value, body: el.body.value, starts_at: time("starts_at"), ends_at: time("ends_at"),
    radius_m: number("radius_m") };
  if (state.editing) {
    const before = state.editing;
    if (el.starts_at.value === localInput(new Date(before.starts_at))) delete body.starts_at;
    if (el.ends_at.value === localInput(new Date(before.ends_at))) delete body.ends_at;
    for (const name of ["title", "body", "radius_m"]) if (body[name] === before[name]) delete body[name];
    return body;
  }
  Object.assign(body, { district_id: state.selected, kind: el.kind.value });
  if (body.kind === "red_envelope") Object.assign(body, { total_cents: number("total_cents"), packets: number("packets"), min_cents: number("min_cents") });
  if (body.kind === "parking") Object.assign(body, { lot_id: el.lot_id.value || undefined, free_minutes: number("free_minutes") });
  return body;
}

// The form's values for its own checks: numbers as numbers (NaN when not one), times as Dates.
function formValues() {
  const el = form.elements;
  const number = (name) => (el[name].value.trim() === "" ? undefined : Number(el[name].value));
  const time = (name) => (el[name].value ? new Date(el[name].value) : null);
  return { kind: el.kind.value, title: el.title.value, body: el.body.value, starts_at: time("starts_at"),
    ends_at: time("ends_at"), radius_m: number("radius_m"), total_cents: number("total_cents"),
    packets: number("packets"), min_cents: number("min_cents"), free_minutes: number("free_minutes") };
}

function showProblems(root, problems) {
  for (const p of problems) showError(root, { field: p.field, message: t(p.key, p.vars) });
  root.querySelector(".invalid")?.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const problems = campaignProblems(formValues(), { fixed: !!state.editing });
  if (problems.length) return showProblems(form, problems);
  const id = state.editing?.id;
  try {
    const saved = id ? await api("PATCH", `/v1/campaigns/${id}`, formBody()) : await api("POST", "/v1/campaigns", formBody());
    form.hidden = true;
    state.editing = null;
    await loadCampaigns();
    document.querySelector(`#campaign-list [data-campaign-id="${saved.id}"]`)?.scrollIntoView({ block: "nearest" });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showError(form, error);
  }
});
form.elements.kind.addEventListener("change", showKindFields);
$("#new-campaign").addEventListener("click", () => openForm());
$("#cancel-campaign").addEventListener("click", () => { form.hidden = true; state.editing = null; });

// Live or scheduled, a campaign ends now; a rain refunds what is left. It stays listed, with its figures.
async function endCampaign(c) {
  if (!confirm(t(c.kind === "red_envelope" ? "confirm_end_rain" : "confirm_end", { title: c.title }))) return;
  await api("POST", `/v1/campaigns/${c.id}/end`);
  await loadCampaigns();
}

// ------------------------------------------------------------------ upload a district
const upload = { text: $("#upload-text"), error: $("#upload-error"), ok: $("#upload-ok"), save: $("#upload-save") };

function previewUpload() {
  upload.error.textContent = "";
  upload.ok.textContent = "";
  state.preview = null;
  const text = upload.text.value.trim();
  if (text) {
    try {
      const feature = JSON.parse(text);
      if (feature?.type !== "Feature" || !["Polygon", "MultiPolygon"].includes(feature.geometry?.type)) throw new Error(t("not_feature"));
      state.preview = feature;
    } catch (error) {
      upload.error.textContent = error instanceof SyntaxError ? t("not_json", { reason: error.message }) : error.message;
    }
  }
  drawPreview();
  upload.save.disabled = !state.preview;
  if (state.preview) map.fit(bounds([state.preview.geometry]), 120);
}

upload.text.addEventListener("input", previewUpload);
const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) { upload.text.value = await file.text(); previewUpload(); }
});
upload.save.addEventListener("click", async () => {
  upload.error.textContent = "";
  try {
    const saved = await api("POST", "/v1/districts", state.preview);
    upload.text.value = "";
    state.preview = null;
    drawPreview();
    upload.save.disabled = true;
    upload.ok.textContent = t("district_saved", { id: saved.id });
    await loadDistricts();
    await select(saved.id);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    upload.error.textContent = `${error.message}${error.field ? ` (${t("field")}: ${error.field})` : ""}`;
  }
});

// ------------------------------------------------------------------ signing in and out
function showSignIn(message = "") {
  $("#signin").hidden = false;
  $("#app").hidden = true;
  $("#sign-out").hidden = true;
  $("#operator-name").textContent = "";
  $("#signin-error").textContent = message;
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  state.key = null;
  state.operator = null;
  showSignIn(message);
}

async function signIn(key) {
  state.key = key;
  try {
    state.operator = await api("GET", "/v1/operators/me");
  } catch (error) {
    if (error.status === 401) return signOut(`${t("key_rejected")} (${error.message})`);
    return showSignIn(t("unreachable"));
  }
  sessionStorage.setItem(KEY, key);
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#sign-out").hidden = false;
  $("#operator-name").textContent = state.operator.name;
  map.render();
  state.selected = null;
  await Promise.all([loadDistricts(), loadLots()]);
  // The first district, unless one was clicked while the lots were loading: that choice stands.
  if (state.districts.length && !state.selected) await select(state.districts[0].id);
  else map.fit(bounds(state.others.map((d) => ({ type: "Point", coordinates: [d.centroid.lng, d.centroid.lat] }))));
}

$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("#api-key").value.trim());
});
$("#sign-out").addEventListener("click", () => signOut());
$("#lang").addEventListener("click", () => {
  $("#lang").textContent = toggleLang() === "zh" ? "English" : "中文";
  renderDistricts(); renderCampaigns(); renderLots(); guides.render();
  drawDistricts(); drawCampaigns(); drawLots(); drawDensity();
});
// The legend is open on a wide window and folded on a narrow one, where it would cover the map's labels.
const wide = matchMedia("(min-width: 1001px)");
$("#legend").open = wide.matches;
wide.addEventListener("change", () => { $("#legend").open = wide.matches; });
for (const box of document.querySelectorAll("#legend input[data-layer]")) {
  box.addEventListener("change", () => map.setVisible(box.dataset.layer, box.checked));
}
$("#zoom-in").addEventListener("click", () => map.zoomAt(2));
$("#zoom-out").addEventListener("click", () => map.zoomAt(0.5));

applyLabels();
$("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
every(POLL_MS.rains, loadRains, () => state.campaigns.some((c) => c.kind === "red_envelope" && c.state === "live"));
every(POLL_MS.lots, loadLots);
every(POLL_MS.campaigns, loadCampaigns);
every(POLL_MS.density, loadDensity);
every(POLL_MS.guides, () => guides.load());
if (state.key) signIn(state.key); else showSignIn();
