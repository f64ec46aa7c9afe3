// The generator's side of a person: a line-for-line mirror of animetool_runtime/character.py (pose fitted to the
// canvas, appearance read off the frame, the conditioning maps). Keypoints are arrays of 17 [x, y, score].
import {COLOURS, FACE_MAPS, VISIBLE, bodyHeight, layout, length} from "./figure.js";
import {roundHalfEven} from "./image.js";

export {COLOURS, VISIBLE};
export const SKELETON = [[15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8], [7, 9],
  [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6]];
export const HAIR_STYLES = ["short", "long", "ponytail", "bob", "spiky"];
export const DEFAULT_APPEARANCE = {skin: [0.98, 0.85, 0.75], hair: [0.32, 0.22, 0.18], top: [0.85, 0.85, 0.88],
  bottom: [0.25, 0.30, 0.45], shoes: [0.30, 0.25, 0.22], hair_style: "short", long_trousers: true, outline: 0.5};
// The maps this app paints, described as the manifest's preprocess.conditioning block (character.py's CONDITIONING):
// conditioning() writes each group at the offset the bundle's block gives it.
export const CONDITIONING = {layout: 4, groups: [["keypoints", 17], ["limbs", SKELETON.length], ["colours", 3 * COLOURS.length],
  ["hair_style", HAIR_STYLES.length], ["long_trousers", 1], ["outline", 1], ["face", FACE_MAPS.length]].map(([name, channels]) => ({name, channels}))};
export const CONDITIONING_CHANNELS = CONDITIONING.groups.reduce((n, g) => n + g.channels, 0);

// Why this app cannot build a generator's conditioning block ("" when it can), as character.paints.
export function paints(block) {
  if (block.layout !== CONDITIONING.layout) return `it learnt conditioning layout ${block.layout}, this app builds layout ${CONDITIONING.layout}: export the generator again`;
  const key = gs => gs.map(g => `${g.name}:${g.channels}`).sort().join(", ");
  if (block.groups.length && key(block.groups) !== key(CONDITIONING.groups)) return `its conditioning groups ${key(block.groups)} are not the ones this app paints (${key(CONDITIONING.groups)})`;
  return "";
}

// First channel of each group in a block (this app's own order for a block that gives only its version).
function offsets(block) {
  const at = {};
  let start = 0;
  for (const g of (block && block.groups.length ? block.groups : CONDITIONING.groups)) { at[g.name] = start; start += g.channels; }
  return at;
}

export function appearanceVector(a) {
  return Float32Array.from([...COLOURS.flatMap(c => a[c]), ...HAIR_STYLES.map(s => +(a.hair_style === s)),
    +a.long_trousers, a.outline]);
}

export function appearanceFromVector(v) {
  const clip = x => Math.min(Math.max(x, 0), 1), a = {};
  COLOURS.forEach((c, i) => { a[c] = [0, 1, 2].map(k => clip(v[3 * i + k])); });
  let style = 0;
  for (let i = 1; i < HAIR_STYLES.length; i++) if (v[15 + i] > v[15 + style]) style = i;
  return {...a, hair_style: HAIR_STYLES[style], long_trousers: v[20] > 0.5, outline: clip(v[21])};
}

// Person keypoints in image pixels -> {canvas: keypoints in a size x size canvas, matrix: 2x3 canvas -> image}.
export function fitPose(kps, size = 256, fill = 0.8) {
  const seen = kps.filter(p => p[2] >= VISIBLE), pts = seen.length ? seen : kps;
  const lo = [Math.min(...pts.map(p => p[0])), Math.min(...pts.map(p => p[1]))];
  const hi = [Math.max(...pts.map(p => p[0])), Math.max(...pts.map(p => p[1]))];
  const extent = Math.max(hi[0] - lo[0], hi[1] - lo[1], bodyHeight(kps), 1) * 1.16;
  const s = fill * size / extent, c = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2], mid = (size - 1) / 2;
  return {
    canvas: kps.map(p => [(p[0] - c[0]) * s + mid, (p[1] - c[1]) * s + mid, p[2]]),
    matrix: [[1 / s, 0, c[0] - mid / s], [0, 1 / s, c[1] - mid / s]],
  };
}

export function srgbToLab([r, g, b]) {
  const lin = v => v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const [R, G, B] = [lin(r), lin(g), lin(b)];
  const x = (R * 0.4124 + G * 0.3576 + B * 0.1805) / 0.9505, y = R * 0.2126 + G * 0.7152 + B * 0.0722;
  const z = (R * 0.0193 + G * 0.1192 + B * 0.9505) / 1.089;
  const f = t => t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116;
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

export function labToSrgb([l, a, b]) {
  const fy = (l + 16) / 116, inv = t => t > 0.206893 ? t ** 3 : (t - 16 / 116) / 7.787;
  const [x, y, z] = [inv(fy + a / 500) * 0.9505, inv(fy), inv(fy - b / 200) * 1.089];
  const clip = v => Math.min(Math.max(v, 0), 1);
  const lin = [clip(x * 3.2406 + y * -1.5372 + z * -0.4986), clip(x * -0.9689 + y * 1.8758 + z * 0.0415),
    clip(x * 0.0557 + y * -0.2040 + z * 1.0570)];
  return lin.map(v => v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055);
}

// Points over a quadrilateral (4 corners in order) by bilinear interpolation, on an n x n grid of (u, v).
function quad(c, n = 12) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const v = (i + 0.5) / n;
    for (let j = 0; j < n; j++) {
      const u = (j + 0.5) / n;
      out.push([0, 1].map(k => (1 - v) * ((1 - u) * c[0][k] + u * c[1][k]) + v * ((1 - u) * c[3][k] + u * c[2][k])));
    }
  }
  return out;
}

function box([cx, cy], hw, hh, n = 12) {
  return quad([[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh], [cx - hw, cy + hh]], n);
}

// Points over the rectangle around segment a->b (its middle 80%), halfWidth either side.
function band(a, b, halfWidth, n = 10) {
  const d = [b[0] - a[0], b[1] - a[1]], len = Math.max(Math.hypot(d[0], d[1]), 1e-6);
  const nx = -d[1] / len * halfWidth, ny = d[0] / len * halfWidth;
  const p = t => [a[0] + t * d[0], a[1] + t * d[1]];
  const [s, e] = [p(0.1), p(0.9)];
  return quad([[s[0] - nx, s[1] - ny], [s[0] + nx, s[1] + ny], [e[0] + nx, e[1] + ny], [e[0] - nx, e[1] - ny]], n);
}

function median(values) {
  const s = Float64Array.from(values).sort(), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function quantile(values, q) {
  const s = Float64Array.from(values).sort(), pos = (s.length - 1) * q, i = Math.floor(pos);
  return i + 1 < s.length ? s[i] + (pos - i) * (s[i + 1] - s[i]) : s[i];
}

// Median colour (Lab) at points, recomputed over the `keep` fraction closest to the first median; null if < 8 inside.
export function robustColour(frame, points, keep = 0.6) {
  const labs = [];
  for (const [px, py] of points) {
    const x = roundHalfEven(px), y = roundHalfEven(py);
    if (x < 0 || x >= frame.width || y < 0 || y >= frame.height) continue;
    const o = (y * frame.width + x) * 3;
    labs.push(srgbToLab([frame.data[o] / 255, frame.data[o + 1] / 255, frame.data[o + 2] / 255]));
  }
  if (labs.length < 8) return null;
  const med = [0, 1, 2].map(k => median(labs.map(l => l[k])));
  const dist = labs.map(l => Math.hypot(l[0] - med[0], l[1] - med[1], l[2] - med[2]));
  const cut = quantile(dist, keep), kept = labs.filter((_, i) => dist[i] <= cut);
  return labToSrgb([0, 1, 2].map(k => median(kept.map(l => l[k]))));
}

// A real person's colours inside the regions their keypoints outline; fields whose region is missing keep defaults.
export function extractAppearance(frame, kps) {
  const ok = kps.map(p => p[2] >= VISIBLE), xy = kps.map(p => [p[0], p[1]]);
  const head = [0, 1, 2, 3, 4].filter(i => ok[i]);
  let face = 0;
  for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) face = Math.max(face, length(kps, i, j));
  const facingAway = ok[5] && ok[6] && xy[5][0] < xy[6][0];
  const mean = idx => [0, 1].map(k => idx.reduce((s, i) => s + xy[i][k], 0) / idx.length);
  const regions = Object.fromEntries(COLOURS.map(c => [c, []]));
  const front = [0, 1, 2].filter(i => ok[i]);
  if (front.length && face > 0 && !facingAway) {
    const m = mean(front);
    regions.skin.push(box([m[0], m[1] + 0.15 * face], 0.25 * face, 0.25 * face));
  }
  if (!regions.skin.length) {
    for (const [e, w] of [[7, 9], [8, 10]]) if (length(kps, e, w) > 0) regions.skin.push(band(xy[e], xy[w], 0.08 * length(kps, e, w)));
  }
  if (head.length && face > 0) {
    const m = mean(head);
    regions.hair.push(box([m[0], m[1] - 0.65 * face], 0.35 * face, 0.2 * face));
  }
  if ([5, 6, 11, 12].every(i => ok[i])) {
    const corners = [5, 6, 12, 11].map(i => xy[i]), m = [0, 1].map(k => corners.reduce((s, c) => s + c[k], 0) / 4);
    regions.top.push(quad(corners.map(c => [m[0] + 0.6 * (c[0] - m[0]), m[1] + 0.6 * (c[1] - m[1])])));
  }
  for (const [hip, knee] of [[11, 13], [12, 14]]) {
    if (length(kps, hip, knee) > 0) regions.bottom.push(band(xy[hip], xy[knee], 0.15 * length(kps, hip, knee)));
  }
  for (const [knee, ankle] of [[13, 15], [14, 16]]) {
    const shin = length(kps, knee, ankle);
    if (shin > 0) {
      const c = [0, 1].map(k => xy[ankle][k] + 0.12 * (xy[ankle][k] - xy[knee][k]));
      regions.shoes.push(box(c, 0.08 * shin, 0.06 * shin, 6));
    }
  }
  const a = {...DEFAULT_APPEARANCE}, found = {};
  for (const c of COLOURS) {
    found[c] = regions[c].length ? robustColour(frame, regions[c].flat()) : null;
    if (found[c]) a[c] = found[c];
  }
  const shins = [[13, 15], [14, 16]].filter(([k, f]) => length(kps, k, f) > 0).map(([k, f]) => band(xy[k], xy[f], 0.1 * length(kps, k, f)));
  const shin = shins.length ? robustColour(frame, shins.flat()) : null;
  // shorts (or a skirt): the shins look like the skin, not like the thighs
  if (shin && found.skin && found.bottom) {
    const [s, k, b] = [shin, found.skin, found.bottom].map(srgbToLab);
    a.long_trousers = !(Math.hypot(s[0] - k[0], s[1] - k[1], s[2] - k[2]) < Math.hypot(s[0] - b[0], s[1] - b[1], s[2] - b[2]));
  }
  return a;
}

// The generator's input, CONDITIONING_CHANNELS x size x size (CHW): 17 keypoint Gaussians, one soft line per SKELETON
// edge, each colour painted on the character's flat layout (figure.js), hair style, trouser length and outline as
// constant maps, then the face maps (eyes, mouth).
export function conditioning(canvasKps, appearance, size = 256, block = CONDITIONING) {
  const ok = canvasKps.map(p => p[2] >= VISIBLE), sigma = size / 64, two = 2 * sigma * sigma, plane = size * size;
  const out = new Float32Array(CONDITIONING_CHANNELS * plane), at = offsets(block);
  for (let j = 0; j < 17; j++) {
    if (!ok[j]) continue;
    const [kx, ky] = canvasKps[j], gx = new Float64Array(size);
    for (let x = 0; x < size; x++) gx[x] = Math.exp(-((x - kx) ** 2) / two);
    for (let y = 0; y < size; y++) {
      const gy = Math.exp(-((y - ky) ** 2) / two), row = (at.keypoints + j) * plane + y * size;
      for (let x = 0; x < size; x++) out[row + x] = gy * gx[x];
    }
  }
  const reach = 4 * sigma;
  SKELETON.forEach(([a, b], i) => {
    if (!(ok[a] && ok[b])) return;
    const pa = canvasKps[a], d = [canvasKps[b][0] - pa[0], canvasKps[b][1] - pa[1]];
    const [x0, y0] = [0, 1].map(k => Math.max(0, Math.floor(Math.min(pa[k], pa[k] + d[k]) - reach)));
    const [x1, y1] = [0, 1].map(k => Math.min(size, Math.ceil(Math.max(pa[k], pa[k] + d[k]) + reach) + 1));
    const dd = Math.max(d[0] * d[0] + d[1] * d[1], 1e-6), base = (at.limbs + i) * plane;
    for (let y = y0; y < y1; y++) {
      const py = y - pa[1];
      for (let x = x0; x < x1; x++) {
        const px = x - pa[0], t = Math.min(Math.max((px * d[0] + py * d[1]) / dd, 0), 1);
        out[base + y * size + x] = Math.exp(-((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2) / two);
      }
    }
  });
  const vec = appearanceVector(appearance), first = at.colours, {masks, face} = layout(canvasKps, appearance, size);
  COLOURS.forEach((colour, c) => {
    const m = masks[colour];
    for (let k = 0; k < 3; k++) {
      const base = (first + 3 * c + k) * plane, v = vec[3 * c + k];
      for (let p = 0; p < plane; p++) out[base + p] = v * m[p];
    }
  });
  const n = 3 * COLOURS.length, constants = [["hair_style", vec.subarray(n, n + HAIR_STYLES.length)],
    ["long_trousers", vec.subarray(vec.length - 2, vec.length - 1)], ["outline", vec.subarray(vec.length - 1)]];
  for (const [name, values] of constants) values.forEach((v, ch) => out.fill(v, (at[name] + ch) * plane, (at[name] + ch + 1) * plane));
  face.forEach((m, i) => out.set(m, (at.face + i) * plane));
  return out;
}
