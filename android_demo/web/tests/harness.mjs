// Drives the web app in headless Chromium (Debian's /usr/bin/chromium through playwright-core) with a phone profile.
// node harness.mjs '<json>' where json = {url, mode: "parity"|"camera", backend, size, frames: [paths], width, height,
// camera: y4m path, video: mp4 path for the file button, screenshot: png path, measure_s: seconds of FPS
// measurement, background, out: json path}. Writes its findings to `out` and prints `N passed, N failed`.
import {readFileSync, writeFileSync} from "node:fs";
import {chromium, devices} from "playwright-core";

const args = JSON.parse(process.argv[2]);
const checks = [];
const check = (name, ok, detail = "") => checks.push({name, ok: !!ok, detail});
const flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream"];
if (args.camera) flags.push("--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${args.camera}`);

const browser = await chromium.launch({executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: flags});
// parity feeds frames through page.route, which never sees what a service worker fetches: no worker there
const context = await browser.newContext({...devices["Pixel 7"], permissions: ["camera"],
  serviceWorkers: args.mode === "parity" ? "block" : "allow"});
const page = await context.newPage();
const logs = [];
page.on("console", m => logs.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", e => logs.push(`pageerror: ${e.message}`));
const result = {checks, logs};

try {
  if (args.mode === "parity") {
    // The same lib/ modules the app runs, fed exact RGB frames (no video decoder in between), so the numbers can be
    // compared with the Python runtime's on the same frames.
    await page.route("**/frames/*", route => route.fulfill({body: readFileSync(args.frames[Number(route.request().url().split("/").pop())]),
      contentType: "application/octet-stream"}));
    await page.goto(`${args.url}index.html?backend=${args.backend}&size=${args.size}`);
    result.frames = await page.evaluate(async ({n, width, height, backend, size}) => {
      await window.animetool.ready;
      if (window.animetool.error) throw new Error(window.animetool.error);
      const {Animator, compose} = await import("./lib/animator.js");
      const animator = new Animator(window.animetool.animator.pose.model, window.animetool.animator.generator, 30);
      const b64 = a => { let s = ""; const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); for (let i = 0; i < u.length; i += 32768) s += String.fromCharCode(...u.subarray(i, i + 32768)); return btoa(s); };
      const frames = [];
      for (let i = 0; i < n; i++) {
        const res = await fetch(`frames/${i}`);
        if (!res.ok) throw new Error(`frames/${i}: ${res.status}`);
        const data = new Uint8Array(await res.arrayBuffer());
        const frame = {data, width, height, channels: 3};
        const r = await animator.step(frame);
        const out = compose(frame, r.drawings, {data: new Uint8Array(data.length), width, height, channels: 3}, "original",
          {plate: animator.plate, remove: r.remove});
        frames.push({people: r.people, tracks: r.tracks, drawings: r.drawings.map(d => ({id: d.id, matrix: d.matrix, rgba: b64(d.rgba)})),
          composite: b64(out.data)});
      }
      return {models: window.animetool.models, skipped: window.animetool.skipped, frames};
    }, {n: args.frames.length, width: args.width, height: args.height, backend: args.backend, size: args.size});
    check("parity frames ran", result.frames.frames.length === args.frames.length);
  } else {
    // The app as a phone user gets it: the (fake) camera, the backend switch, the FPS readout, then offline.
    await page.goto(`${args.url}index.html?backend=${args.backend}&size=${args.size}&source=camera&background=${args.background || "original"}${args.precision ? `&precision=${args.precision}` : ""}`);
    await page.waitForFunction(() => window.animetool.error || (window.animetool.frames >= 8 && window.animetool.people >= 1), null, {timeout: 240000});
    const state = await page.evaluate(() => ({error: window.animetool.error, frames: window.animetool.frames, fps: window.animetool.fps,
      people: window.animetool.people, models: window.animetool.models, readout: document.getElementById("fps").textContent,
      canvas: [document.getElementById("out").width, document.getElementById("out").height]}));
    Object.assign(result, {state});
    check("no error", !state.error, state.error);
    check("frames from the camera", state.frames >= 8, state.frames);
    check("people found", state.people >= 1, state.people);
    check("FPS readout", /^\d+\.\d FPS/.test(state.readout), state.readout);
    if (args.measure_s) {  // frames per second of wall time over a window, after the first frames warmed up
      const count = () => page.evaluate(() => [window.animetool.frames, performance.now()]);
      const [f0, t0] = await count();
      await page.waitForTimeout(args.measure_s * 1000);
      const [f1, t1] = await count();
      result.measured = {frames: f1 - f0, seconds: (t1 - t0) / 1000, fps: (f1 - f0) / ((t1 - t0) / 1000)};
    }
    await page.screenshot({path: args.screenshot});
    if (args.video) {  // the "Video file" button: a real mp4 through the page's own decoder
      const before = await page.evaluate(() => window.animetool.frames);
      await page.setInputFiles("#file", args.video);
      await page.waitForFunction(n => window.animetool.error || (document.getElementById("video").currentSrc.startsWith("blob:")
        && window.animetool.frames >= n + 5 && window.animetool.people >= 1), before, {timeout: 120000});
      const file = await page.evaluate(() => ({error: window.animetool.error, src: document.getElementById("video").currentSrc,
        people: window.animetool.people}));
      check("animates a chosen video file", !file.error && file.src.startsWith("blob:") && file.people >= 1, JSON.stringify(file));
    }
    // Offline once loaded: the service worker answers the reload with no network at all.
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.reload();
    await page.evaluate(() => window.animetool.ready);
    await context.setOffline(true);
    await page.reload();
    await page.waitForFunction(() => window.animetool.error || window.animetool.frames >= 3, null, {timeout: 120000});
    const offline = await page.evaluate(() => ({error: window.animetool.error, frames: window.animetool.frames}));
    check("runs offline after the first load", !offline.error && offline.frames >= 3, JSON.stringify(offline));
  }
} catch (e) {
  check("harness", false, String(e && e.stack || e));
} finally {
  await browser.close();
}
writeFileSync(args.out, JSON.stringify(result));
const failed = checks.filter(c => !c.ok);
for (const c of failed) console.log(`FAILED ${c.name}: ${c.detail}`);
console.log(`${checks.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
