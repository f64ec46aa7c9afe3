// The per-frame work of `animetool animate`, mirrored from animetool_runtime/animate.py: pose -> tracks -> one drawing
// per person -> composite. Frames are {data, width, height, channels} (3 for RGB, 4 for a canvas's RGBA).
import {CONDITIONING, appearanceFromVector, appearanceVector, conditioning, extractAppearance, fitPose, paints} from "./character.js";
import {resizeBilinear, rgbFromRgba, shrink, taps} from "./image.js";
import {Plate} from "./plate.js";
import {PoseEstimator} from "./pose.js";
import {Tracker, box, framePeople} from "./track.js";

export const BACKGROUNDS = ["original", "blur", "plain", "side-by-side"];
const PLAIN = [236, 239, 243];
const APPEARANCE_EVERY = 15, APPEARANCE_KEEP = 0.8;

// The bundle's pose-conditioned generator at `size` px (the largest when null), as animate.generator_entry picks it.
export function generatorName(manifest, size) {
  let gens = manifest.models.filter(e => e.task === "generator" && e.preprocess.kind === "conditioning");
  if (!gens.length) throw new Error("bundle has no pose-conditioned generator");
  const why = gens.map(e => paints(e.preprocess.conditioning || {layout: 1, groups: []}));
  if (why.every(w => w)) throw new Error(`${gens[0].name}: ${why[0]}`);
  gens = gens.filter((e, i) => !why[i]);
  const sizes = [...new Set(gens.map(e => e.preprocess.size[0]))].sort((a, b) => a - b);
  if (size && !sizes.includes(size)) throw new Error(`no generator drawing at ${size} px in the bundle (it has ${sizes.join(", ")})`);
  const want = size || sizes[sizes.length - 1];
  return gens.find(e => e.preprocess.size[0] === want).name;
}

export class Animator {
  constructor(pose, generator, fps, {maxPeople = 4} = {}) {
    this.pose = new PoseEstimator(pose);
    this.generator = generator;
    this.size = generator.entry.preprocess.size[0];
    this.fill = generator.entry.preprocess.fill;
    this.layout = generator.entry.preprocess.conditioning || CONDITIONING;
    this.maxPeople = maxPeople;
    this.tracker = new Tracker(fps);
    this.plate = new Plate();
    this.index = 0;
  }

  // One character: {rgba: size x size x 4 floats in [0, 1] (HWC), matrix: canvas -> frame}.
  async draw(kps, appearance) {
    const {canvas, matrix} = fitPose(kps, this.size, this.fill);
    const cond = conditioning(canvas, appearanceFromVector(appearance), this.size, this.layout);
    const [rgba] = await this.generator.run([cond], "NCHW", "NHWC");
    return {rgba, matrix};
  }

  // One RGB frame -> {drawings, people, tracks, times (ms)}; call on consecutive frames of one video or camera.
  async step(rgb) {
    const times = {}, t0 = performance.now();
    const people = framePeople(await this.pose.estimate(rgb), this.maxPeople);
    let tracks = this.tracker.update(people, this.index);
    if (tracks.length > this.maxPeople) {  // those seen in this frame first, then held ones
      const key = t => [t.lastSeen !== this.index ? 1 : 0, t.id];
      tracks = [...tracks].sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]).slice(0, this.maxPeople).sort((a, b) => a.id - b.id);
    }
    times.pose = performance.now() - t0;
    const t1 = performance.now(), drawings = [];
    for (const tr of tracks) {
      const seen = tr.lastSeen === this.index;  // a held character keeps the colours read while the person showed
      if (tr.appearance === null || (seen && (((this.index - tr.id) % APPEARANCE_EVERY) + APPEARANCE_EVERY) % APPEARANCE_EVERY === 0)) {
        const fresh = appearanceVector(extractAppearance(rgb, tr.raw));
        tr.appearance = tr.appearance === null ? fresh : fresh.map((v, i) => APPEARANCE_KEEP * tr.appearance[i] + (1 - APPEARANCE_KEEP) * v);
      }
      const b = box(tr.pose), drawing = await this.draw(tr.pose, tr.appearance);
      if (tr.opacity < 1) for (let i = 3; i < drawing.rgba.length; i += 4) drawing.rgba[i] = Math.fround(drawing.rgba[i] * Math.fround(tr.opacity));
      drawings.push({feet: b[3], id: tr.id, box: b, ...drawing});
    }
    times.generator = performance.now() - t1;
    const remove = [...people, ...tracks.filter(t => t.lastSeen !== this.index).map(t => t.pose)];  // held ones may still be there
    this.index += 1;
    return {drawings, people, remove, tracks: tracks.map(t => ({id: t.id, keypoints: t.pose, appearance: Array.from(t.appearance)})), times};
  }
}

// The background the characters are drawn on, written into `out` (same size and channels as frame); "original" with
// a plate: the frame with the people in `remove` taken out (call on consecutive frames: the plate learns).
export function backdrop(frame, out, background, {plate = null, remove = []} = {}) {
  const {width: w, height: h, channels: c} = frame;
  if (background === "original" || background === "side-by-side") {
    out.data.set(frame.data);
    return background === "original" && plate ? plate.remove(out, remove) : out;
  }
  let fill;
  if (background === "blur") {
    const rgb = c === 3 ? frame : rgbFromRgba(frame.data, w, h);
    const sh = Math.max(1, Math.floor(h / 24)), sw = Math.max(1, Math.floor(w / 24));
    fill = resizeBilinear(resizeBilinear(shrink(rgb, sh, sw), sh, sw), h, w).data;
  }
  for (let i = 0, j = 0; i < w * h; i++, j += c) {
    for (let k = 0; k < 3; k++) out.data[j + k] = fill ? Math.min(Math.max(Math.floor(fill[i * 3 + k] + 0.5), 0), 255) : PLAIN[k];
    if (c === 4) out.data[j + 3] = 255;
  }
  return out;
}

// The drawings over the background, nearer people (lower feet) in front; writes into out. removal: {plate, remove}
// (the animator's plate and the step's remove list) takes the people out of the "original" background.
export function compose(frame, drawings, out, background = "original", removal = {}) {
  backdrop(frame, out, background, removal);
  for (const d of [...drawings].sort((a, b) => a.feet - b.feet)) composite(out, d.rgba, d.matrix, Math.round(Math.sqrt(d.rgba.length / 4)));
  return out;
}

// Alpha-blend a drawing (size x size x 4 floats in [0, 1]) onto a uint8 frame in place; the matrix scales and shifts.
export function composite(frame, rgba, matrix, size) {
  const s = matrix[0][0], tx = matrix[0][2], ty = matrix[1][2], {width: w, height: h, channels: c} = frame;
  let minX = size, maxX = -1, minY = size, maxY = -1;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    if (rgba[(y * size + x) * 4 + 3] > 1 / 255) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y); }
  }
  if (maxX < 0) return;
  const x0 = Math.max(0, Math.floor((minX - 1) * s + tx)), x1 = Math.min(w, Math.ceil((maxX + 1) * s + tx) + 1);
  const y0 = Math.max(0, Math.floor((minY - 1) * s + ty)), y1 = Math.min(h, Math.ceil((maxY + 1) * s + ty) + 1);
  if (x1 <= x0 || y1 <= y0) return;
  const cols = [];
  for (let x = x0; x < x1; x++) cols.push(taps(Math.fround((Math.fround(x) - Math.fround(tx)) / Math.fround(s)), size));
  const row = new Float64Array(size * 4);
  for (let y = y0; y < y1; y++) {
    const [cy0, cy1, wy0, wy1] = taps(Math.fround((Math.fround(y) - Math.fround(ty)) / Math.fround(s)), size);
    for (let i = 0; i < size * 4; i++) row[i] = rgba[cy0 * size * 4 + i] * wy0 + rgba[cy1 * size * 4 + i] * wy1;
    for (let x = x0; x < x1; x++) {
      const [cx0, cx1, wx0, wx1] = cols[x - x0];
      const alpha = row[cx0 * 4 + 3] * wx0 + row[cx1 * 4 + 3] * wx1;
      if (!(alpha > 1 / 255)) continue;
      const a = Math.min(Math.max(alpha, 0), 1), o = (y * w + x) * c;
      for (let k = 0; k < 3; k++) {
        const colour = Math.min(Math.max(row[cx0 * 4 + k] * wx0 + row[cx1 * 4 + k] * wx1, 0), 1);
        const under = frame.data[o + k];
        frame.data[o + k] = Math.floor(under + a * (colour * 255 - under) + 0.5);
      }
    }
  }
}
