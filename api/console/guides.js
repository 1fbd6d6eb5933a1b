// The Guides panel of the selected store (a district): its shopping guides, each one's members and
// this month's commission; a new guide; a guide who leaves hands its members to another.
// Only the public API (docs/guides.md), with the operator's key, through the console's own `api`.

import { guideProblems } from "./checks.js";

const MEMBER_PAGE = 20;
const COUNT_PAGE = 1000; // members counted per guide and poll: one request (the API has no count)

const pct = (bps) => `${(bps / 100).toFixed(2)}%`;

// The first of this month, in the operator's own time zone, as the API takes it (RFC 3339, UTC).
function monthStart(now = new Date()) {
  return new Date(now.getFullYear(), now.getMonth(), 1);
}

export class GuidesPanel {
  constructor(root, { api, ApiError, h, t, tn, yuan, when, showError, clearErrors, districtName }) {
    Object.assign(this, { root, api, ApiError, h, t, tn, yuan, when, showError, clearErrors, districtName });
    this.list = root.querySelector("#guide-list");
    this.form = root.querySelector("#guide-form");
    this.district = null; // the store shown
    this.loadedFor = null; // the store `guides` belong to (null: loading)
    this.guides = [];
    this.figures = new Map(); // guide id -> { members, more, report }
    this.members = new Map(); // guide id -> { rows, cursor } of a guide whose members are open
    this.leaving = null; // { guide, form } while one guide's deactivation form is open (kept across polls)
    root.querySelector("#new-guide").addEventListener("click", () => this.openForm());
    root.querySelector("#cancel-guide").addEventListener("click", () => { this.form.hidden = true; });
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.create(); });
  }

  show(districtId) {
    this.district = districtId;
    this.loadedFor = null; // never act on another store's guides
    this.guides = [];
    this.members.clear();
    this.leaving = null;
    this.form.hidden = true;
    this.render();
    return this.load();
  }

  async load() {
    const district = this.district;
    if (!district) return;
    const guides = [];
    let cursor = null;
    do {
      const page = await this.api("GET", `/v1/guides?district_id=${encodeURIComponent(district)}&limit=1000`
        + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
      guides.push(...page.guides);
      cursor = page.next_cursor;
    } while (cursor);
    const from = encodeURIComponent(monthStart().toISOString());
    const to = encodeURIComponent(new Date().toISOString());
    const figures = await Promise.all(guides.map(async (g) => {
      const [members, report] = await Promise.all([
        this.api("GET", `/v1/guides/${g.id}/members?limit=${COUNT_PAGE}`),
        this.api("GET", `/v1/guides/${g.id}/commissions?from=${from}&to=${to}`),
      ]);
      return { members: members.members.length, more: members.next_cursor !== null, report };
    }));
    const open = await Promise.all(guides.filter((g) => this.members.has(g.id)).map(async (g) => {
      const shown = Math.max(MEMBER_PAGE, this.members.get(g.id).rows.length);
      return [g.id, await this.api("GET", `/v1/guides/${g.id}/members?limit=${Math.min(shown, 1000)}`)];
    }));
    if (district !== this.district) return; // another store was selected meanwhile
    this.figures = new Map(guides.map((g, i) => [g.id, figures[i]]));
    this.guides = [...guides].sort((a, b) => Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
    for (const [id, page] of open) {
      if (this.members.has(id)) this.members.set(id, { rows: page.members, cursor: page.next_cursor });
    }
    this.loadedFor = district;
    this.render();
  }

  render() {
    const { h, t } = this;
    const name = this.district ? this.districtName(this.district) : "";
    this.root.querySelector("#guides-of").textContent = name ? `· ${name}` : "";
    this.root.querySelector("#new-guide").disabled = !this.district;
    this.list.replaceChildren(...this.guides.map((g) => this.item(g)));
    if (!this.loadedFor) this.list.append(h("li", { class: "meta" }, this.district ? "…" : ""));
    else if (!this.guides.length) this.list.append(h("li", { class: "meta" }, t("no_guides")));
    this.list.dataset.district = this.loadedFor || "";
  }

  item(g) {
    const { h, t, tn, yuan } = this;
    const f = this.figures.get(g.id);
    const r = f?.report;
    const actions = h("span", { class: "item-actions" },
      h("button", { type: "button", "data-action": "members", "aria-expanded": String(this.members.has(g.id)),
        onclick: () => this.toggleMembers(g) }, t("members_button")),
      g.active ? h("button", { type: "button", class: "danger", "data-action": "deactivate",
        onclick: () => this.openLeaving(g) }, t("deactivate")) : null);
    const successor = g.transfer_to && this.guides.find((x) => x.id === g.transfer_to);
    return h("li", { "data-guide-id": g.id, class: g.active ? null : "inactive" }, actions,
      h("div", {}, h("b", { class: "guide-name" }, g.name),
        h("span", { class: `badge ${g.active ? "state-live" : "state-ended"}`, "data-active": String(g.active) },
          t(g.active ? "guide_active" : "guide_left"))),
      h("div", { class: "meta" }, h("span", { class: "bps", title: `${g.commission_bps} bps` }, pct(g.commission_bps)),
        ` ${t("commission")} · `, h("span", { class: "member-count" }, f ? `${f.members}${f.more ? "+" : ""}` : "…"),
        ` ${f ? tn("member_noun", f.members + (f.more ? 1 : 0)) : t("members")}`,
        g.transfer_to ? ` · ${t("left_to", { name: successor?.name || g.transfer_to })}` : ""),
      h("div", { class: "meta month" }, `${t("this_month")}: `,
        h("b", { class: "month-orders" }, r ? String(r.orders) : "…"), ` ${r ? tn("order_noun", r.orders) : t("orders")} · `,
        h("b", { class: "month-revenue" }, r ? yuan(r.revenue_cents) : "…"), ` ${t("revenue")} · `,
        h("b", { class: "month-commission" }, r ? yuan(r.commission_cents) : "…"), ` ${t("commission")}`),
      this.leaving?.guide.id === g.id ? this.leaving.form : null,
      this.members.has(g.id) ? this.memberList(g) : null);
  }

  memberList(g) {
    const { h, t } = this;
    const { rows, cursor } = this.members.get(g.id);
    const list = h("ul", { class: "members", "data-members-of": g.id }, ...rows.map((m) => h("li",
      { "data-member": `${m.channel_id}:${m.user_id}` }, h("span", {}, m.user_id),
      h("span", { class: "meta" }, ` ${m.channel_id} · ${t("member_since", { when: this.when(m.bound_at) })}`))));
    if (!rows.length) list.append(h("li", { class: "meta" }, t("no_members")));
    if (cursor) {
      list.append(h("li", {}, h("button", { type: "button", "data-action": "more-members",
        onclick: () => this.moreMembers(g) }, t("more"))));
    }
    return list;
  }

  async toggleMembers(g) {
    if (this.members.has(g.id)) {
      this.members.delete(g.id);
      return this.render();
    }
    const page = await this.api("GET", `/v1/guides/${g.id}/members?limit=${MEMBER_PAGE}`);
    this.members.set(g.id, { rows: page.members, cursor: page.next_cursor });
    this.render();
  }

  async moreMembers(g) {
    const open = this.members.get(g.id);
    if (!open?.cursor) return;
    const page = await this.api("GET",
      `/v1/guides/${g.id}/members?limit=${MEMBER_PAGE}&cursor=${encodeURIComponent(open.cursor)}`);
    this.members.set(g.id, { rows: [...open.rows, ...page.members], cursor: page.next_cursor });
    this.render();
  }

  // ---------------------------------------------------------------- a new guide
  openForm() {
    this.clearErrors(this.form);
    this.form.reset();
    this.form.hidden = false;
    this.form.elements.name.focus();
  }

  async create() {
    const el = this.form.elements;
    this.clearErrors(this.form);
    const bps = el.commission_bps.value.trim();
    const body = { district_id: this.district, name: el.name.value,
      commission_bps: bps === "" ? undefined : Number(bps) };
    const problems = guideProblems(body);
    if (problems.length) {
      for (const p of problems) this.showError(this.form, { field: p.field, message: this.t(p.key, p.vars) });
      return this.form.querySelector(".invalid")?.focus();
    }
    const submit = this.form.querySelector("button[type=submit]");
    submit.disabled = true; // one click, one guide
    try {
      const saved = await this.api("POST", "/v1/guides", body);
      this.form.hidden = true;
      await this.load();
      this.list.querySelector(`[data-guide-id="${saved.id}"]`)?.scrollIntoView({ block: "nearest" });
    } catch (error) {
      if (!(error instanceof this.ApiError)) throw error;
      this.showError(this.form, error);
    } finally {
      submit.disabled = false;
    }
  }

  // ---------------------------------------------------------------- a guide leaves
  // Any other active guide of the operator's may take the members (this store's first).
  async openLeaving(g) {
    const choices = [];
    let cursor = null;
    do {
      const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await this.api("GET", `/v1/guides?limit=1000${after}`);
      choices.push(...page.guides.filter((x) => x.active && x.id !== g.id));
      cursor = page.next_cursor;
    } while (cursor);
    choices.sort((a, b) => Number(b.district_id === g.district_id) - Number(a.district_id === g.district_id)
      || a.name.localeCompare(b.name));
    this.leaving = { guide: g, form: this.leavingForm(g, choices) };
    this.render();
  }

  leavingForm(g, choices) {
    const { h, t } = this;
    const select = h("select", { name: "transfer_to" }, ...choices.map((x) => h("option", { value: x.id },
      x.district_id === g.district_id ? x.name : `${x.name} (${this.districtName(x.district_id)})`)));
    const form = h("form", { class: "leaving", novalidate: true },
      h("div", { class: "field" }, h("label", {}, t("transfer_to")), select,
        h("div", { class: "field-error", "data-error-for": "transfer_to" })),
      choices.length ? null : h("p", { class: "hint" }, t("no_other_guide")),
      h("p", { class: "error", "data-error-for": "", role: "alert" }),
      h("div", { class: "actions" },
        h("button", { type: "submit", disabled: !choices.length }, t("deactivate_confirm")),
        h("button", { type: "button", onclick: () => { this.leaving = null; this.render(); } }, t("cancel"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      this.clearErrors(form);
      try {
        await this.api("POST", `/v1/guides/${g.id}:deactivate`, { transfer_to: select.value });
        this.leaving = null;
        this.members.delete(g.id);
        await this.load();
      } catch (error) {
        if (!(error instanceof this.ApiError)) throw error;
        this.showError(form, error);
      }
    });
    return form;
  }
}
