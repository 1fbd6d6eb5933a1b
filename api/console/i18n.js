// The console's labels in English and Chinese. Elements with data-i18n="key" take their text from here.

const LABELS = {
  en: {
    app_title: "Operator console", sign_out: "Sign out", sign_in: "Sign in", api_key: "API key",
    signin_title: "Sign in with your operator API key",
    signin_hint: "`make run` prints the demo operator's key (also in .district-engine/demo_operator_key). The key stays in this tab only (sessionStorage).",
    key_rejected: "This API key was not accepted. Check it and try again.",
    unreachable: "The engine cannot be reached; retrying.",
    districts: "Districts", campaigns: "Campaigns", new_campaign: "New campaign", lots: "Parking lots",
    upload: "Upload a district", upload_hint: "Paste or drop a GeoJSON Feature ([lng, lat]); it is drawn on the map before you save.",
    save_district: "Save district", district_saved: "Saved: {id}", not_json: "Not valid JSON: {reason}",
    not_feature: "Expected a GeoJSON Feature with a Polygon or MultiPolygon geometry",
    kind: "Kind", kind_campaign: "Campaign", kind_red_envelope: "Red-envelope rain", kind_parking: "Parking offer",
    title: "Title", body: "Text", starts_at: "Starts", ends_at: "Ends", radius_m: "Radius (m, 1–3000)",
    total_cents: "Pool (cents)", packets: "Packets", min_cents: "Smallest packet (cents)", lot: "Lot",
    free_minutes: "Free minutes", save: "Save", cancel: "Cancel", every_lot: "Every lot of the district",
    end_now: "End now", edit: "Edit", confirm_end: "End “{title}” now?", confirm_end_rain: "End the rain “{title}” now? What is left is refunded.",
   
    state_live: "live", state_scheduled: "scheduled", state_ended: "ended",
    delivered: "delivered", users: "users", pushed: "pushed",
    won: "won", remaining: "left", packets_unit: "packets", refunded: "refunded",
    free: "free", occupied: "occupied", of: "of", no_campaigns: "No campaigns for this district yet.",
    no_lots: "No parking lots for this district.", no_districts: "No districts yet: upload one below.",
    layer_cells: "Reach cells (H3)", layer_campaigns: "Campaign reach", layer_density: "Users per cell (≥5)",
    layer_lots: "Parking (free spaces)", layer_outline: "3 km reach", legend: "Layers",
    layer_footprints: "Your districts", layer_selected: "Selected district",
    status_density: "{users} in reach, {cells} (cells of fewer than 5 users hidden)",
    users_n: { one: "{n} user", other: "{n} users" }, cells_n: { one: "in {n} cell", other: "in {n} cells" },
    member_noun: { one: "member", other: "members" }, order_noun: { one: "order", other: "orders" },
    packet_noun: { one: "packet", other: "packets" },
    check_blank: "must not be blank", check_time: "must be a date and time", check_after_start: "must be after the start",
    check_radius: "must be more than 0 and at most {max} metres", check_whole: "must be a whole number from {min} to {max}",
    check_pool: "must be at least packets × smallest packet = {n}",
    field: "field",
    conversions: "conversions", revenue: "revenue",
    guides: "Guides", new_guide: "New guide", guide_name: "Name", commission_bps: "Commission (basis points, 0–10,000)",
    no_guides: "No guides in this store yet.", guide_active: "active", guide_left: "left",
    commission: "commission", members: "members", members_button: "Members", no_members: "No members yet.",
    member_since: "since {when}", more: "More", this_month: "This month", orders: "orders",
    left_to: "members went to {name}", deactivate: "Deactivate", transfer_to: "Hand the members to",
    deactivate_confirm: "Deactivate and hand over", no_other_guide: "No other active guide can take the members: add one first.",
  },
  zh: {
    app_title: "商圈运营台", sign_out: "退出", sign_in: "登录", api_key: "API 密钥",
    signin_title: "使用运营方 API 密钥登录",
    signin_hint: "`make run` 会打印演示运营方的密钥（也保存在 .district-engine/demo_operator_key）。密钥只保存在当前标签页（sessionStorage）。",
    key_rejected: "API 密钥无效，请检查后重试。",
    unreachable: "无法连接引擎，正在重试。",
    districts: "商圈", campaigns: "活动", new_campaign: "新建活动", lots: "停车场",
    upload: "上传商圈", upload_hint: "粘贴或拖入 GeoJSON Feature（[经度, 纬度]）；保存前会在地图上预览。",
    save_district: "保存商圈", district_saved: "已保存：{id}", not_json: "不是有效的 JSON：{reason}",
    not_feature: "需要一个几何为 Polygon 或 MultiPolygon 的 GeoJSON Feature",
    kind: "类型", kind_campaign: "营销活动", kind_red_envelope: "红包雨", kind_parking: "停车优惠",
    title: "标题", body: "内容", starts_at: "开始", ends_at: "结束", radius_m: "半径（米，1–3000）",
    total_cents: "奖池（分）", packets: "红包个数", min_cents: "最小红包（分）", lot: "停车场",
    free_minutes: "免费分钟", save: "保存", cancel: "取消", every_lot: "该商圈所有停车场",
    end_now: "立即结束", edit: "编辑", confirm_end: "立即结束“{title}”？", confirm_end_rain: "立即结束红包雨“{title}”？剩余金额将退回。",
   
    state_live: "进行中", state_scheduled: "未开始", state_ended: "已结束",
    delivered: "送达", users: "用户", pushed: "推送",
    won: "已抢", remaining: "剩余", packets_unit: "个", refunded: "已退回",
    free: "空位", occupied: "占用", of: "/", no_campaigns: "该商圈还没有活动。",
    no_lots: "该商圈没有停车场。", no_districts: "还没有商圈：请在下方上传。",
    layer_cells: "覆盖网格（H3）", layer_campaigns: "活动范围", layer_density: "每格用户数（≥5）",
    layer_lots: "停车场（空位）", layer_outline: "3 公里范围", legend: "图层",
    layer_footprints: "我的商圈", layer_selected: "选中的商圈",
    status_density: "范围内 {users}，{cells}（不足 5 人的网格不显示）",
    users_n: "{n} 位用户", cells_n: "显示于 {n} 个网格",
    member_noun: "位会员", order_noun: "单", packet_noun: "个",
    check_blank: "不能为空", check_time: "须填写日期和时间", check_after_start: "须晚于开始时间",
    check_radius: "须大于 0 且不超过 {max} 米", check_whole: "须为 {min} 到 {max} 的整数",
    check_pool: "至少为 红包个数 × 最小红包 = {n}",
    field: "字段",
    conversions: "转化", revenue: "销售额",
    guides: "专属导购", new_guide: "新增导购", guide_name: "姓名", commission_bps: "佣金（基点，0–10,000）",
    no_guides: "该门店还没有导购。", guide_active: "在职", guide_left: "已离职",
    commission: "佣金", members: "位会员", members_button: "会员", no_members: "还没有会员。",
    member_since: "{when} 起", more: "更多", this_month: "本月", orders: "单",
    left_to: "会员已转给 {name}", deactivate: "停用", transfer_to: "会员转给",
    deactivate_confirm: "停用并转移会员", no_other_guide: "没有其他在职导购可接收会员：请先新增一位。",
  },
};

let lang = localStorage.getItem("de-lang") || (navigator.language?.startsWith("zh") ? "zh" : "en");

export function currentLang() { return lang; }

const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));

export function t(key, vars = {}) {
  return fill(LABELS[lang][key] ?? LABELS.en[key] ?? key, vars);
}

// A label for a count `n`: English has "one" and "other" forms, Chinese one form for all; the language's
// plural rules (Intl.PluralRules) choose. `{n}` in the label is the count.
export function tn(key, n, vars = {}) {
  const label = LABELS[lang][key] ?? LABELS.en[key] ?? key;
  const text = typeof label === "string" ? label
    : label[new Intl.PluralRules(lang === "zh" ? "zh-CN" : "en").select(n)] ?? label.other;
  return fill(text, { n, ...vars });
}

export function applyLabels(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
}

export function toggleLang() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("de-lang", lang);
  applyLabels();
  return lang;
}
