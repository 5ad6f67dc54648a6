// Follow of a live recording and the input pane, for
// tests/tests/web_browser.rs (browser_follow_live_recording_and_input_pane).
// Input: one JSON argument. While the page follows, this script appends
// the recording's next messages and runs `tlog-rs index`, as the central
// host's index timer would. Each check prints "ok NAME"; the first failure
// prints "FAIL NAME: why" and exits 1.

import { appendFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2]);
const base = cfg.base;

function check(name, cond, why) {
  if (!cond) {
    console.log(`FAIL ${name}: ${why}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ["--no-sandbox"],
});

const screen = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n"),
  );

// Waits (bounded) until the player's screen shows `text`.
async function shows(page, text, ms) {
  try {
    await page.waitForFunction(
      (t) => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes(t),
      text,
      { timeout: ms },
    );
    return true;
  } catch {
    return false;
  }
}

// The player's time once near `want` (a click's seek is asynchronous, and
// after a follow the new player loads first); the last seen after 5 s.
async function timeNear(page, want) {
  let t = -1;
  for (let i = 0; i < 50 && Math.abs(t - want) >= 0.6; i++) {
    if (i > 0) await page.waitForTimeout(100);
    t = await page.evaluate(() => window.tlogPlayer.getCurrentTime());
  }
  return t;
}

try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`console error: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() === 404) console.log(`404: ${r.url()}`);
  });
  await page.goto(`${base}/`);
  await page.fill("input[name=user]", cfg.user);
  await page.fill("input[name=password]", cfg.password);
  await Promise.all([page.waitForNavigation(), page.click("#login button")]);
  check("login", !page.url().endsWith("/login"), page.url());

  // A complete recording has no follow control.
  const done = await page.goto(`${base}/r/${cfg.doneHost}/${cfg.doneRec}`);
  check("complete recording page", done.status() === 200, `status ${done.status()}`);
  check("a complete recording offers no follow", (await page.$("#follow")) === null, "a #follow button");

  // Out of scope or made up: the live stream is 404 like the rest.
  const other = await page.request.get(`${base}/r/${cfg.host}/${cfg.otherRec}/live`);
  check("follow of an unknown recording is 404", other.status() === 404, `status ${other.status()}`);

  for (const path of ["", "/live"]) {
    const r = await page.request.get(`${base}/r/${cfg.host}/${cfg.bobRec}${path}`);
    check(`another user's live recording${path} is 404`, r.status() === 404, `status ${r.status()}`);
  }
  const url = `${base}/r/${cfg.host}/${cfg.liveRec}`;
  const resp = await page.goto(url);
  check("live recording page", resp.status() === 200, `status ${resp.status()}`);
  check("an incomplete recording offers follow", (await page.$("#follow")) !== null, "no #follow button");

  // Input apart from output: the typed line is in the input pane, with its
  // time, and a click seeks there; the screen never shows it.
  const pane = await page.textContent("#commands");
  check("input pane lists the typed line", pane.includes(cfg.secret), pane);
  check("input pane gives its time", pane.includes("+1.500s"), pane);
  await page.click("#commands button[data-t]");
  const t = await timeNear(page, 1.5);
  check("an input click seeks", Math.abs(t - 1.5) < 0.6, `at ${t}`);
  await page.evaluate(() => window.tlogPlayer.play());
  await shows(page, "follow-part-one", 10000);
  await page.waitForTimeout(2500);
  const s0 = await screen(page);
  check("the recording plays", s0.includes("follow-part-one"), s0);
  check("typed input is not on the screen", !s0.includes(cfg.secret), s0);

  // Follow: the screen so far, then what is appended and indexed.
  await page.click("#follow");
  check("follow: the state says so", (await page.textContent("#follow-state")).startsWith("following"), await page.textContent("#follow-state"));
  check("follow: the screen so far", await shows(page, "follow-part-one", 10000), await screen(page));
  check("follow: not yet written text is absent", !(await screen(page)).includes("follow-part-two"), await screen(page));
  appendFileSync(cfg.append.file, cfg.append.text);
  execFileSync(cfg.index[0], cfg.index.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
  check("follow: appended output appears", await shows(page, "follow-part-three", 15000), await screen(page));
  const s1 = await screen(page);
  check("follow: the earlier output stays", s1.includes("follow-part-one") && s1.includes("follow-part-two"), s1);
  check("follow: typed input is still not on the screen", !s1.includes(cfg.secret), s1);

  // The end entry arrives and is indexed: the follow ends.
  appendFileSync(cfg.end.file, cfg.end.text);
  execFileSync(cfg.index[0], cfg.index.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
  let ended = true;
  try {
    await page.waitForFunction(
      () => document.getElementById("follow-state").textContent === "the recording has ended",
      null,
      { timeout: 15000 },
    );
  } catch {
    ended = false;
  }
  check("follow: ends with the recording", ended, await page.textContent("#follow-state"));
  check("follow: the screen stays", (await screen(page)).includes("follow-part-three"), await screen(page));

  // Stop following: back to the recording's playback.
  await page.click("#follow");
  check("stop following", (await page.evaluate(() => window.tlogFollowing)) === false, "still following");
  check("speed is back", !(await page.isDisabled("#speed")), "#speed disabled");
  // Following again, an input click leaves the follow and seeks.
  await page.click("#follow");
  check("follow again, speed off", await page.isDisabled("#speed"), "#speed enabled while following");
  await page.click("#commands button[data-t]");
  const t2 = await timeNear(page, 1.5);
  check(
    "an input click leaves the follow and seeks",
    (await page.evaluate(() => window.tlogFollowing)) === false && Math.abs(t2 - 1.5) < 0.6,
    `following ${await page.evaluate(() => window.tlogFollowing)}, at ${t2}`,
  );

  console.log("all checks passed");
} catch (e) {
  console.log(`FAIL exception: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
