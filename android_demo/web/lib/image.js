// Image pre-processing from the manifest's fields: a line-for-line mirror of animetool_runtime/image.py.
// Images are {data, height, width, channels} with data in HWC order (a Uint8Array for frames, Float64Array after maths).

export function rgbFromRgba(rgba, width, height) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    data[i] = rgba[j]; data[i + 1] = rgba[j + 1]; data[i + 2] = rgba[j + 2];
  }
  return {data, height, width, channels: 3};
}

// Half-pixel-centre bilinear resize (what torch/TF/canvases agree on).
export function resizeBilinear(img, height, width) {
  const {data, height: h, width: w, channels: c} = img;
  const out = new Float64Array(height * width * c);
  const xs0 = new Int32Array(width), xs1 = new Int32Array(width), wx = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const v = Math.min(Math.max((x + 0.5) * w / width - 0.5, 0), w - 1);
    xs0[x] = Math.floor(v); xs1[x] = Math.min(xs0[x] + 1, w - 1); wx[x] = v - xs0[x];
  }
  for (let y = 0; y < height; y++) {
    const v = Math.min(Math.max((y + 0.5) * h / height - 0.5, 0), h - 1);
    const y0 = Math.floor(v), y1 = Math.min(y0 + 1, h - 1), wy = v - y0;
    for (let x = 0; x < width; x++) {
      const a = (y0 * w + xs0[x]) * c, b = (y0 * w + xs1[x]) * c, d = (y1 * w + xs0[x]) * c, e = (y1 * w + xs1[x]) * c;
      const o = (y * width + x) * c;
      for (let k = 0; k < c; k++) {
        const top = data[a + k] * (1 - wx[x]) + data[b + k] * wx[x];
        const bottom = data[d + k] * (1 - wx[x]) + data[e + k] * wx[x];
        out[o + k] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return {data: out, height, width, channels: c};
}

// Halve by 2x2 (or 4x4) block means while still at least twice the target size, so thin limbs do not alias.
export function shrink(img, height, width) {
  while (img.height >= 2 * height && img.width >= 2 * width) {
    const k = img.height >= 4 * height && img.width >= 4 * width ? 4 : 2;
    const oh = Math.floor(img.height / k), ow = Math.floor(img.width / k), c = img.channels, w = img.width;
    const out = new Float64Array(oh * ow * c), inv = 1 / (k * k);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ch = 0; ch < c; ch++) {
          let total = 0;
          for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) total += img.data[((y * k + dy) * w + x * k + dx) * c + ch];
          out[(y * ow + x) * c + ch] = Math.fround(total * inv);
        }
      }
    }
    img = {data: out, height: oh, width: ow, channels: c};
  }
  return img;
}

// (sx, sy, px, py) taking image pixel centres to model input pixels: u = (x + 0.5) * sx - 0.5 + px.
export function inputTransform(h, w, spec) {
  const [inH, inW] = spec.size;
  if (spec.resize !== "letterbox") return [inW / w, inH / h, 0, 0];
  const s = Math.min(inH / h, inW / w);
  const nh = Math.max(1, roundHalfEven(h * s)), nw = Math.max(1, roundHalfEven(w * s));
  return [nw / w, nh / h, Math.floor((inW - nw) / 2), Math.floor((inH - nh) / 2)];
}

// Model-input pixel coordinates back to the image's pixels; points are [x, y, ...rest] arrays.
export function toImageCoords(points, h, w, spec) {
  const [sx, sy, px, py] = inputTransform(h, w, spec);
  return points.map(p => [(p[0] - px + 0.5) / sx - 0.5, (p[1] - py + 0.5) / sy - 0.5, ...p.slice(2)]);
}

// RGB frame -> float input in HWC order (1 x H x W x 3 once the runtime lays it out), as the manifest says.
export function preprocess(rgb, spec) {
  const [inH, inW] = spec.size;
  const [sx, sy, px, py] = inputTransform(rgb.height, rgb.width, spec);
  const nh = roundHalfEven(rgb.height * sy), nw = roundHalfEven(rgb.width * sx);
  const x = resizeBilinear(shrink(rgb, nh, nw), nh, nw);
  const [lo, hi] = spec.range, {mean, std, pad_value: pad} = spec;
  const out = new Float32Array(inH * inW * 3);
  for (let y = 0; y < inH; y++) {
    for (let xx = 0; xx < inW; xx++) {
      const sy0 = y - py, sx0 = xx - px, inside = sy0 >= 0 && sy0 < nh && sx0 >= 0 && sx0 < nw;
      for (let k = 0; k < 3; k++) {
        const v = Math.fround(inside ? x.data[(sy0 * nw + sx0) * 3 + k] : pad);
        out[(y * inW + xx) * 3 + k] = ((v / 255) * (hi - lo) + lo - Math.fround(mean[k % mean.length])) / Math.fround(std[k % std.length]);
      }
    }
  }
  return out;
}

// Bilinear taps along one axis with zero weight outside [0, size): [i0, i1, w0, w1], like image.taps(border="zero").
export function taps(coord, size) {
  const i = Math.floor(coord), w1 = coord - i;
  const w0 = (1 - w1) * (i >= 0 && i < size ? 1 : 0), w1z = w1 * (i >= -1 && i < size - 1 ? 1 : 0);
  const clamp = v => Math.min(Math.max(v, 0), size - 1);
  return [clamp(i), clamp(i + 1), w0, w1z];
}

// Python's round() and numpy's rint: halves go to the even neighbour.
export function roundHalfEven(x) {
  const r = Math.round(x);
  return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
}
