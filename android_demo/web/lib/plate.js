// The scene without its people: a mirror of animetool_runtime/plate.py (person masks from poses on a quarter-size
// grid, a clean plate learnt where the frame is still and nobody stands, the frame around the people blurred where it
// never saw the background; cells near a person that differ from the background the plate knows).
// Frames are {data, width, height, channels} (3 or 4 channels; only RGB is touched).
import {SKELETON} from "./character.js";
import {VISIBLE, bodyHeight, capsule, ellipse, polygon} from "./figure.js";
import {resizeBilinear, shrink} from "./image.js";

export const SCALE = 4, LIMB = 0.65, END = 0.75, HEAD = 1.0, CLEAR = 0.02, MOVED = 24.0, BLUR = 24, MARGIN = 6, STILL = 3, STEADY = 10.0, FAINT = 0.15,
  APART = 30.0, NEAR = 1.0, SOME = 0.05;

// Max filter of a grid (Float32Array gh x gw) over (2 cells + 1) squares, separable.
export function grow(mask, gh, gw, cells) {
  let out = Float32Array.from(mask);
  for (const axis of [0, 1]) {
    const src = Float32Array.from(out);
    for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) {
      let v = out[y * gw + x];
      for (let k = 1; k <= cells; k++) {
        for (const s of [-k, k]) {
          const yy = axis === 0 ? y + s : y, xx = axis === 1 ? x + s : x;
          if (yy >= 0 && yy < gh && xx >= 0 && xx < gw) v = Math.max(v, src[yy * gw + xx]);
        }
      }
      out[y * gw + x] = v;
    }
  }
  return out;
}

// Each person with enough evidence for a mask: {kps (in grid cells), ok (faint or better), u (an eighth of their
// body's height in cells)}.
function onGrid(people) {
  const out = [];
  for (const person of people) {
    const kps = person.map(p => [Math.fround(Math.fround(Math.fround(p[0]) + 0.5) / SCALE - 0.5),
      Math.fround(Math.fround(Math.fround(p[1]) + 0.5) / SCALE - 0.5), Math.fround(p[2])]);
    const ok = kps.map(p => p[2] >= FAINT), seen = kps.filter(p => p[2] >= VISIBLE);
    if (seen.length < 2) continue;
    const extent = Math.max(Math.max(...seen.map(p => p[0])) - Math.min(...seen.map(p => p[0])),
      Math.max(...seen.map(p => p[1])) - Math.min(...seen.map(p => p[1])));
    out.push({kps, ok, u: Math.max(bodyHeight(kps), extent) / 8});
  }
  return out;
}

// Grid cells in some person's box (their keypoints >= FAINT) grown by NEAR units each side (Uint8Array gh x gw).
export function nearPeople(people, height, width) {
  const gw = Math.ceil(width / SCALE), gh = Math.ceil(height / SCALE), near = new Uint8Array(gw * gh);
  for (const {kps, ok, u} of onGrid(people)) {
    const pts = kps.filter((p, i) => ok[i]);
    const x0 = Math.max(Math.floor(Math.min(...pts.map(p => p[0])) - NEAR * u), 0);
    const y0 = Math.max(Math.floor(Math.min(...pts.map(p => p[1])) - NEAR * u), 0);
    const x1 = Math.min(Math.ceil(Math.max(...pts.map(p => p[0])) + NEAR * u) + 1, gw);
    const y1 = Math.min(Math.ceil(Math.max(...pts.map(p => p[1])) + NEAR * u) + 1, gh);
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) near[y * gw + x] = 1;
  }
  return near;
}

// {mask (grid, Float32Array), gh, gw}.
export function personMask(people, height, width) {
  const gw = Math.ceil(width / SCALE), gh = Math.ceil(height / SCALE), grid = [gw, gh];
  const mask = new Float32Array(gw * gh);
  for (const {kps, ok, u} of onGrid(people)) {
    const parts = [];
    for (const [a, b] of SKELETON) if (ok[a] && ok[b]) parts.push(capsule(grid, kps[a], kps[b], LIMB * u, LIMB * u));
    if ([5, 6, 12, 11].every(i => ok[i])) parts.push(polygon(grid, [5, 6, 12, 11].map(i => kps[i])));
    for (const [a, b] of [[7, 9], [8, 10], [13, 15], [14, 16]]) {  // hands and feet reach past wrists and ankles
      if (ok[a] && ok[b]) parts.push(ellipse(grid, [0, 1].map(k => kps[b][k] + 0.3 * (kps[b][k] - kps[a][k])), END * u, END * u));
    }
    const face = [0, 1, 2, 3, 4].filter(i => ok[i]);
    if (face.length) {  // head and hair, which may hang to the shoulders
      const c = [0, 1].map(k => face.reduce((s, i) => s + kps[i][k], 0) / face.length);
      parts.push(ellipse(grid, [c[0], c[1] + 0.2 * u], HEAD * u, 1.5 * HEAD * u));
    }
    for (const part of parts) {
      if (part === null) continue;
      const {x0, x1, y0, y1} = part.win;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * gw + x] = Math.max(mask[y * gw + x], part.at(x, y));
    }
  }
  return {mask, gh, gw};
}

// small's unknown cells (Float64Array ch x cw x 3, known: Uint8Array) filled ring by ring from the outside: each takes
// the mean of its known 4-neighbours.
function spread(small, known, ch, cw) {
  known = Uint8Array.from(known);
  while (known.some(k => !k)) {
    const next = Uint8Array.from(known), values = Float64Array.from(small);
    let changed = false;
    for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) {
      const g = y * cw + x;
      if (known[g]) continue;
      const total = [0, 0, 0];
      let count = 0;
      for (const [yy, xx] of [[y - 1, x], [y + 1, x], [y, x - 1], [y, x + 1]]) {
        if (yy < 0 || yy >= ch || xx < 0 || xx >= cw || !known[yy * cw + xx]) continue;
        for (let k = 0; k < 3; k++) total[k] += small[(yy * cw + xx) * 3 + k];
        count++;
      }
      if (!count) continue;
      for (let k = 0; k < 3; k++) values[g * 3 + k] = total[k] / count;
      next[g] = 1;
      changed = true;
    }
    if (!changed) break;  // nothing known to spread from (callers make sure something is)
    small = values; known = next;
  }
  return small;
}

// Per grid cell (sub: the frame's grid pixels, Uint8Array gh x gw x 3), the fill where the plate never saw the
// background: the frame blurred to 1/BLUR of its size from the cells nobody covers only (a normalised blur, so the
// person's own colours do not show through), coarse cells that are all person taking their neighbours' colour, scaled
// back up bilinearly (Uint8Array gh x gw x 3).
export function surroundings(sub, mask, gh, gw, h, w) {
  const ch = Math.ceil(h / BLUR), cw = Math.ceil(w / BLUR);
  const clear = new Float64Array(gh * gw), num = new Float64Array(gh * gw * 3);
  for (let g = 0; g < gh * gw; g++) if (mask[g] < CLEAR) clear[g] = 1;
  for (let g = 0; g < gh * gw; g++) for (let k = 0; k < 3; k++) num[g * 3 + k] = sub[g * 3 + k] * clear[g];
  let n = resizeBilinear(shrink({data: num, height: gh, width: gw, channels: 3}, ch, cw), ch, cw).data;
  let d = resizeBilinear(shrink({data: clear, height: gh, width: gw, channels: 1}, ch, cw), ch, cw).data;
  if (!d.some(v => v > SOME)) {  // people nearly everywhere (too little background for any coarse cell): the plain blur
    n = resizeBilinear(shrink({data: Float64Array.from(sub), height: gh, width: gw, channels: 3}, ch, cw), ch, cw).data;
    d = new Float64Array(ch * cw).fill(1);
  }
  const known = new Uint8Array(ch * cw), small = new Float64Array(ch * cw * 3);
  for (let g = 0; g < ch * cw; g++) {
    known[g] = d[g] > SOME ? 1 : 0;
    if (known[g]) for (let k = 0; k < 3; k++) small[g * 3 + k] = Math.fround(n[g * 3 + k] / Math.max(d[g], SOME));
  }
  const up = resizeBilinear({data: spread(small, known, ch, cw), height: ch, width: cw, channels: 3}, gh, gw).data;
  return up.map(v => Math.min(Math.max(Math.floor(v + 0.5), 0), 255));
}

// The background learnt over a video: remove() on consecutive frames takes the people out of each, in place.
export class Plate {
  constructor() { this.image = null; this.seen = null; this.grid = null; this.still = null; this.mask = null; }

  remove(frame, people) {
    const {data, width: w, height: h, channels: c} = frame;
    const {mask, gh, gw} = personMask(people, h, w);
    const grid = new Int16Array(gh * gw * 3);
    for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {
      for (let k = 0; k < 3; k++) grid[(gy * gw + gx) * 3 + k] = data[(gy * SCALE * w + gx * SCALE) * c + k];
    }
    if (this.image === null || this.image.length !== data.length || this.width !== w) {
      this.image = Uint8Array.from(data); this.seen = new Uint8Array(gw * gh); this.width = w;
      this.grid = grid; this.still = new Int32Array(gw * gh);
    } else {
      let n = 0, total = 0;
      for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {
        const g = gy * gw + gx;
        if (!(mask[g] < CLEAR && this.seen[g])) continue;
        const o = (gy * SCALE * w + gx * SCALE) * c;
        total += (Math.abs(data[o] - this.image[o]) + Math.abs(data[o + 1] - this.image[o + 1]) + Math.abs(data[o + 2] - this.image[o + 2])) / 3;
        n++;
      }
      if (n && total / n > MOVED) this.seen.fill(0);
    }
    for (let g = 0; g < gw * gh; g++) {
      const change = (Math.abs(grid[g * 3] - this.grid[g * 3]) + Math.abs(grid[g * 3 + 1] - this.grid[g * 3 + 1]) + Math.abs(grid[g * 3 + 2] - this.grid[g * 3 + 2])) / 3;
      this.still[g] = change < STEADY ? this.still[g] + 1 : 0;
    }
    this.grid = grid;
    if (this.seen.some(v => v)) {  // what the pose left out: cells near a person that are not the background the plate knows
      const near = nearPeople(people, h, w);
      for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {
        const g = gy * gw + gx;
        if (!(near[g] && this.seen[g])) continue;
        const o = (gy * SCALE * w + gx * SCALE) * c;
        const d = (Math.abs(grid[g * 3] - this.image[o]) + Math.abs(grid[g * 3 + 1] - this.image[o + 1]) + Math.abs(grid[g * 3 + 2] - this.image[o + 2])) / 3;
        if (d > APART) mask[g] = 1;
      }
    }
    this.mask = mask;
    const grown = grow(mask, gh, gw, MARGIN), learn = new Uint8Array(gw * gh);
    for (let g = 0; g < gw * gh; g++) learn[g] = grown[g] < CLEAR && this.still[g] >= STILL ? 1 : 0;
    let fill = null;  // per cell, for the unseen ones: the scene around the people, blurred
    let unseen = false;
    for (let g = 0; g < gw * gh; g++) if (mask[g] > 0 && !this.seen[g]) { unseen = true; break; }
    if (unseen) fill = surroundings(grid, mask, gh, gw, h, w);
    const offsets = [], values = [];  // the people's pixels, worked out from the plate as it was
    for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {
      const g = gy * gw + gx, m = mask[g];
      if (!(m > 0)) continue;
      const f = g * 3;
      for (let y = gy * SCALE; y < Math.min(h, gy * SCALE + SCALE); y++) for (let x = gx * SCALE; x < Math.min(w, gx * SCALE + SCALE); x++) {
        const o = (y * w + x) * c;
        offsets.push(o);
        for (let k = 0; k < 3; k++) {
          const behind = this.seen[g] ? this.image[o + k] : fill[f + k], under = data[o + k];
          values.push(m < 1 ? Math.min(Math.max(Math.floor(under + m * (behind - under) + 0.5), 0), 255) : behind);
        }
      }
    }
    for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {  // the plate learns what is still and away from everybody
      if (!learn[gy * gw + gx]) continue;
      for (let y = gy * SCALE; y < Math.min(h, gy * SCALE + SCALE); y++) {
        const o = (y * w + gx * SCALE) * c, n = (Math.min(w, gx * SCALE + SCALE) - gx * SCALE) * c;
        this.image.set(data.subarray(o, o + n), o);
      }
    }
    offsets.forEach((o, i) => { for (let k = 0; k < 3; k++) data[o + k] = values[i * 3 + k]; });
    for (let g = 0; g < gw * gh; g++) if (learn[g]) this.seen[g] = 1;
    return frame;
  }
}
