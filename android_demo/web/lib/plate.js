// The scene without its people: a mirror of animetool_runtime/plate.py (person masks from poses on a quarter-size
// grid, a clean plate learnt where the frame is still and nobody stands, the blurred frame where it never saw the
// background).
// Frames are {data, width, height, channels} (3 or 4 channels; only RGB is touched).
import {SKELETON} from "./character.js";
import {VISIBLE, bodyHeight, capsule, ellipse, polygon} from "./figure.js";
import {resizeBilinear, shrink} from "./image.js";

export const SCALE = 4, LIMB = 0.65, END = 0.75, HEAD = 1.0, CLEAR = 0.02, MOVED = 24.0, BLUR = 24, MARGIN = 6, STILL = 3, STEADY = 10.0;

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

// {mask (grid, Float32Array), gh, gw, boxes: [[y0, y1, x0, x1]] in frame pixels}.
export function personMask(people, height, width) {
  const gw = Math.ceil(width / SCALE), gh = Math.ceil(height / SCALE), grid = [gw, gh];
  const mask = new Float32Array(gw * gh), boxes = [];
  for (const person of people) {
    const kps = person.map(p => [Math.fround(Math.fround(Math.fround(p[0]) + 0.5) / SCALE - 0.5),
      Math.fround(Math.fround(Math.fround(p[1]) + 0.5) / SCALE - 0.5), Math.fround(p[2])]);
    const ok = kps.map(p => p[2] >= VISIBLE), seen = kps.filter((_, i) => ok[i]);
    if (seen.length < 2) continue;
    const extent = Math.max(Math.max(...seen.map(p => p[0])) - Math.min(...seen.map(p => p[0])),
      Math.max(...seen.map(p => p[1])) - Math.min(...seen.map(p => p[1])));
    const u = Math.max(bodyHeight(kps), extent) / 8, parts = [];
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
    const wins = [];
    for (const part of parts) {
      if (part === null) continue;
      const {x0, x1, y0, y1} = part.win;
      wins.push(part.win);
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * gw + x] = Math.max(mask[y * gw + x], part.at(x, y));
    }
    if (wins.length) {
      boxes.push([Math.min(...wins.map(v => v.y0)) * SCALE, Math.min(height, Math.max(...wins.map(v => v.y1)) * SCALE),
        Math.min(...wins.map(v => v.x0)) * SCALE, Math.min(width, Math.max(...wins.map(v => v.x1)) * SCALE)]);
    }
  }
  return {mask, gh, gw, boxes};
}

// Pixels y0:y1, x0:x1 of a grid ({data, height, width, channels}) stretched over a height x width frame, bilinear
// (half-pixel centres): Float64Array of (y1 - y0) x (x1 - x0) x channels.
export function upsample(grid, height, width, y0, y1, x0, x1) {
  const {data, height: h, width: w, channels: c} = grid, bw = x1 - x0, out = new Float64Array((y1 - y0) * bw * c);
  const xa = new Int32Array(bw), xb = new Int32Array(bw), wx = new Float64Array(bw);
  for (let x = x0; x < x1; x++) {
    const v = Math.min(Math.max((x + 0.5) * w / width - 0.5, 0), w - 1);
    xa[x - x0] = Math.floor(v); xb[x - x0] = Math.min(xa[x - x0] + 1, w - 1); wx[x - x0] = v - xa[x - x0];
  }
  for (let y = y0; y < y1; y++) {
    const v = Math.min(Math.max((y + 0.5) * h / height - 0.5, 0), h - 1), ya = Math.floor(v), yb = Math.min(ya + 1, h - 1), wy = v - ya;
    for (let i = 0; i < bw; i++) {
      for (let k = 0; k < c; k++) {
        const r0 = data[(ya * w + xa[i]) * c + k] * (1 - wy) + data[(yb * w + xa[i]) * c + k] * wy;
        const r1 = data[(ya * w + xb[i]) * c + k] * (1 - wy) + data[(yb * w + xb[i]) * c + k] * wy;
        out[((y - y0) * bw + i) * c + k] = r0 * (1 - wx[i]) + r1 * wx[i];
      }
    }
  }
  return out;
}

// The background learnt over a video: remove() on consecutive frames takes the people out of each, in place.
export class Plate {
  constructor() { this.image = null; this.seen = null; this.grid = null; this.still = null; }

  remove(frame, people) {
    const {data, width: w, height: h, channels: c} = frame;
    const {mask, gh, gw, boxes} = personMask(people, h, w);
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
    const grown = grow(mask, gh, gw, MARGIN), learn = new Uint8Array(gw * gh);
    for (let g = 0; g < gw * gh; g++) learn[g] = grown[g] < CLEAR && this.still[g] >= STILL ? 1 : 0;
    let blurred = null;
    const filled = [];
    for (const [y0, y1, x0, x1] of boxes) {
      const m = upsample({data: mask, height: gh, width: gw, channels: 1}, gh * SCALE, gw * SCALE, y0, y1, x0, x1);
      const bw = x1 - x0, fill = new Uint8Array((y1 - y0) * bw * 3);
      let far = null, all = true;
      for (let y = y0; y < y1 && all; y++) for (let x = x0; x < x1; x++) if (!this.seen[Math.floor(y / SCALE) * gw + Math.floor(x / SCALE)]) { all = false; break; }
      if (!all) {
        if (blurred === null) {
          const sub = new Uint8Array(gh * gw * 3);
          for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {
            for (let k = 0; k < 3; k++) sub[(gy * gw + gx) * 3 + k] = data[(gy * SCALE * w + gx * SCALE) * c + k];
          }
          const ch = Math.ceil(h / BLUR), cw = Math.ceil(w / BLUR);
          blurred = resizeBilinear(shrink({data: sub, height: gh, width: gw, channels: 3}, ch, cw), ch, cw);
        }
        far = upsample(blurred, h, w, y0, y1, x0, x1);
      }
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
        const i = (y - y0) * bw + (x - x0), o = (y * w + x) * c, mi = m[i], seen = this.seen[Math.floor(y / SCALE) * gw + Math.floor(x / SCALE)];
        for (let k = 0; k < 3; k++) {
          const under = data[o + k], f = seen ? this.image[o + k] : far[i * 3 + k];
          fill[i * 3 + k] = Math.min(Math.max(Math.floor(under + mi * (f - under) + 0.5), 0), 255);
        }
      }
      filled.push(fill);
    }
    for (let y = 0; y < h; y++) {  // the plate learns what is still and away from everybody
      const row = Math.floor(y / SCALE) * gw;
      for (let x = 0; x < w; x++) {
        if (!learn[row + Math.floor(x / SCALE)]) continue;
        const o = (y * w + x) * c;
        for (let k = 0; k < c; k++) this.image[o + k] = data[o + k];
      }
    }
    boxes.forEach(([y0, y1, x0, x1], b) => {
      const bw = x1 - x0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
        for (let k = 0; k < 3; k++) data[(y * w + x) * c + k] = filled[b][((y - y0) * bw + x - x0) * 3 + k];
      }
    });
    for (let g = 0; g < gw * gh; g++) if (learn[g]) this.seen[g] = 1;
    return frame;
  }
}
