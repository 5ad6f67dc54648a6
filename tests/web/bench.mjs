// Browser benchmark of `tlog-rs web`, for tests/tests/web_bench.rs (run by
// bench/web.sh). Input: one JSON argument (base URL, login, the large
// recording and its seek targets with the emulator's screen at each).
// Prints figures; "bench done" at the end; exits 1 on an error.

import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2]);
const base = cfg.base;

// p50 / p95 / max of ms values.
function stats(v) {
  const s = [...v].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length, Math.max(1, Math.ceil(s.length * q))) - 1];
  return { p50: at(0.5), p95: at(0.95), max: s[s.length - 1] };
}
const f = (x) => x.toFixed(1).padStart(7);

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ["--no-sandbox"],
});

// Navigation timing of a page load: time to first byte (the server) and
// to DOMContentLoaded (the page ready), both from the navigation's start.
async function load(page, url) {
  const r = await page.goto(url, { waitUntil: "domcontentloaded" });
  if (r.status() !== 200) throw new Error(`${url}: status ${r.status()}`);
  return page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return { ttfb: n.responseStart - n.startTime, ready: n.domContentLoadedEventEnd - n.startTime };
  });
}

try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${base}/`);
  await page.fill("input[name=user]", cfg.user);
  await page.fill("input[name=password]", cfg.password);
  await Promise.all([page.waitForNavigation(), page.click("#login button")]);
  if (new URL(page.url()).pathname !== "/") throw new Error(`login failed: ${page.url()}`);

  // (a) The list page, against a static asset loaded the same way.
  const count = await page.textContent("#count");
  if (!count.startsWith(`${cfg.total} recordings`)) throw new Error(`list count: ${count}`);
  const rows = await page.$$eval("#recordings tr.rec", (t) => t.length);
  if (rows !== 50) throw new Error(`list rows: ${rows}`);
  const pages = [
    ["static asset /static/app.css", `${base}/static/app.css`],
    ["list page 0, newest first", `${base}/`],
    ["list page 150, by user", `${base}/?sort=user&page=150`],
    ["list, user filter", `${base}/?user=user7`],
  ];
  console.log(`list of ${cfg.total} recordings, 50 per page, ${cfg.listRuns} loads each (ms from navigation start):`);
  let baseline = null;
  for (const [name, url] of pages) {
    const ttfb = [];
    const ready = [];
    await load(page, url); // warm-up, not counted
    for (let i = 0; i < cfg.listRuns; i++) {
      const t = await load(page, url);
      ttfb.push(t.ttfb);
      ready.push(t.ready);
    }
    const a = stats(ttfb);
    const b = stats(ready);
    baseline ??= b.p50;
    console.log(
      `  ${name.padEnd(30)} first byte p50 ${f(a.p50)} p95 ${f(a.p95)}   DOM ready p50 ${f(b.p50)} p95 ${f(b.p95)} max ${f(b.max)}` +
        (baseline === b.p50 ? "" : `  (${(b.p50 / baseline).toFixed(1)}x the static asset)`),
    );
  }

  // (b) Seeks in the large recording: from seek() until the player's
  // screen equals the emulator's, polled in the page (no round trip).
  const rec = `${base}/r/${cfg.host}/${cfg.rec}`;
  const open = await load(page, rec);
  console.log(`recording page: DOM ready ${open.ready.toFixed(1)} ms`);
  await page.waitForFunction(() => window.tlogPlayer !== undefined, null, { timeout: 30000 });
  const seekTo = (arg) =>
    page.evaluate(async ({ at, screen, limit }) => {
      const want = JSON.stringify(screen);
      const rows = () => {
        const r = [...document.querySelectorAll("#player .ap-line")].map((l) =>
          l.textContent.replace(/\u00a0/g, " ").trimEnd(),
        );
        while (r.length && r[r.length - 1] === "") r.pop();
        return r;
      };
      const s = performance.now();
      window.tlogPlayer.seek(at);
      for (;;) {
        if (JSON.stringify(rows()) === want) return { ms: performance.now() - s, ok: true };
        if (performance.now() - s > limit) return { ms: performance.now() - s, ok: false, got: rows() };
        await new Promise((r) => setTimeout(r, 0));
      }
    }, arg);
  // The player loads its segment index on the first seek: timed apart.
  const first = await seekTo({ ...cfg.seeks[0], limit: 30000 });
  console.log(`first seek (player loads index.json): ${first.ms.toFixed(1)} ms${first.ok ? "" : " FAILED"}`);
  const times = [];
  const failed = [];
  for (const s of cfg.seeks) {
    const r = await seekTo({ ...s, limit: 5000 });
    if (r.ok) times.push(r.ms);
    else failed.push(`${s.at}: want ${JSON.stringify(s.screen.slice(0, 3))}... got ${JSON.stringify((r.got || []).slice(0, 3))}...`);
  }
  if (times.length) {
    const st = stats(times);
    console.log(
      `seek in the recording: ${times.length} of ${cfg.seeks.length} seeks show the emulator's screen: p50 ${f(st.p50)} ms, p95 ${f(st.p95)} ms, max ${f(st.max)} ms`,
    );
  }
  for (const x of failed) console.log(`  seek failed (screen differs after 5 s) at ${x}`);

  // (c) The whole recording streamed through the player's plain source
  // (asciicast made on the fly), read to the end, while RSS is sampled.
  const s = performance.now();
  const bytes = await page.evaluate(async (url) => {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`cast: ${r.status}`);
    const rd = r.body.getReader();
    let n = 0;
    for (;;) {
      const { done, value } = await rd.read();
      if (done) return n;
      n += value.length;
    }
  }, `${rec}/cast`);
  console.log(`whole recording as asciicast: ${(bytes / 1e6).toFixed(0)} MB in ${((performance.now() - s) / 1000).toFixed(1)} s`);
  if (failed.length) process.exitCode = 1;
  console.log("bench done");
} catch (e) {
  console.log(`FAIL exception: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
