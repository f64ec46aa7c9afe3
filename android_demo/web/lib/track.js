// People across frames: a mirror of animetool_runtime/pose/track.py (OKS/box matching, pose NMS, One Euro per track).
import {VISIBLE} from "./character.js";

export const SIGMAS = [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89].map(s => s / 10);

// [x0, y0, x1, y1] of the visible keypoints (all of them when none is visible).
export function box(kps) {
  const seen = kps.filter(p => p[2] >= VISIBLE), pts = seen.length ? seen : kps;
  return [Math.min(...pts.map(p => p[0])), Math.min(...pts.map(p => p[1])), Math.max(...pts.map(p => p[0])), Math.max(...pts.map(p => p[1]))];
}

export function oks(a, b) {
  const vis = a.map((p, i) => p[2] >= VISIBLE && b[i][2] >= VISIBLE);
  if (!vis.some(Boolean)) return 0;
  const [x0, y0, x1, y1] = box(a), area = Math.max((x1 - x0) * (y1 - y0) * 1.44, 1);
  let total = 0;
  vis.forEach((v, i) => {
    if (v) total += Math.exp(-((a[i][0] - b[i][0]) ** 2 + (a[i][1] - b[i][1]) ** 2) / (2 * area * (2 * SIGMAS[i]) ** 2));
  });
  return total / Math.max(a.filter(p => p[2] >= VISIBLE).length, 1);
}

export function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])), h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h;
  return union > 0 ? w * h / union : 0;
}

export const similarity = (track, person) => Math.max(oks(track, person), iou(box(track), box(person)));

const meanScore = p => p.reduce((s, k) => s + k[2], 0) / p.length;

// Pose NMS: of detections this similar to a higher-scored one, keep the higher.
export function suppress(people, threshold = 0.6) {
  const order = people.map((p, i) => [meanScore(p), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(x => x[1]);
  const kept = [];
  for (const i of order) if (kept.every(k => similarity(k, people[i]) < threshold)) kept.push(people[i]);
  return kept;
}

// One Euro filter (Casiez et al., CHI 2012) on 17 keypoints; speed in body heights per second.
export class OneEuro {
  constructor(fps, minCutoff = 1.0, beta = 2.0, dCutoff = 1.0) {
    Object.assign(this, {dt: 1 / fps, minCutoff, beta, dCutoff, x: null, dx: Array.from({length: 17}, () => [0, 0])});
  }

  alpha(cutoff) { return 1 / (1 + 1 / (2 * Math.PI * cutoff) / this.dt); }

  filter(kps, scale) {
    const seen = kps.map(p => p[2] >= VISIBLE);
    if (this.x === null) {
      this.x = kps.map(p => [p[0], p[1]]); this.seen = seen;
      return kps.map(p => [...p]);
    }
    const ad = this.alpha(this.dCutoff), out = [];
    kps.forEach((p, i) => {
      const fresh = seen[i] && !this.seen[i], prev = fresh ? [p[0], p[1]] : this.x[i];
      const dx = [0, 1].map(k => (p[k] - prev[k]) / this.dt / Math.max(scale, 1));
      this.dx[i] = fresh ? [0, 0] : [0, 1].map(k => ad * dx[k] + (1 - ad) * this.dx[i][k]);
      const a = this.alpha(this.minCutoff + this.beta * Math.hypot(...this.dx[i]));
      this.x[i] = seen[i] ? [0, 1].map(k => a * p[k] + (1 - a) * prev[k]) : prev;
      out.push([this.x[i][0], this.x[i][1], p[2]]);
    });
    this.seen = this.seen.map((s, i) => s || seen[i]);
    return out;
  }
}

// Greedy matching of each frame's people to live tracks; a track unseen for maxAge frames (one second) ends.
export class Tracker {
  constructor(fps, maxAge = null, minSimilarity = 0.1) {
    Object.assign(this, {fps, maxAge: maxAge || Math.max(1, Math.round(fps)), minSimilarity, tracks: [], nextId: 0});
  }

  static height(raw) {
    const [x0, y0, x1, y1] = box(raw);
    return Math.max(y1 - y0, x1 - x0, 1);
  }

  update(people, frame) {
    people = suppress(people);
    const pairs = [];
    this.tracks.forEach((t, ti) => people.forEach((p, pi) => pairs.push([similarity(t.raw, p), ti, pi])));
    pairs.sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2]);  // Python's sorted(reverse=True) on tuples
    const usedT = new Set(), usedP = new Set(), seen = [];
    for (const [score, ti, pi] of pairs) {
      if (score < this.minSimilarity || usedT.has(ti) || usedP.has(pi)) continue;
      usedT.add(ti); usedP.add(pi);
      const t = this.tracks[ti];
      t.raw = people[pi]; t.lastSeen = frame;
      t.keypoints = t.filter.filter(people[pi], Tracker.height(t.raw));
      seen.push(t);
    }
    people.forEach((p, pi) => {
      if (usedP.has(pi)) return;
      const t = {id: this.nextId++, raw: p, filter: new OneEuro(this.fps), lastSeen: frame, appearance: null};
      t.keypoints = t.filter.filter(p, Tracker.height(p));
      this.tracks.push(t); seen.push(t);
    });
    this.tracks = this.tracks.filter(t => frame - t.lastSeen <= this.maxAge);
    return seen.sort((a, b) => a.id - b.id);
  }
}
