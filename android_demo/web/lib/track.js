// People across frames: a mirror of animetool_runtime/pose/track.py (OKS/box matching, pose NMS, One Euro per track).
import {VISIBLE, bodyHeight} from "./figure.js";

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

export const HOLD_SECONDS = 0.5, FADE_SECONDS = 0.4, LOST_SECONDS = 3.0, CONFIRM = 3, MIN_KEYPOINTS = 3;

// A missing shoulder (hip) from the other shoulder (hip) and both hips (shoulders): the torso's proportions.
// (joint, its end, the other side's joint, its end, body height / limb length): upper arms, forearms, thighs, shins
export const LIMBS = [[5, 7, 6, 8, 5.1], [7, 9, 8, 10, 6.0], [11, 13, 12, 14, 3.6], [13, 15, 14, 16, 3.6]];
export const TOO_LONG = 1.5;

// Left/right labels of elbows, wrists, knees and ankles swapped back where the pose model crossed them: both limbs
// implausibly long while swapped they are plausible (genuinely crossed limbs have plausible lengths and stay).
export function untangle(kps) {
  kps = kps.map(p => [Math.fround(p[0]), Math.fround(p[1]), Math.fround(p[2])]);
  const height = bodyHeight(kps);
  const d = (i, j) => Math.hypot(kps[i][0] - kps[j][0], kps[i][1] - kps[j][1]);
  for (const [a, endA, b, endB, k] of LIMBS) {
    if (!height || ![a, endA, b, endB].every(i => kps[i][2] >= VISIBLE)) continue;
    const limit = TOO_LONG * height / k;
    if (Math.max(d(a, endA), d(b, endB)) > limit && limit >= Math.max(d(a, endB), d(b, endA))) [kps[endA], kps[endB]] = [kps[endB], kps[endA]];
  }
  return kps;
}

export function complete(kps) {
  kps = kps.map(p => [...p]);
  const seen = kps.map(p => p[2] >= VISIBLE);
  for (const [[a, b], [c, d]] of [[[5, 6], [11, 12]], [[11, 12], [5, 6]]]) {
    if (seen[c] && seen[d] && seen[a] !== seen[b]) {
      const [have, miss, from, to] = seen[a] ? [a, b, c, d] : [b, a, d, c];
      kps[miss] = [kps[have][0] + kps[to][0] - kps[from][0], kps[have][1] + kps[to][1] - kps[from][1], VISIBLE];
    }
  }
  return kps;
}

export const whole = kps => kps[5][2] >= VISIBLE && kps[6][2] >= VISIBLE;

// Mean motion of the keypoints seen in both poses ([0, 0] when none is).
function shift(before, now) {
  let n = 0, dx = 0, dy = 0;
  before.forEach((p, i) => {
    if (p[2] >= VISIBLE && now[i][2] >= VISIBLE) { n++; dx += now[i][0] - p[0]; dy += now[i][1] - p[1]; }
  });
  return n ? [dx / n, dy / n] : [0, 0];
}

// What a track draws: its keypoints with short gaps filled, completed, or its last whole pose fading out.
export class Hold {
  constructor(fps) {
    Object.assign(this, {hold: Math.max(1, Math.round(HOLD_SECONDS * fps)), fade: Math.max(1, Math.round(FADE_SECONDS * fps)),
      last: null, age: new Array(17).fill(0), whole: null, broken: 0});
  }

  // This frame's smoothed keypoints (null: not found) -> [pose to draw or null, opacity].
  step(kps) {
    if (kps !== null) {
      kps = kps.map(p => p.map(Math.fround));
      const seen = kps.map(p => p[2] >= VISIBLE);
      if (this.last !== null) {
        const s = shift(this.last, kps);
        kps.forEach((p, i) => {
          if (!seen[i] && this.last[i][2] >= VISIBLE && this.age[i] < this.hold) kps[i] = [this.last[i][0] + s[0], this.last[i][1] + s[1], VISIBLE];
        });
      }
      this.age = this.age.map((a, i) => seen[i] ? 0 : a + 1);
      kps = complete(kps);
      this.last = kps;
      if (whole(kps)) { this.whole = kps; this.broken = 0; return [kps, 1]; }
    }
    this.broken += 1;
    if (this.whole === null || this.broken > this.fade) return [null, 0];
    if (kps !== null) {
      const s = shift(this.whole, kps);
      this.whole = this.whole.map(p => [p[0] + s[0], p[1] + s[1], p[2]]);
    }
    return [this.whole, 1 - this.broken / (this.fade + 1)];
  }
}

// A pose model's detections -> the frame's people, as the tracker takes them: one pose per person (suppress), best
// first, at most maxPeople, crossed limbs untangled, stray points (under MIN_KEYPOINTS visible) left out
// (track.frame_people).
export function framePeople(detections, maxPeople = Infinity) {
  const people = suppress(detections).filter(p => p.filter(k => k[2] >= VISIBLE).length >= MIN_KEYPOINTS);
  return people.slice(0, maxPeople).map(untangle);
}

// Greedy matching of each frame's people to recent tracks; a person matching none takes up the nearest lost track
// (within a body height per second lost), else starts one; drawn once seen CONFIRM times; unseen LOST_SECONDS, ends.
export class Tracker {
  constructor(fps, maxAge = null, minSimilarity = 0.1, confirm = CONFIRM) {
    Object.assign(this, {fps, maxAge: maxAge || Math.max(1, Math.round(LOST_SECONDS * fps)), minSimilarity, confirm, tracks: [], nextId: 0});
  }

  static height(raw) {
    const [x0, y0, x1, y1] = box(raw);
    return Math.max(y1 - y0, x1 - x0, 1);
  }

  // This frame's people (framePeople's list) -> the tracks to draw in it, by id.
  update(people, frame) {
    const recent = Math.round(HOLD_SECONDS * this.fps), pairs = [];
    this.tracks.forEach((t, ti) => {
      if (frame - t.lastSeen <= recent) people.forEach((p, pi) => pairs.push([similarity(t.raw, p), ti, pi]));
    });
    pairs.sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2]);  // Python's sorted(reverse=True) on tuples
    const usedT = new Set(), usedP = new Set(), matches = [];
    for (const [score, ti, pi] of pairs) {
      if (score < this.minSimilarity || usedT.has(ti) || usedP.has(pi)) continue;
      usedT.add(ti); usedP.add(pi);
      matches.push([this.tracks[ti], people[pi]]);
    }
    people.forEach((p, pi) => {
      if (usedP.has(pi)) return;
      let t = this.nearestLost(p, frame, usedT);
      if (t === null) {
        t = {id: this.nextId++, raw: p, filter: new OneEuro(this.fps), hold: new Hold(this.fps), lastSeen: frame, hits: 0, appearance: null};
        this.tracks.push(t);
      }
      usedT.add(this.tracks.indexOf(t));
      matches.push([t, p]);
    });
    for (const [t, p] of matches) {
      t.raw = p; t.lastSeen = frame; t.hits += 1;
      t.keypoints = t.filter.filter(p, Tracker.height(p));
      [t.pose, t.opacity] = t.hold.step(t.keypoints);
    }
    for (const t of this.tracks) if (t.lastSeen !== frame) [t.pose, t.opacity] = t.hold.step(null);
    this.tracks = this.tracks.filter(t => frame - t.lastSeen <= (t.hits >= this.confirm ? this.maxAge : 0));
    return this.tracks.filter(t => t.pose !== null && t.hits >= this.confirm).sort((a, b) => a.id - b.id);
  }

  nearestLost(person, frame, taken) {
    let best = null, bestD = Infinity;
    const b = box(person), size = bodyHeight(person);
    this.tracks.forEach((t, ti) => {
      if (taken.has(ti) || t.lastSeen >= frame) return;
      const tb = box(t.raw), tSize = bodyHeight(t.raw);
      const d = Math.hypot((b[0] + b[2]) / 2 - (tb[0] + tb[2]) / 2, (b[1] + b[3]) / 2 - (tb[1] + tb[3]) / 2) / Tracker.height(t.raw);
      const alike = !(size && tSize) || (size / tSize >= 0.5 && size / tSize <= 2);
      if (d <= 0.5 + (frame - t.lastSeen) / this.fps && alike && d < bestD) { best = t; bestD = d; }
    });
    return best;
  }
}
