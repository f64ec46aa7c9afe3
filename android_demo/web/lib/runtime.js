// A bundle in the browser: its manifest, one entry per model for the chosen backend, and models that take and return
// float arrays in a layout the caller names. Mirrors animetool_runtime/bundle.py; everything comes from the manifest.
import {DEFAULTS} from "./blocks.js";
import {roundHalfEven} from "./image.js";

export const BACKENDS = {onnx: "onnxruntime-web", tflite: "LiteRT.js"};
// The smallest file that passed parity first, as in Python; but LiteRT.js runs .tflite fp16 files (fp16 weights
// dequantized in the graph) about 3x slower than fp32 on its wasm CPU path (benchmarks/web_demo_bench.py), so there
// fp32 comes first.
const PRECISION_ORDER = {onnx: ["int8", "fp16", "fp32"], tflite: ["int8", "fp32", "fp16"]};
const LITERT_DTYPES = new Set(["float32", "int32", "uint8"]);  // LiteRT.js 2.5 tensors; its int8 I/O files are refused

export async function loadManifest(root) {
  const res = await fetch(new URL("manifest.json", root));
  if (!res.ok) throw new Error(`${root}manifest.json: ${res.status} ${res.statusText} (not an animetool bundle?)`);
  const manifest = await res.json();
  if (manifest.schema !== 1) throw new Error(`${root}manifest.json: schema ${manifest.schema}, this app reads schema 1`);
  return withDefaults(manifest);
}

// Every entry's blocks with their missing keys at the defaults (blocks.js, written from blocks.py), as Manifest.read
// fills them; a generator exported before the conditioning block gives only its layout's version.
export function withDefaults(manifest) {
  for (const e of manifest.models) {
    const {layout, ...pre} = e.preprocess || {};
    if (layout !== undefined && !pre.conditioning) pre.conditioning = {layout};
    e.preprocess = {...DEFAULTS.preprocess, ...pre};
    if (e.preprocess.conditioning) e.preprocess.conditioning = {...DEFAULTS.conditioning, ...e.preprocess.conditioning};
    e.postprocess = {...DEFAULTS.postprocess, ...(e.postprocess || {})};
  }
  return manifest;
}

// Why an entry cannot run in this browser runtime, or "" when it can.
export function unsupported(entry, format) {
  if (entry.format !== format) return `format ${entry.format}`;
  if (format === "tflite") {
    const bad = [...entry.inputs, ...entry.outputs].find(t => !LITERT_DTYPES.has(t.dtype));
    if (bad) return `LiteRT.js has no ${bad.dtype} tensors (${entry.name} ${entry.precision} ${bad.name})`;
  }
  return "";
}

// The manifest entry to run for a model (by task or name): the chosen format, the smallest precision that passed
// parity and that the browser runtime can feed. Returns {entry, skipped: [reasons]}.
export function pickEntry(manifest, {task, name, format, precision}) {
  const cands = manifest.models.filter(e => (!task || e.task === task) && (!name || e.name === name));
  if (!cands.length) throw new Error(`bundle has no model ${name || task} (it has ${[...new Set(manifest.models.map(e => e.name))].join(", ")})`);
  const precs = precision ? [precision] : PRECISION_ORDER[format];
  const skipped = [];
  for (const p of precs) {
    for (const e of cands.filter(c => c.precision === p && c.format === format)) {
      const why = unsupported(e, format);
      if (why) skipped.push(why);
      else if (e.parity && e.parity.status === "parity-failed") skipped.push(`${e.name} ${p}: failed parity`);
      else return {entry: e, skipped};
    }
  }
  throw new Error(`bundle has no ${cands[0].name} entry that ${BACKENDS[format]} can run` + (skipped.length ? `: ${skipped.join("; ")}` : ""));
}

const ARRAYS = {float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array};

function quantize(x, spec) {
  const T = ARRAYS[spec.dtype];
  if (spec.scale == null || spec.dtype === "float32") return x instanceof T ? x : T.from(x);
  const lo = spec.dtype === "int8" ? -128 : 0, hi = spec.dtype === "int8" ? 127 : 255;
  const out = new T(x.length), scale = Math.fround(spec.scale), zp = spec.zero_point;
  for (let i = 0; i < x.length; i++) out[i] = Math.min(Math.max(roundHalfEven(Math.fround(x[i] / scale) + zp), lo), hi);
  return out;
}

function dequantize(y, spec) {
  if (spec.scale == null || y instanceof Float32Array) return Float32Array.from(y);
  const out = new Float32Array(y.length), scale = Math.fround(spec.scale);
  for (let i = 0; i < y.length; i++) out[i] = (y[i] - spec.zero_point) * scale;
  return out;
}

// Reorder a 4-D array between NCHW and NHWC; dims are the shape in the `from` layout.
export function toLayout(x, dims, from, to) {
  if (from === to) return x;
  const out = new x.constructor(x.length);
  if (from === "NCHW") {
    const [n, c, h, w] = dims, hw = h * w;
    for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let i = 0; i < hw; i++) out[(b * hw + i) * c + k] = x[(b * c + k) * hw + i];
  } else {
    const [n, h, w, c] = dims, hw = h * w;
    for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) for (let k = 0; k < c; k++) out[(b * c + k) * hw + i] = x[(b * hw + i) * c + k];
  }
  return out;
}

function shapeIn(spec, layout) {
  const s = spec.shape;
  if (spec.layout === layout || s.length !== 4) return s;
  return spec.layout === "NCHW" ? [s[0], s[2], s[3], s[1]] : [s[0], s[3], s[1], s[2]];
}

class Model {
  constructor(entry, session, format) { this.entry = entry; this.session = session; this.format = format; }

  // Float inputs in `layout` ("NCHW" or "NHWC") -> float outputs in `outLayout` (the same by default), (de)quantized
  // as the manifest says.
  async run(inputs, layout, outLayout = layout) {
    const e = this.entry;
    const feeds = inputs.map((x, i) => {
      const spec = e.inputs[i];
      const want = shapeIn(spec, layout).reduce((a, b) => a * b, 1);
      if (x.length !== want) throw new Error(`${e.name}: input ${spec.name} must have ${want} values, got ${x.length}`);
      return quantize(toLayout(x, shapeIn(spec, layout), layout, spec.layout), spec);
    });
    const raw = await this.session.run(feeds);
    return raw.map((y, i) => {
      const spec = e.outputs[i];
      return dequantize(toLayout(y, spec.shape, spec.layout, outLayout), spec);
    });
  }
}

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

// The manifest's sha256 of a file, checked like Python's Model does: a stale or corrupt file is an error, not a drawing.
async function checkSha(bytes, entry, url) {
  if (!entry.sha256 || !crypto.subtle) return;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, b => b.toString(16).padStart(2, "0")).join("");
  if (hex !== entry.sha256) throw new Error(`${url}: sha256 does not match the manifest (file changed or corrupt)`);
}

let ortModule = null, litertReady = null;  // one runtime per page, loaded once even when two models open at once

// Open one manifest entry with the browser runtime of its format. vendor: where the npm packages are served.
export async function openModel(root, entry, {vendor, threads = 1}) {
  const url = new URL(entry.file, root).href;
  const bytes = await fetchBytes(url);
  await checkSha(bytes, entry, url);
  if (entry.format === "onnx") {
    ortModule = ortModule || await import("onnxruntime-web");
    ortModule.env.wasm.wasmPaths = new URL("onnxruntime-web/dist/", vendor).href;
    ortModule.env.wasm.numThreads = threads;
    const sess = await ortModule.InferenceSession.create(bytes, {executionProviders: ["wasm"], graphOptimizationLevel: "all"});
    return new Model(entry, {
      run: async feeds => {
        const named = Object.fromEntries(entry.inputs.map((s, i) => [s.name, new ortModule.Tensor(s.dtype, feeds[i], s.shape)]));
        const out = await sess.run(named);
        return entry.outputs.map(s => out[s.name].data);
      },
    }, "onnx");
  }
  if (entry.format === "tflite") {
    litertReady = litertReady || import("@litertjs/core").then(async m => {
      await m.loadLiteRt(new URL("@litertjs/core/wasm/", vendor).href, {threads: threads > 1});
      return m;
    });
    const litertModule = await litertReady;
    const model = await litertModule.loadAndCompile(bytes, {accelerator: "wasm"});
    const order = model.getOutputDetails().map(d => d.name);
    return new Model(entry, {
      run: async feeds => {
        const tensors = feeds.map((f, i) => new litertModule.Tensor(f, entry.inputs[i].shape));
        const results = await model.run(tensors);
        const byName = Object.fromEntries(results.map((t, i) => [order[i], t.toTypedArray().slice()]));
        tensors.forEach(t => t.delete());
        results.forEach(t => t.delete());
        return entry.outputs.map((s, i) => byName[s.name] || Object.values(byName)[i]);
      },
    }, "tflite");
  }
  throw new Error(`${entry.file}: format ${entry.format} has no browser runtime here (onnx or tflite)`);
}
