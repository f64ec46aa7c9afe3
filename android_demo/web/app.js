// The phone demo: camera or video file -> pose -> one anime character per person -> canvas, all in the browser.
// URL parameters (for links and tests): bundle=URL of a bundle folder (default ./bundle/), backend=onnx|tflite,
// background=original|side-by-side|plain|blur, size=128|256, precision=int8|fp16|fp32, source=camera, maxPeople=K.
import {Animator, compose, generatorName} from "./lib/animator.js";
import {rgbFromRgba} from "./lib/image.js";
import {loadManifest, openModel, pickEntry} from "./lib/runtime.js";

const params = new URLSearchParams(location.search);
const $ = id => document.getElementById(id);
const bundleRoot = new URL(params.get("bundle") || "bundle/", location.href).href;
const vendor = new URL("node_modules/", location.href).href;
const state = {manifest: null, animator: null, running: false, frames: 0, fps: 0, people: 0, error: "", models: {}, skipped: []};
window.animetool = state;  // read by the tests and handy in a debugger

const status = text => { $("status").textContent = text; };

function fail(e) {
  state.error = String(e && e.message || e);
  status(`error: ${state.error}`);
  console.error(e);
}

// (Re)build the animator for the chosen backend: the pose model and the generator, each the best entry it can run.
async function build() {
  state.animator = null;
  state.manifest = state.manifest || await loadManifest(bundleRoot);
  const format = $("backend").value, size = Number(params.get("size")) || null, precision = params.get("precision");
  const pose = pickEntry(state.manifest, {task: "pose", format, precision});
  const gen = pickEntry(state.manifest, {name: generatorName(state.manifest, size), format, precision});
  state.skipped = [...new Set([...pose.skipped, ...gen.skipped])];
  status(`loading ${pose.entry.file} and ${gen.entry.file}…`);
  const [p, g] = await Promise.all([openModel(bundleRoot, pose.entry, {vendor}), openModel(bundleRoot, gen.entry, {vendor})]);
  state.models = {pose: `${p.entry.name}/${format}/${p.entry.precision}`, generator: `${g.entry.name}/${format}/${g.entry.precision}`};
  state.animator = new Animator(p, g, 30, {maxPeople: Number(params.get("maxPeople")) || 4});
  status(`${state.models.pose} + ${state.models.generator}` + (state.skipped.length ? ` (skipped: ${state.skipped.join("; ")})` : ""));
}

async function startCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "user", width: {ideal: 1280}, height: {ideal: 720}}, audio: false});
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  loop();
}

async function startFile(file) {
  const video = $("video");
  video.srcObject = null;
  video.src = URL.createObjectURL(file);
  await video.play();
  loop();
}

// One frame at a time: grab the video's current picture, animate it, show it; the FPS readout is frames over wall time.
async function loop() {
  if (state.running) return;
  state.running = true;
  const video = $("video"), out = $("out"), grab = document.createElement("canvas");
  const gctx = grab.getContext("2d", {willReadFrequently: true}), octx = out.getContext("2d");
  let last = performance.now(), target = null;
  while (state.running) {
    await new Promise(r => setTimeout(r, 0));  // let the page breathe: the runtimes may resolve without a task boundary
    if (!state.animator || video.readyState < 2 || !video.videoWidth) { await new Promise(r => setTimeout(r, 30)); continue; }
    const w = video.videoWidth, h = video.videoHeight, side = $("background").value === "side-by-side";
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    if (out.width !== w * (side ? 2 : 1) || out.height !== h) { out.width = w * (side ? 2 : 1); out.height = h; }
    gctx.drawImage(video, 0, 0, w, h);
    const pixels = gctx.getImageData(0, 0, w, h);
    try {
      const animator = state.animator, result = await animator.step(rgbFromRgba(pixels.data, w, h));
      if (animator !== state.animator) continue;  // the backend changed while this frame ran
      if (!target || target.width !== w || target.height !== h) target = octx.createImageData(w, h);
      compose({data: pixels.data, width: w, height: h, channels: 4}, result.drawings,
        {data: target.data, width: w, height: h, channels: 4}, $("background").value, {plate: animator.plate, remove: result.remove});
      if (side) octx.putImageData(pixels, 0, 0);
      octx.putImageData(target, side ? w : 0, 0);
      state.people = result.tracks.length;
    } catch (e) { fail(e); state.running = false; return; }
    const now = performance.now();
    state.frames += 1;
    state.fps = state.fps ? 0.9 * state.fps + 0.1 * 1000 / (now - last) : 1000 / (now - last);
    last = now;
    $("fps").textContent = `${state.fps.toFixed(1)} FPS · ${state.people} ${state.people === 1 ? "person" : "people"}`;
  }
}

$("camera").onclick = () => startCamera().catch(fail);
$("pick").onclick = () => $("file").click();
$("file").onchange = e => e.target.files[0] && startFile(e.target.files[0]).catch(fail);
$("backend").onchange = () => build().catch(fail);
for (const key of ["backend", "background"]) if (params.get(key)) $(key).value = params.get(key);

// offline once loaded (the APK serves everything from its assets already, so it needs no worker)
const inApk = location.host === "appassets.androidplatform.net";
if ("serviceWorker" in navigator && window.isSecureContext && !inApk) navigator.serviceWorker.register("sw.js").catch(() => {});
state.ready = build().then(() => params.get("source") === "camera" ? startCamera() : null).catch(fail);
