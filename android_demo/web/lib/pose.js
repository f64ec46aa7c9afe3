// Frame in, people out: mirrors animetool_runtime/pose (estimator.py, multipose.py, decode.py).
// Maps are {data: Float32Array, shape: [n, c, h, w]} in NCHW, as the Python decoders read them.
import {preprocess, toImageCoords} from "./image.js";

const DECODERS = ["heatmap-argmax", "multipose"];

// Local maxima of channel ch of an NCHW map (3x3 non-maximum suppression) above threshold, best first, at most k.
export function peaks(map, ch, threshold, k) {
  const [, , h, w] = map.shape, base = ch * h * w, d = map.data, found = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = d[base + y * w + x];
      if (!(v > threshold)) continue;
      let best = true;
      for (let dy = -1; dy <= 1 && best; dy++) for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w && d[base + yy * w + xx] > v) { best = false; break; }
      }
      if (best) found.push([y, x, v]);
    }
  }
  return found.sort((a, b) => b[2] - a[2]).slice(0, k);
}

// MoveNet's decoding: each centre peak regresses 17 keypoints, each snapped to the strongest nearby peak of its heatmap
// (heatmap / (distance + 1.8)) and refined by the sub-cell offset there. Returns people as arrays of 17 [x, y, score].
export function decodeMultipose(centers, heatmaps, regression, offsets, stride, threshold = 0.3, maxPeople = 6) {
  const [, k, h, w] = heatmaps.shape, hw = h * w, f = Math.fround;
  const hm = heatmaps.data, reg = regression.data, off = offsets.data;
  return peaks(centers, 0, threshold, maxPeople).map(([cy, cx]) => {
    const kps = [];
    for (let j = 0; j < k; j++) {
      const rx = f(f(cx + 0.5) + reg[(2 * j) * hw + cy * w + cx]), ry = f(f(cy + 0.5) + reg[(2 * j + 1) * hw + cy * w + cx]);
      let best = -Infinity, bi = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const dx = f(f(x + 0.5) - rx), dy = f(f(y + 0.5) - ry);
          const score = f(hm[j * hw + y * w + x] / f(f(Math.sqrt(f(f(dx * dx) + f(dy * dy)))) + 1.8));
          if (score > best) { best = score; bi = y * w + x; }
        }
      }
      const y = Math.floor(bi / w), x = bi % w;
      kps.push([f((x + off[(2 * j) * hw + bi]) * stride - 0.5), f((y + off[(2 * j + 1) * hw + bi]) * stride - 0.5), hm[j * hw + bi]]);
    }
    return kps;
  });
}

// Single-person heatmaps: argmax plus a quarter-pixel shift toward the higher neighbour.
export function decodeHeatmaps(heatmaps, stride) {
  const [, k, h, w] = heatmaps.shape, d = heatmaps.data, kps = [];
  for (let j = 0; j < k; j++) {
    let bi = 0;
    for (let i = 1; i < h * w; i++) if (d[j * h * w + i] > d[j * h * w + bi]) bi = i;
    const y = Math.floor(bi / w), x = bi % w, at = (yy, xx) => d[j * h * w + yy * w + xx];
    let fx = x, fy = y;
    if (x > 0 && x < w - 1) fx += 0.25 * Math.sign(at(y, x + 1) - at(y, x - 1));
    if (y > 0 && y < h - 1) fy += 0.25 * Math.sign(at(y + 1, x) - at(y - 1, x));
    kps.push([(fx + 0.5) * stride - 0.5, (fy + 0.5) * stride - 0.5, d[j * h * w + bi]]);
  }
  return [kps];
}

export class PoseEstimator {
  constructor(model) {
    const post = model.entry.postprocess;
    if (!DECODERS.includes(post.decoder)) throw new Error(`${model.entry.name}: decoder ${post.decoder} is not one of ${DECODERS.join(", ")}`);
    this.model = model; this.entry = model.entry; this.post = post;
  }

  // The model's outputs for a frame as NCHW maps.
  async maps(rgb) {
    const outs = await this.model.run([preprocess(rgb, this.entry.preprocess)], "NHWC", "NCHW");
    return outs.map((data, i) => {
      const s = this.entry.outputs[i].shape;
      return {data, shape: this.entry.outputs[i].layout === "NCHW" ? s : [s[0], s[3], s[1], s[2]]};
    });
  }

  decode(maps) {
    if (this.post.decoder === "heatmap-argmax") return decodeHeatmaps(maps[0], this.post.stride);
    const named = Object.fromEntries(this.entry.outputs.map((s, i) => [s.name, maps[i]]));
    return decodeMultipose(named.centers, named.heatmaps, named.regression, named.offsets, this.post.stride,
      this.post.center_threshold, this.post.max_people);
  }

  // RGB frame -> people, each 17 [x, y, score] in frame pixels.
  async estimate(rgb) {
    const people = this.decode(await this.maps(rgb));
    return people.map(p => toImageCoords(p, rgb.height, rgb.width, this.entry.preprocess));
  }
}
