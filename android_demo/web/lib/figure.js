// A character's figure and its flat layout: a line-for-line mirror of animetool_runtime/figure.py and layout.py.
// Keypoints are arrays of 17 [x, y, score]; points are [x, y]; masks are Float32Array planes of size x size.
export const VISIBLE = 0.3;
export const ARMS = {left: [5, 7, 9], right: [6, 8, 10]};
export const LEGS = {left: [11, 13, 15], right: [12, 14, 16]};
export const SIDE_LOCK = {short: 0.35, spiky: 0.3, long: 0.95, bob: 0.85, ponytail: 0.5};
export const COLOURS = ["skin", "hair", "top", "bottom", "shoes"];  // the appearance's colours, each painted where it shows
export const FACE_MAPS = ["eyes", "mouth"];
export const EYE_LEVELS = [1.0, 0.6, 0.25];  // the eyes map: white of the eye, iris, pupil
const MOUTH = 0.8;

const add = (a, b) => [a[0] + b[0], a[1] + b[1]], sub = (a, b) => [a[0] - b[0], a[1] - b[1]];
const mul = (a, k) => [a[0] * k, a[1] * k], dot = (a, b) => a[0] * b[0] + a[1] * b[1];
export const unit = v => mul(v, 1 / Math.max(Math.hypot(v[0], v[1]), 1e-6));

export function length(kps, a, b) {
  if (kps[a][2] < VISIBLE || kps[b][2] < VISIBLE) return 0;
  return Math.hypot(kps[a][0] - kps[b][0], kps[a][1] - kps[b][1]);
}

export const OUTLIER = 1.5;  // a part implying more than this times the median height is a mislabelled joint

// Nose-to-ankle height implied by the longest-looking body part (foreshortening only shortens), 0 if none.
export function bodyHeight(kps) {
  const mid = (a, b) => [(kps[a][0] + kps[b][0]) / 2, (kps[a][1] + kps[b][1]) / 2, Math.min(kps[a][2], kps[b][2])];
  const torso = length([mid(5, 6), mid(11, 12)], 0, 1);
  const parts = [[torso, 2.9], [length(kps, 5, 6), 3.8], [length(kps, 5, 7), 5.1], [length(kps, 6, 8), 5.1],
    [length(kps, 7, 9), 6.0], [length(kps, 8, 10), 6.0], [length(kps, 11, 13), 3.6], [length(kps, 12, 14), 3.6],
    [length(kps, 13, 15), 3.6], [length(kps, 14, 16), 3.6]];
  // parts implying over OUTLIER x the median height are a mislabelled joint (a left/right swap), not the body
  const found = parts.map(([l, k]) => l * k).filter(h => h > 0);
  if (found.length < 3) return found.length ? Math.max(...found) : 0;
  const sorted = [...found].sort((a, b) => a - b), n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return Math.max(...found.filter(h => h <= OUTLIER * median));
}

// Pose-derived geometry: which keypoints exist, the size unit u, the body's up, the head and which way it faces.
export class Figure {
  constructor(kps, size) {
    kps = kps.map(p => [Math.fround(p[0]), Math.fround(p[1]), Math.fround(p[2])]);
    this.xy = kps.map(p => [p[0], p[1]]);
    this.ok = kps.map(p => p[2] >= VISIBLE);
    const ok = this.ok, xy = this.xy, face = [0, 1, 2, 3, 4].filter(i => ok[i]), height = bodyHeight(kps);
    const spans = [];
    for (const i of face) for (const j of face) if (i < j) spans.push(Math.hypot(...sub(xy[i], xy[j])));
    const span = spans.length ? Math.max(...spans) : 0;
    this.u = height ? height / 9.5 : (span > 0 ? 1.3 * span : size / 12);
    const shoulders = ok[5] && ok[6];
    this.up = [0, -1];
    if (ok[11] && ok[12] && shoulders) this.up = unit(mul(sub(add(xy[5], xy[6]), add(xy[11], xy[12])), 0.5));
    this.head = this.headAnchor(face, shoulders);
    this.back = this.head !== null && !(ok[0] || ok[1] || ok[2]);
    if (shoulders && ok[11] && ok[12]) {
      const across = [-this.up[1], this.up[0]];
      this.back = this.back || (dot(sub(xy[6], xy[5]), across) > 0.15 * this.u && dot(sub(xy[12], xy[11]), across) > 0.15 * this.u);
    }
    this.yaw = this.back ? 0 : this.computeYaw();
    [this.far, this.near] = this.yaw >= 0 ? ["left", "right"] : ["right", "left"];
  }

  headAnchor(face, shoulders) {
    const ok = this.ok, xy = this.xy;
    if (ok[3] && ok[4]) return mul(add(xy[3], xy[4]), 0.5);
    const ear = ok[3] ? 3 : ok[4] ? 4 : null;
    if (ear !== null) return ok[0] ? add(xy[ear], mul(sub(xy[0], xy[ear]), 0.3)) : xy[ear];
    if (face.length) {
      const m = [0, 1].map(k => face.reduce((s, i) => s + xy[i][k], 0) / face.length);
      return sub(m, mul(this.up, 0.1 * this.u));
    }
    if (shoulders) return add(mul(add(xy[5], xy[6]), 0.5), mul(this.up, 1.4 * this.u));
    return null;
  }

  computeYaw() {
    const ok = this.ok, xy = this.xy, across = [-this.up[1], this.up[0]];
    const clip = v => Math.min(Math.max(v, -1), 1);
    if (!ok[0]) return 0;
    if (ok[3] && ok[4]) {
      const half = 0.5 * Math.abs(dot(sub(xy[3], xy[4]), across)) + 0.15 * this.u;
      return clip(dot(sub(xy[0], this.head), across) / half);
    }
    if (ok[3] || ok[4]) return Math.sign(dot(sub(xy[0], xy[ok[3] ? 3 : 4]), across)) * 0.9;
    if (ok[1] && ok[2]) {
      const half = 0.5 * Math.hypot(...sub(xy[1], xy[2])) + 0.1 * this.u;
      return clip(dot(sub(xy[0], mul(add(xy[1], xy[2]), 0.5)), across) / half);
    }
    return 0;
  }

  seg(a, b) { return this.ok[a] && this.ok[b]; }

  // {origin, rot (rows: across, down), r}: head units -> canvas is origin + (p @ rot) * r.
  headFrame() {
    const r = 1.45 * this.u;
    let up = this.up;
    if (this.seg(5, 6)) up = unit(add(this.up, mul(unit(sub(this.head, mul(add(this.xy[5], this.xy[6]), 0.5))), 0.5)));
    return {origin: add(this.head, mul(up, 0.3 * r)), rot: [[-up[1], up[0]], [-up[0], -up[1]]], r};
  }

  eyes() {
    const y = this.yaw;
    return [-1, 1].map(s => [y * 0.42 + s * 0.42 * (1 - 0.45 * Math.abs(y)), 1 - 0.75 * Math.max(0, -s * y)]).filter(e => e[1] > 0.45);
  }

  toe(side) {
    const [, k, f] = LEGS[side];
    return add(add(this.xy[f], mul(unit(sub(this.xy[f], this.xy[k])), 0.2 * this.u)), [0.1 * this.u * this.yaw, 0]);
  }

  hand(side) {
    const [, e, w] = ARMS[side];
    return add(this.xy[w], mul(unit(sub(this.xy[w], this.xy[e])), 0.2 * this.u));
  }
}

const ponytailX = fig => fig.back ? 0 : (fig.yaw > 0 ? -1.2 : 1.2);
const soft = d => Math.min(Math.max(0.5 - d, 0), 1);

// Pixel ranges {x0, x1, y0, y1} covering the box lo..hi plus 1 px, clipped to the canvas (size: a side, or
// [width, height]); null when outside.
function windowOf(lo, hi, size) {
  const [width, height] = Array.isArray(size) ? size : [size, size];
  const x0 = Math.max(0, Math.floor(lo[0]) - 1), y0 = Math.max(0, Math.floor(lo[1]) - 1);
  const x1 = Math.min(width, Math.ceil(hi[0]) + 2), y1 = Math.min(height, Math.ceil(hi[1]) + 2);
  return x1 <= x0 || y1 <= y0 ? null : {x0, x1, y0, y1};
}

// A soft shape: {win, at(x, y) -> coverage}.
function shape(win, at) { return win === null ? null : {win, at}; }

export function capsule(size, p0, p1, r0, r1) {
  const reach = Math.max(r0, r1), d = sub(p1, p0), dd = Math.max(dot(d, d), 1e-6);
  return shape(windowOf([Math.min(p0[0], p1[0]) - reach, Math.min(p0[1], p1[1]) - reach],
    [Math.max(p0[0], p1[0]) + reach, Math.max(p0[1], p1[1]) + reach], size), (X, Y) => {
    const x = X - p0[0], y = Y - p0[1], t = Math.min(Math.max((x * d[0] + y * d[1]) / dd, 0), 1);
    return soft(Math.hypot(x - t * d[0], y - t * d[1]) - (r0 + t * (r1 - r0)));
  });
}

export function ellipse(size, c, rx, ry) {
  return shape(windowOf([c[0] - rx, c[1] - ry], [c[0] + rx, c[1] + ry], size),
    (X, Y) => soft((Math.hypot((X - c[0]) / rx, (Y - c[1]) / ry) - 1) * Math.min(rx, ry)));
}

// An ellipse given in head units (centre cx, cy; radii rx, ry): the eyes and the mouth.
export function headEllipse(size, {origin, rot, r}, cx, cy, rx, ry) {
  const box = [];
  for (const x of [cx - rx, cx + rx]) for (const y of [cy - ry, cy + ry]) {
    box.push([(x * rot[0][0] + y * rot[1][0]) * r + origin[0], (x * rot[0][1] + y * rot[1][1]) * r + origin[1]]);
  }
  const lo = [Math.min(...box.map(p => p[0])), Math.min(...box.map(p => p[1]))];
  const hi = [Math.max(...box.map(p => p[0])), Math.max(...box.map(p => p[1]))];
  return shape(windowOf(lo, hi, size), (X, Y) => {
    const px = X - origin[0], py = Y - origin[1];
    const hx = (px * rot[0][0] + py * rot[0][1]) / r, hy = (px * rot[1][0] + py * rot[1][1]) / r;
    return soft((Math.hypot((hx - cx) / rx, (hy - cy) / ry) - 1) * Math.min(rx, ry) * r);
  });
}

// A simple polygon (corners in order, either winding, convex or not): inside by the even-odd rule, a 1 px ramp across
// its nearest edge (as figure.polygon, which computes each edge's distance within 1 px of it: the ramp saturates).
export function polygon(size, pts) {
  const edges = pts.map((a, i) => [a, sub(pts[(i + 1) % pts.length], a)]);
  return shape(windowOf([Math.min(...pts.map(p => p[0])), Math.min(...pts.map(p => p[1]))],
    [Math.max(...pts.map(p => p[0])), Math.max(...pts.map(p => p[1]))], size), (X, Y) => {
    let dist = 1, inside = false;
    for (const [a, d] of edges) {
      const px = X - a[0], py = Y - a[1];
      if ((a[1] > Y) !== (a[1] + d[1] > Y) && px < py * d[0] / d[1]) inside = !inside;
      const t = Math.min(Math.max((px * d[0] + py * d[1]) / Math.max(d[0] * d[0] + d[1] * d[1], 1e-12), 0), 1);
      dist = Math.min(dist, Math.hypot(px - t * d[0], py - t * d[1]));
    }
    return soft(inside ? -dist : dist);
  });
}

// The head's outlines in head units (x across the face, y down it; the skull's radius is 1), as figure.py's.
function linspace(start, stop, n) {
  const step = (stop - start) / (n - 1);
  return Array.from({length: n}, (_, i) => i === n - 1 ? stop : i * step + start);
}
export const arc = (r, start, stop, n) => linspace(start, stop, n).map(t => [r * Math.cos(t * Math.PI / 180), r * Math.sin(t * Math.PI / 180)]);
export const skull = yaw => [...arc(1.0, 180, 360, 13), [0.97, 0.4], [0.68 + 0.2 * yaw, 0.86], [0.25 * yaw, 1.08],
  [-0.68 + 0.2 * yaw, 0.86], [-0.97, 0.4]];
export const nape = () => [...arc(1.08, 165, 375, 15), [0.8, 0.75], [0.4, 0.62], [0.0, 0.82], [-0.4, 0.62], [-0.8, 0.75]];

export function hairCap(style, yaw) {
  const side = SIDE_LOCK[style];
  let crown = arc(1.1, 175, 365, 17);
  if (style === "spiky") crown = crown.map((p, i) => mul(p, i % 2 ? 1.3 : 1.0));
  const tipY = style === "spiky" ? 0.28 : 0.14;
  const fringe = [[0.92, -0.05], ...linspace(0.78, -0.78, 4).flatMap(t => { const x = t + 0.3 * yaw; return [[x + 0.2, -0.32], [x, tipY]]; }), [-0.92, -0.05]];
  return [[-1.08, side], ...crown, [1.08, side], [0.86, side * 0.75], ...fringe, [-0.86, side * 0.75]];
}

// Hair hanging behind the head (long, bob or a ponytail; null for the others), shifted sideways with the face.
export function backHair(fig, style) {
  const top = arc(1.1, 0, -180, 9), shift = style === "ponytail" ? 0 : -0.2 * fig.yaw;
  let pts;
  if (style === "long") pts = [...top, [-1.2, 0.9], [-1.1, 1.9], [-0.75, 1.7], [-0.4, 2.0], [0, 1.75], [0.4, 2.0], [0.75, 1.7], [1.1, 1.9], [1.2, 0.9]];
  else if (style === "bob") pts = [...top, [-1.22, 0.95], [-0.6, 0.85], [0.0, 0.95], [0.6, 0.85], [1.22, 0.95]];
  else if (style === "ponytail") {
    const x = ponytailX(fig);
    pts = [[0.6 * x - 0.18, -0.75], [x - 0.3, 0.0], [x - 0.2, 1.2], [x, 1.9], [x + 0.25, 1.1], [x + 0.3, 0.0], [0.6 * x + 0.18, -0.75]];
  } else return null;
  return pts.map(p => [p[0] + shift, p[1]]);
}

// Head units -> canvas points, through Figure.headFrame().
export const headPoints = ({origin, rot, r}, pts) => pts.map(([x, y]) => [(x * rot[0][0] + y * rot[1][0]) * r + origin[0],
  (x * rot[0][1] + y * rot[1][1]) * r + origin[1]]);

function arm(fig, side, size) {
  const [s, e, w] = ARMS[side], xy = fig.xy, u = fig.u, parts = [];
  if (fig.seg(s, e)) {
    parts.push(["top", capsule(size, xy[s], xy[e], 0.38 * u, 0.3 * u)]);
    if (fig.seg(e, w)) parts.push(["skin", capsule(size, xy[e], xy[w], 0.26 * u, 0.2 * u)], ["skin", ellipse(size, fig.hand(side), 0.27 * u, 0.27 * u)]);
  }
  return parts;
}

function leg(fig, side, size, longTrousers, withPelvis) {
  const [h, k, f] = LEGS[side], xy = fig.xy, u = fig.u, parts = [];
  if (withPelvis && fig.seg(11, 12)) {
    const lift = mul(fig.up, 0.15 * u);
    parts.push(["bottom", capsule(size, add(xy[11], lift), add(xy[12], lift), 0.45 * u, 0.45 * u)]);
  }
  if (fig.seg(h, k)) {
    parts.push(["bottom", capsule(size, xy[h], xy[k], 0.52 * u, 0.38 * u)]);
    if (fig.seg(k, f)) parts.push([longTrousers ? "bottom" : "skin", capsule(size, xy[k], xy[f], 0.37 * u, 0.26 * u)]);
  }
  if (fig.seg(k, f)) parts.push(["shoes", ellipse(size, fig.toe(side), 0.38 * u, 0.25 * u)]);
  return parts;
}

function torso(fig, size) {
  if (!fig.seg(5, 6)) return [];
  const xy = fig.xy, u = fig.u, up = fig.up, across = unit(sub(xy[5], xy[6]));
  const hips = fig.seg(11, 12) ? [add(xy[11], mul(sub(xy[5], xy[11]), 0.05)), add(xy[12], mul(sub(xy[6], xy[12]), 0.05))]
    : [add(xy[5], [0, 2.6 * u]), add(xy[6], [0, 2.6 * u])];
  const neck = mul(add(xy[5], xy[6]), 0.5);
  const body = [add(add(xy[5], mul(across, 0.3 * u)), mul(up, 0.12 * u)), add(sub(xy[6], mul(across, 0.3 * u)), mul(up, 0.12 * u)),
    sub(hips[1], mul(across, 0.4 * u)), add(hips[0], mul(across, 0.4 * u))];
  return [["skin", capsule(size, neck, add(neck, mul(up, 1.2 * u)), 0.2 * u, 0.2 * u)], ["top", polygon(size, body)]];
}

function head(fig, size, style, frame) {
  const face = ["skin", polygon(size, headPoints(frame, skull(fig.yaw)))];
  if (fig.back) return [face, ["hair", polygon(size, headPoints(frame, nape()))], ...hair(fig, size, style, frame)];
  // layout 4: the eyes in the hair's colour (the renderer draws irises and lashes from it), under the hair's crown
  const eyes = fig.eyes().map(([x, w]) => ["hair", headEllipse(size, frame, x, 0.36, 0.2 * w, 0.3)]);
  return [face, ...eyes, ["hair", polygon(size, headPoints(frame, hairCap(style, fig.yaw)))]];
}

// The hair hanging behind the head (in front of it when seen from behind).
function hair(fig, size, style, frame) {
  const pts = backHair(fig, style);
  return pts === null ? [] : [["hair", polygon(size, headPoints(frame, pts))]];
}

// Paint level over the plane where the part covers it (soft edges blend).
function paint(plane, part, size, level) {
  if (part === null) return;
  const {x0, x1, y0, y1} = part.win;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    const p = y * size + x;
    plane[p] += part.at(x, y) * (Math.fround(level) - plane[p]);
  }
}

// {masks: {colour: share of each pixel showing that colour}, face: [eyes, mouth] planes}, as layout.layout.
export function layout(canvasKps, appearance, size) {
  const fig = new Figure(canvasKps, size), a = appearance, plane = size * size;
  const frame = fig.head !== null ? fig.headFrame() : null;
  let parts = [];
  if (frame !== null && !fig.back) parts = parts.concat(hair(fig, size, a.hair_style, frame));
  parts = parts.concat(arm(fig, fig.far, size), leg(fig, fig.far, size, a.long_trousers, false),
    leg(fig, fig.near, size, a.long_trousers, true), torso(fig, size));
  if (frame !== null) parts = parts.concat(head(fig, size, a.hair_style, frame));
  parts = parts.concat(arm(fig, fig.near, size));
  const masks = Object.fromEntries(COLOURS.map(c => [c, new Float32Array(plane)]));
  const covered = new Float32Array(plane);
  for (let i = parts.length - 1; i >= 0; i--) {
    const [colour, part] = parts[i];
    if (part === null) continue;
    const {x0, x1, y0, y1} = part.win, m = masks[colour];
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
      const p = y * size + x, seen = part.at(x, y) * (1 - covered[p]);
      m[p] += seen;
      covered[p] += seen;
    }
  }
  const face = FACE_MAPS.map(() => new Float32Array(plane));
  if (frame !== null && !fig.back) {
    const look = [0.05 * fig.yaw, 0.03];  // where the irises look, as the renderer draws them
    for (const [x, w] of fig.eyes()) {
      const c = [x + look[0], 0.36 + look[1]];
      for (const [cx, cy, rx, ry, level] of [[x, 0.36, 0.2 * w, 0.3, 1.0], [c[0], c[1], 0.16 * w, 0.26, EYE_LEVELS[1]],
        [c[0], c[1], 0.07 * w, 0.11, EYE_LEVELS[2]]]) paint(face[0], headEllipse(size, frame, cx, cy, rx, ry), size, level);
    }
    paint(face[1], headEllipse(size, frame, fig.yaw * 0.5, MOUTH, 0.14, 0.08), size, 1.0);
  }
  return {masks, face};
}
