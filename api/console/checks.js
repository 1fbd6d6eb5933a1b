// The forms' own checks, run before anything is sent so that every problem of a form shows at once,
// each at its field (the API answers one field per 422). They restate the API's rules
// (district_engine/campaigns/model.py, redenvelope/split.py, api/schemas/guides.py) and stay a subset:
// what the API alone knows (a rain's 24 hours, a lot of another district) still comes back at its field.
// Pure: values in, problems out as { field, key, vars } for i18n's t().

const MAX_RADIUS_M = 3000;
const MAX_TOTAL_CENTS = 100_000_000;
const MAX_PACKETS = 1_000_000;
const MAX_FREE_MINUTES = 1440;
const MAX_COMMISSION_BPS = 10_000;

const blank = (text) => typeof text !== "string" || !text.trim();
const isTime = (date) => date instanceof Date && !Number.isNaN(date.getTime());
const grouped = (n) => n.toLocaleString("en-US");

function whole(problems, field, value, min, max) {
  const ok = Number.isInteger(value) && value >= min && value <= max;
  if (!ok) problems.push({ field, key: "check_whole", vars: { min: grouped(min), max: grouped(max) } });
  return ok;
}

// `values`: the form's fields as the API names them; numbers as numbers (NaN or undefined when empty or
// not a number), times as Dates. `fixed`: a saved campaign's kind fields, which cannot change and are not checked.
export function campaignProblems(values, { fixed = false } = {}) {
  const problems = [];
  for (const field of ["title", "body"]) if (blank(values[field])) problems.push({ field, key: "check_blank" });
  for (const field of ["starts_at", "ends_at"]) if (!isTime(values[field])) problems.push({ field, key: "check_time" });
  if (isTime(values.starts_at) && isTime(values.ends_at) && values.ends_at <= values.starts_at) {
    problems.push({ field: "ends_at", key: "check_after_start" });
  }
  const radius = values.radius_m;
  if (!(Number.isFinite(radius) && radius > 0 && radius <= MAX_RADIUS_M)) {
    problems.push({ field: "radius_m", key: "check_radius", vars: { max: MAX_RADIUS_M } });
  }
  if (fixed) return problems;
  if (values.kind === "red_envelope") {
    const pool = whole(problems, "total_cents", values.total_cents, 1, MAX_TOTAL_CENTS);
    const packets = whole(problems, "packets", values.packets, 1, MAX_PACKETS);
    const least = whole(problems, "min_cents", values.min_cents, 1, MAX_TOTAL_CENTS);
    if (pool && packets && least && values.total_cents < values.packets * values.min_cents) {
      problems.push({ field: "total_cents", key: "check_pool", vars: { n: grouped(values.packets * values.min_cents) } });
    }
  }
  if (values.kind === "parking") whole(problems, "free_minutes", values.free_minutes, 0, MAX_FREE_MINUTES);
  return problems;
}

export function guideProblems(values) {
  const problems = [];
  if (blank(values.name)) problems.push({ field: "name", key: "check_blank" });
  whole(problems, "commission_bps", values.commission_bps, 0, MAX_COMMISSION_BPS);
  return problems;
}
