// An SVG map in Web Mercator (EPSG:3857), drawn from GeoJSON the engine serves: no tiles, no network.
// Positions in: GeoJSON [lng, lat] (WGS-84). Screen: pixels of a 256 px-per-world-tile pyramid at `zoom`.

const SVG = "http://www.w3.org/2000/svg";
const TILE = 256;
const MAX_LAT = 85.05112878;
const EARTH_CIRCUMFERENCE_M = 40075016.686; // at the equator, WGS-84 semi-major axis

export function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// [lng, lat] -> world coordinates in [0, 1] x [0, 1] (y down).
export function project([lng, lat]) {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return [(lng + 180) / 360, (1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2];
}

export function unproject([x, y]) {
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - 2 * y))) * 180) / Math.PI;
  return [x * 360 - 180, lat];
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  if (geometry.type === "LineString") return [geometry.coordinates];
  if (geometry.type === "MultiLineString") return geometry.coordinates;
  return [];
}

export function bounds(geometries) {
  let b = [Infinity, Infinity, -Infinity, -Infinity]; // minLng, minLat, maxLng, maxLat
  for (const g of geometries) {
    const pts = g.type === "Point" ? [g.coordinates] : rings(g).flat();
    for (const [lng, lat] of pts) b = [Math.min(b[0], lng), Math.min(b[1], lat), Math.max(b[2], lng), Math.max(b[3], lat)];
  }
  return Number.isFinite(b[0]) ? b : null;
}

const NICE = [1, 2, 5];
function niceBelow(x) {
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  let best = p;
  for (const n of NICE) if (n * p <= x) best = n * p;
  return best;
}

export class MercatorMap {
  // layers: names drawn bottom to top; each is set with setLayer(name, items).
  constructor(svg, layers, { center = [116.4551, 39.9354], zoom = 13, onView = null } = {}) {
    this.svg = svg;
    this.center = project(center);
    this.zoom = zoom;
    this.onView = onView;
    this.items = {};
    this.hidden = new Set();
    this.groups = {};
    this.base = el("g", { class: "graticule-layer" }, svg);
    for (const name of layers) this.groups[name] = el("g", { "data-layer": name }, svg);
    this.overlay = el("g", { class: "overlay" }, svg);
    this._interact();
    new ResizeObserver(() => this.render()).observe(svg);
  }

  get size() {
    const r = this.svg.getBoundingClientRect();
    return [r.width || 800, r.height || 600];
  }

  get scale() { return TILE * Math.pow(2, this.zoom); }

  // [lng, lat] -> screen pixels.
  toScreen(lngLat) {
    const [x, y] = project(lngLat);
    const [w, h] = this.size;
    return [(x - this.center[0]) * this.scale + w / 2, (y - this.center[1]) * this.scale + h / 2];
  }

  toLngLat([px, py]) {
    const [w, h] = this.size;
    return unproject([this.center[0] + (px - w / 2) / this.scale, this.center[1] + (py - h / 2) / this.scale]);
  }

  metresPerPixel() {
    const lat = unproject(this.center)[1];
    return (EARTH_CIRCUMFERENCE_M * Math.cos((lat * Math.PI) / 180)) / this.scale;
  }

  // Path data of a (Multi)Polygon or line, in screen pixels.
  path(geometry) {
    const closed = geometry.type === "Polygon" || geometry.type === "MultiPolygon";
    return rings(geometry).map((ring) => ring.map((p, i) => {
      const [x, y] = this.toScreen(p);
      return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
    }).join("") + (closed ? "Z" : "")).join("");
  }

  setLayer(name, items) { this.items[name] = items; this._draw(name); }

  setVisible(name, visible) {
    if (visible) this.hidden.delete(name); else this.hidden.add(name);
    this.groups[name].style.display = visible ? "" : "none";
  }

  setView(lngLat, zoom) {
    this.center = project(lngLat);
    this.zoom = Math.max(2, Math.min(19, zoom));
    this.render();
  }

  // Fit [minLng, minLat, maxLng, maxLat] with a margin in pixels.
  fit(b, margin = 40) {
    if (!b) return;
    const [x0, y1] = project([b[0], b[1]]);
    const [x1, y0] = project([b[2], b[3]]);
    const [w, h] = this.size;
    const spanX = Math.max(x1 - x0, 1e-9), spanY = Math.max(y1 - y0, 1e-9);
    const zoom = Math.log2(Math.min((w - 2 * margin) / (spanX * TILE), (h - 2 * margin) / (spanY * TILE)));
    this.center = [(x0 + x1) / 2, (y0 + y1) / 2];
    this.zoom = Math.max(2, Math.min(18, zoom));
    this.render();
  }

  zoomAt(factor, [px, py] = this.size.map((v) => v / 2)) {
    const before = this.toLngLat([px, py]);
    this.zoom = Math.max(2, Math.min(19, this.zoom + Math.log2(factor)));
    const [bx, by] = project(before);
    const [w, h] = this.size;
    this.center = [bx - (px - w / 2) / this.scale, by - (py - h / 2) / this.scale];
    this.render();
  }

  render() {
    this._graticule();
    for (const name of Object.keys(this.groups)) this._draw(name);
    this._overlay();
    if (this.onView) this.onView(this);
  }

  // An item: {geometry | point: [lng, lat], cls, attrs, title, label, labelCls, onClick, radius}
  _draw(name) {
    const g = this.groups[name];
    g.replaceChildren();
    for (const item of this.items[name] || []) {
      let node;
      let anchor;
      if (item.point || item.geometry?.type === "Point") {
        const [x, y] = this.toScreen(item.point || item.geometry.coordinates);
        node = el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: item.radius || 6, class: item.cls }, g);
        anchor = [x, y];
        if (item.glyph) el("text", { x: x.toFixed(1), y: y.toFixed(1), class: item.glyphCls }, g).textContent = item.glyph;
      } else {
        const tiny = item.markerBelowPx && this._pixelSize(item.geometry) < item.markerBelowPx;
        if (tiny) { // too small to see at this zoom: a marker stands in for the footprint
          const b = bounds([item.geometry]);
          anchor = this.toScreen([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]);
          node = el("circle", { cx: anchor[0].toFixed(1), cy: anchor[1].toFixed(1), r: 6, class: item.cls }, g);
        } else {
          node = el("path", { d: this.path(item.geometry), class: item.cls, "fill-rule": "evenodd" }, g);
          anchor = item.labelAt ? this.toScreen(item.labelAt) : this._centre(item.geometry);
        }
      }
      for (const [k, v] of Object.entries(item.attrs || {})) node.setAttribute(k, v);
      if (item.title) el("title", {}, node).textContent = item.title;
      if (item.onClick) node.addEventListener("click", (e) => { if (!this._moved) item.onClick(e); });
      if (item.label && (!item.minZoom || this.zoom >= item.minZoom)) {
        const [dx, dy] = item.labelOffset || [0, 0];
        const t = el("text", { x: (anchor[0] + dx).toFixed(1), y: (anchor[1] + dy).toFixed(1), class: item.labelCls }, g);
        t.textContent = item.label;
      }
    }
  }

  _pixelSize(geometry) {
    const b = bounds([geometry]);
    const [x0, y0] = this.toScreen([b[0], b[3]]);
    const [x1, y1] = this.toScreen([b[2], b[1]]);
    return Math.max(x1 - x0, y1 - y0);
  }

  _centre(geometry) {
    const b = bounds([geometry]);
    return this.toScreen([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]);
  }

  // Lines of latitude and longitude every "nice" step, about 150 px apart, labelled at the edges.
  _graticule() {
    const g = this.base;
    g.replaceChildren();
    const [w, h] = this.size;
    const [west, north] = this.toLngLat([0, 0]);
    const [east, south] = this.toLngLat([w, h]);
    const step = niceBelow(((east - west) * 150) / w) || 1;
    const fmt = (v) => +v.toFixed(6);
    for (let lng = Math.ceil(west / step) * step; lng <= east; lng += step) {
      const [x] = this.toScreen([lng, 0]);
      el("line", { x1: x, y1: 0, x2: x, y2: h, class: "graticule" }, g);
      el("text", { x: x + 3, y: 12, class: "graticule-label" }, g).textContent = `${fmt(Math.abs(lng))}°${lng < 0 ? "W" : "E"}`;
    }
    for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      const [, y] = this.toScreen([0, lat]);
      el("line", { x1: 0, y1: y, x2: w, y2: y, class: "graticule" }, g);
      el("text", { x: 48, y: y - 3, class: "graticule-label" }, g).textContent = `${fmt(Math.abs(lat))}°${lat < 0 ? "S" : "N"}`;
    }
  }

  // A scale bar (true at the map's centre latitude) and the attribution.
  _overlay() {
    const g = this.overlay;
    g.replaceChildren();
    const [w, h] = this.size;
    const mpp = this.metresPerPixel();
    const metres = niceBelow(mpp * 120);
    const px = metres / mpp;
    const s = el("g", { class: "scale", transform: `translate(${w - px - 20},${h - 22})` }, g);
    el("line", { x1: 0, y1: 0, x2: px, y2: 0 }, s);
    el("line", { x1: 0, y1: -5, x2: 0, y2: 0 }, s);
    el("line", { x1: px, y1: -5, x2: px, y2: 0 }, s);
    el("text", { x: px / 2, y: -7, "text-anchor": "middle" }, s).textContent =
      metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
    el("text", { x: w - 8, y: h - 4, class: "attribution" }, g).textContent =
      "district-engine · WGS-84 · Web Mercator";
  }

  _interact() {
    const svg = this.svg;
    let drag = null;
    svg.addEventListener("pointerdown", (e) => {
      drag = { x: e.clientX, y: e.clientY, center: this.center };
      this._moved = false;
    });
    svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!this._moved && Math.hypot(dx, dy) < 4) return;
      if (!this._moved) svg.setPointerCapture(e.pointerId);
      this._moved = true;
      svg.classList.add("dragging");
      this.center = [drag.center[0] - dx / this.scale, drag.center[1] - dy / this.scale];
      this._scheduleRender();
    });
    const end = () => { drag = null; svg.classList.remove("dragging"); };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = svg.getBoundingClientRect();
      this.zoomAt(Math.pow(2, -e.deltaY / 300), [e.clientX - r.left, e.clientY - r.top]);
    }, { passive: false });
    svg.addEventListener("dblclick", (e) => {
      const r = svg.getBoundingClientRect();
      this.zoomAt(2, [e.clientX - r.left, e.clientY - r.top]);
    });
  }

  _scheduleRender() {
    if (this._pending) return;
    this._pending = requestAnimationFrame(() => { this._pending = null; this.render(); });
  }
}
