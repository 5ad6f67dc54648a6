// Drives Debian's chromium (headless, through playwright-core; no browser
// download) against a running `tlog-rs web`, for tests/tests/web_browser.rs.
// Input: one JSON argument (base URL, users, recordings, screenshot path).
// Each check prints "ok NAME"; the first failure prints "FAIL NAME: why"
// and exits 1.

import { createHash } from "node:crypto";
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
  // Root in a container: chromium's sandbox needs user namespaces it may not get.
  args: ["--no-sandbox"],
});

async function session() {
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
  });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`console error: ${m.text()}`);
  });
  return { ctx, page };
}

async function login(page, user, password) {
  await page.goto(`${base}/`);
  check(`${user}: unauthenticated / goes to the login`, page.url().endsWith("/login"), page.url());
  await page.fill("input[name=user]", user);
  await page.fill("input[name=password]", password);
  const [resp] = await Promise.all([
    page.waitForNavigation(),
    page.click("#login button"),
  ]);
  return resp;
}

async function rows(page) {
  return page.$$eval("#recordings tr.rec", (trs) => trs.map((t) => t.dataset.rec));
}

try {
  // --- wrong password, then login ---
  const a = await session();
  let resp = await login(a.page, cfg.alice.user, "wrong-password");
  check("wrong password is refused", resp.status() === 401, `status ${resp.status()}`);
  check(
    "wrong password shows an error",
    (await a.page.textContent("#login-error")).includes("Wrong user name or password"),
    "no error text",
  );
  // The login form without its CSRF token is refused.
  const noCsrf = await a.ctx.request.post(`${base}/login`, {
    form: { user: cfg.alice.user, password: cfg.alice.password, csrf: "" },
    maxRedirects: 0,
  });
  check("login POST without CSRF token is rejected", noCsrf.status() === 403, `status ${noCsrf.status()}`);

  resp = await login(a.page, cfg.alice.user, cfg.alice.password);
  check("login lands on the list", new URL(a.page.url()).pathname === "/", a.page.url());
  check(
    "the header names the canonical user",
    (await a.page.textContent("#whoami")).trim() === cfg.alice.user,
    await a.page.textContent("#whoami"),
  );
  const cookies = await a.ctx.cookies();
  const sc = cookies.find((c) => c.name === "tlogrs_session");
  check(
    "session cookie is HttpOnly, Secure, SameSite=Strict",
    sc && sc.httpOnly && sc.secure && sc.sameSite === "Strict",
    JSON.stringify(sc),
  );
  const csp = resp.headers()["content-security-policy"] || "";
  check("strict CSP", csp.includes("default-src 'none'") && !csp.includes("unsafe-inline"), csp);

  // --- list: only alice's own recordings ---
  const mine = await rows(a.page);
  check(
    "list shows exactly alice's recordings",
    JSON.stringify([...mine].sort()) === JSON.stringify([...cfg.alice.recs].sort()),
    `${mine} vs ${cfg.alice.recs}`,
  );
  // Asking for bob's recordings as alice gives nothing.
  await a.page.goto(`${base}/?user=${cfg.bob.user}`);
  check("a user filter cannot widen the ACL", (await rows(a.page)).length === 0, await rows(a.page));

  // --- filters in the URL: text and command ---
  await a.page.goto(`${base}/`);
  await a.page.fill("input[name=text]", cfg.alice.text);
  await Promise.all([a.page.waitForNavigation(), a.page.click("#filters button")]);
  check(
    "text filter is in the URL",
    new URL(a.page.url()).searchParams.get("text") === cfg.alice.text,
    a.page.url(),
  );
  const byText = await rows(a.page);
  check("text filter finds the one recording", JSON.stringify(byText) === JSON.stringify([cfg.alice.textRec]), `${byText}`);
  await a.page.goto(`${base}/?command=${encodeURIComponent(cfg.alice.command)}`);
  const byCmd = await rows(a.page);
  check("command filter", JSON.stringify(byCmd) === JSON.stringify([cfg.alice.textRec]), `${byCmd}`);
  await a.page.goto(`${base}/?text=no-such-phrase-anywhere`);
  check("text filter without match", (await rows(a.page)).length === 0, "rows found");

  // --- open and play ---
  await a.page.goto(`${base}/`);
  await Promise.all([
    a.page.waitForNavigation(),
    a.page.click(`#recordings tr[data-rec="${cfg.alice.textRec}"] a`),
  ]);
  check("recording page opens", a.page.url().includes(`/r/`), a.page.url());
  await a.page.waitForFunction(() => window.tlogPlayer && window.tlogPlayer.getDuration() > 0, null, {
    timeout: 20000,
  });
  const duration = await a.page.evaluate(() => window.tlogPlayer.getDuration());
  check("player knows the duration", duration > 0, `${duration}`);
  await a.page.evaluate(() => window.tlogPlayer.play());
  await a.page.waitForFunction(
    (t) => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes(t),
    cfg.alice.text,
    { timeout: 30000 },
  );
  check("playing shows the recorded screen", true, "");

  // --- commands pane: a click seeks, forward and back ---
  const buttons = await a.page.$$("#commands button[data-t]");
  check("commands pane lists the input lines", buttons.length === 4, `${buttons.length}`);
  const times = [];
  for (const b of buttons) times.push(Number(await b.getAttribute("data-t")));
  check("commands have their own times", times[3] - times[0] >= 2, `${times}`);
  await a.page.evaluate(() => window.tlogPlayer.pause());
  for (const i of [2, 0, 3]) {
    await buttons[i].click();
    await a.page.waitForFunction(
      (t) => Math.abs(window.tlogPlayer.getCurrentTime() - t) < 0.5,
      times[i],
      { timeout: 10000 },
    );
    check(`command click seeks the player to ${times[i]}`, true, "");
  }
  await a.page.waitForFunction(
    () => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes("echo done"),
    null,
    { timeout: 10000 },
  );
  check("the screen after a seek shows what came before", true, "");

  // --- speed (re-creates the player at the same time) ---
  await buttons[1].click();
  await a.page.waitForFunction((t) => Math.abs(window.tlogPlayer.getCurrentTime() - t) < 0.5, times[1], {
    timeout: 10000,
  });
  await a.page.selectOption("#speed", "16");
  const speedKept = await a.page
    .waitForFunction(
      (t) => window.tlogSpeed === 16 && Math.abs(window.tlogPlayer.getCurrentTime() - t) < 0.5,
      times[1],
      { timeout: 10000 },
    )
    .then(() => true, () => false);
  check(
    "a speed change keeps the player's time",
    speedKept,
    `speed ${await a.page.evaluate(() => window.tlogSpeed)}, time ${await a.page.evaluate(() =>
      String(window.tlogPlayer.getCurrentTime()),
    )}, want ${times[1]}`,
  );
  const p0 = await a.page.evaluate(() => window.tlogPlayer.getCurrentTime());
  const w0 = Date.now();
  await a.page.evaluate(() => window.tlogPlayer.play());
  await a.page.waitForTimeout(400);
  const p1 = await a.page.evaluate(() => window.tlogPlayer.getCurrentTime());
  const wall = (Date.now() - w0) / 1000;
  await a.page.evaluate(() => window.tlogPlayer.pause());
  const ended = p1 >= duration - 0.1;
  check("at 16x the recording runs ahead of the clock", ended || p1 - p0 > 2 * wall, `${p0} -> ${p1} in ${wall} s`);
  await a.page.selectOption("#speed", "1");
  await a.page.waitForFunction(() => window.tlogSpeed === 1, null, { timeout: 10000 });
  await a.page.evaluate(() => window.tlogPlayer.seek(0));
  await a.page.evaluate(() => window.tlogPlayer.play());
  await a.page.waitForFunction(
    (t) => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes(t),
    cfg.alice.text,
    { timeout: 30000 },
  );
  await a.page.evaluate(() => window.tlogPlayer.pause());
  await a.page.screenshot({ path: cfg.screenshot, fullPage: true });
  check("screenshot saved", true, "");

  // --- audit pane: the trail of the selected command ---
  const summary = await a.page.textContent("#audit-summary");
  check("audit pane: events are correlated", /1 failed login before/.test(summary), summary);
  const failures = await a.page.textContent("#login-failures");
  check(
    "audit pane: the failed login before the session",
    failures.includes(cfg.alice.user) && failures.includes("192.0.2.9"),
    failures,
  );
  const visibleTrails = () =>
    a.page.$$eval("#trails .trail", (ts) => ts.filter((t) => !t.hidden).map((t) => t.dataset.cmd));
  await a.page.click("#audit-all");
  check("audit pane: every command's trail is listed", (await visibleTrails()).length >= 4, `${await visibleTrails()}`);
  const trailText = (cmd) => a.page.textContent(`#trails .trail[data-cmd="${cmd}"]`);
  for (const [i, want] of [
    [1, ["ls /", "/home/alice", "exit 0"]],
    [2, ["CREATE", "/tmp/audit-pane-proof", "127.0.0.1:9911"]],
  ]) {
    await buttons[i].click();
    await a.page.waitForFunction(
      (t) => Math.abs(window.tlogPlayer.getCurrentTime() - t) < 0.5,
      times[i],
      { timeout: 10000 },
    );
    const shown = await visibleTrails();
    check(`audit pane: command ${i} shows only its trail`, JSON.stringify(shown) === JSON.stringify([String(i)]), `${shown}`);
    const text = await trailText(i);
    check(`audit pane: command ${i}'s trail`, want.every((w) => text.includes(w)), text);
  }
  // An event's time seeks the player to it.
  await a.page.click("#audit-all");
  const procSeek = await a.page.$('#trails .trail[data-cmd="1"] .procs button.seek');
  const procT = Number(await procSeek.getAttribute("data-t"));
  check("audit pane: a process has its offset", procT > times[1] && procT < times[1] + 1, `${procT} vs ${times[1]}`);
  await procSeek.click();
  await a.page.waitForFunction(
    (t) => Math.abs(window.tlogPlayer.getCurrentTime() - t) < 0.2,
    procT,
    { timeout: 10000 },
  );
  check("audit pane: a click on a process seeks there", true, "");
  check(
    "audit pane: a command's events stay with it",
    !(await trailText(2)).includes("/usr/bin/ls") && !(await trailText(1)).includes("audit-pane-proof"),
    "",
  );

  // --- keyframe seek: the segmented source ---
  check("a short recording streams the asciicast", (await a.page.evaluate(() => window.tlogSource)) === "asciicast", "");
  const segs = [];
  a.page.on("request", (r) => {
    const m = /\/seg\/(\d+)$/.exec(r.url());
    if (m) segs.push(Number(m[1]));
  });
  await a.page.goto(`${base}/r/${cfg.alice.host}/${cfg.alice.seekRec}`);
  await a.page.waitForFunction(() => window.tlogPlayer && window.tlogPlayer.getDuration() > 0, null, {
    timeout: 20000,
  });
  check("a long recording seeks from keyframes", (await a.page.evaluate(() => window.tlogSource)) === "segmented", "");
  const seekButtons = await a.page.$$("#commands button[data-t]");
  const end = await a.page.evaluate(() => window.tlogPlayer.getDuration());
  await a.page.evaluate((t) => window.tlogPlayer.seek(t), end);
  await a.page.waitForFunction(
    (t) => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes(t),
    cfg.alice.seekText,
    { timeout: 20000 },
  );
  check("a seek to the end shows the last screen", true, "");
  check("the seek loaded a later segment", segs.some((n) => n > 0), `${segs}`);
  await seekButtons[0].click();
  const t0 = Number(await seekButtons[0].getAttribute("data-t"));
  await a.page.waitForFunction(
    (t) => Math.abs(window.tlogPlayer.getCurrentTime() - t) < 0.5,
    t0,
    { timeout: 10000 },
  );
  const gone = await a.page
    .waitForFunction(
      (t) => ![...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes(t),
      cfg.alice.seekText,
      { timeout: 10000 },
    )
    .then(() => true, () => false);
  check(
    "a seek back shows the earlier screen",
    gone,
    `at ${await a.page.evaluate(() => window.tlogPlayer.getCurrentTime())} of ${end} (commands at ${t0}): ${await a.page.evaluate(() => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n"))}`,
  );
  // The screen after a seek equals the emulator's screen at that offset.
  await a.page.evaluate((t) => window.tlogPlayer.seek(t), cfg.alice.seekAt);
  const same = await a.page
    .waitForFunction(
      (want) => {
        const rows = [...document.querySelectorAll("#player .ap-line")].map((l) =>
          l.textContent.replace(/\u00a0/g, " ").trimEnd(),
        );
        while (rows.length && rows[rows.length - 1] === "") rows.pop();
        return JSON.stringify(rows) === JSON.stringify(want);
      },
      cfg.alice.seekScreen,
      { timeout: 10000 },
    )
    .then(() => true, () => false);
  check(
    "the screen after a seek equals the emulator's",
    same,
    `want ${JSON.stringify(cfg.alice.seekScreen)} got ${JSON.stringify(
      await a.page.evaluate(() =>
        [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent),
      ),
    )}`,
  );

  // --- frame steps: back to the frame before, forward to the frame the
  // seek showed (the emulator's screen at that offset again) ---
  const rowsNow = () =>
    [...document.querySelectorAll("#player .ap-line")].map((l) =>
      l.textContent.replace(/\u00a0/g, " ").trimEnd(),
    );
  await a.page.click("#step-back");
  const backT = await a.page
    .waitForFunction((t) => window.tlogPlayer.getCurrentTime() < t - 0.0005, cfg.alice.seekAt, { timeout: 10000 })
    .then(() => a.page.evaluate(() => window.tlogPlayer.getCurrentTime()), () => null);
  check("a frame step back goes to an earlier frame", backT !== null, `time ${await a.page.evaluate(() => window.tlogPlayer.getCurrentTime())}, seek at ${cfg.alice.seekAt}`);
  await a.page.click("#step-fwd");
  const fwd = await a.page
    .waitForFunction(
      ([want, t0, t1]) => {
        const now = window.tlogPlayer.getCurrentTime();
        const rows = [...document.querySelectorAll("#player .ap-line")].map((l) =>
          l.textContent.replace(/\u00a0/g, " ").trimEnd(),
        );
        while (rows.length && rows[rows.length - 1] === "") rows.pop();
        return now > t0 && now <= t1 + 0.0005 && JSON.stringify(rows) === JSON.stringify(want);
      },
      [cfg.alice.seekScreen, backT ?? 0, cfg.alice.seekAt],
      { timeout: 10000 },
    )
    .then(() => true, () => false);
  check(
    "a frame step forward shows the next frame: the emulator's screen at the seek",
    fwd,
    `time ${await a.page.evaluate(() => window.tlogPlayer.getCurrentTime())}: ${JSON.stringify(await a.page.evaluate(rowsNow))}`,
  );
  const tStep = await a.page.evaluate(() => window.tlogPlayer.getCurrentTime());
  await a.page.waitForTimeout(300);
  const tLater = await a.page.evaluate(() => window.tlogPlayer.getCurrentTime());
  check("stepping leaves the player paused", tLater === tStep, `${tStep} -> ${tLater}`);

  // --- search in the recording: hits listed, a click rewinds there ---
  await a.page.fill("#rec-search input[name=q]", cfg.alice.seekText.toUpperCase());
  await Promise.all([a.page.waitForNavigation(), a.page.click("#rec-search button")]);
  check(
    "search in the recording: the URL holds the text",
    new URL(a.page.url()).searchParams.get("q") === cfg.alice.seekText.toUpperCase(),
    a.page.url(),
  );
  const hitButtons = await a.page.$$("#hits button[data-t]");
  check("search in the recording lists its hits", hitButtons.length >= 1, `${hitButtons.length}`);
  const hitText = await hitButtons[0].textContent();
  check("a hit shows the text around the match", hitText.includes(cfg.alice.seekText), hitText);
  const hitT = Number(await hitButtons[0].getAttribute("data-t"));
  await a.page.waitForFunction(() => window.tlogPlayer && window.tlogPlayer.getDuration() > 0, null, {
    timeout: 20000,
  });
  const hitEnd = await a.page.evaluate(() => window.tlogPlayer.getDuration());
  check("the hit lies inside the recording, before its end", hitT > 0 && hitT < hitEnd, `${hitT} of ${hitEnd}`);
  await a.page.evaluate((t) => window.tlogPlayer.seek(t), hitEnd);
  await hitButtons[0].click();
  await a.page.waitForFunction(
    (t) => Math.abs(window.tlogPlayer.getCurrentTime() - t) < 0.5,
    hitT,
    { timeout: 10000 },
  );
  check("a search hit rewinds the player to it", true, "");
  const drawn = await a.page
    .waitForFunction(
      (t) => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes(t),
      cfg.alice.seekText,
      { timeout: 10000 },
    )
    .then(() => true, () => false);
  check(
    "the screen at a search hit shows the phrase",
    drawn,
    `at ${await a.page.evaluate(() => window.tlogPlayer.getCurrentTime())}: ${await a.page.evaluate(() => [...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n"))}`,
  );
  // And not a moment before: the hit is where the phrase is drawn.
  await a.page.evaluate((t) => window.tlogPlayer.seek(Math.max(0, t - 0.2)), hitT);
  const before = await a.page
    .waitForFunction(
      (t) => ![...document.querySelectorAll("#player .ap-line")].map((l) => l.textContent).join("\n").includes(t),
      cfg.alice.seekText,
      { timeout: 10000 },
    )
    .then(() => true, () => false);
  check("just before a search hit the phrase is not yet drawn", before, "");
  await a.page.goto(`${base}/r/${cfg.alice.host}/${cfg.alice.seekRec}?q=no-such-phrase-anywhere`);
  check(
    "search in the recording without match",
    (await a.page.$$("#hits button")).length === 0 && (await a.page.$("#hits-none")) !== null,
    "",
  );
  const foreignFind = await a.page.goto(`${base}/r/${cfg.bob.host}/${cfg.bob.recs[0]}?q=bob-secret`);
  check("search in another user's recording is 404", foreignFind.status() === 404, `${foreignFind.status()}`);
  const tooLong = await a.page.goto(`${base}/r/${cfg.alice.host}/${cfg.alice.seekRec}?q=${"x".repeat(1001)}`);
  check(
    "search in the recording: too long a text is a precise 400",
    tooLong.status() === 400 && (await a.page.textContent("main")).includes("at most 1000 bytes"),
    `${tooLong.status()}`,
  );

  const foreignSeg = await a.ctx.request.get(`${base}/r/${cfg.bob.host}/${cfg.bob.recs[0]}/seg/0`);
  check("segments only for a playback the session started", foreignSeg.status() === 404, `${foreignSeg.status()}`);

  // --- exports ---
  const cast = await a.ctx.request.get(`${base}/r/${cfg.alice.host}/${cfg.alice.textRec}/export.cast`);
  const castText = await cast.text();
  check("asciicast export", cast.ok() && JSON.parse(castText.split("\n")[0]).version === 2, castText.slice(0, 100));
  check("asciicast is a download", (cast.headers()["content-disposition"] || "").startsWith("attachment"), "");
  const jsonl = await a.ctx.request.get(`${base}/r/${cfg.alice.host}/${cfg.alice.textRec}/export.jsonl`);
  const first = JSON.parse((await jsonl.text()).split("\n")[0]);
  check("tlog JSON Lines export", jsonl.ok() && first.rec === cfg.alice.textRec && "timing" in first, JSON.stringify(first));

  // --- ACL: another user's recording and a made-up one are the same 404 ---
  const other = await a.page.goto(`${base}/r/${cfg.bob.host}/${cfg.bob.recs[0]}`);
  const otherBody = await a.page.textContent("main");
  check("another user's recording URL is 404", other.status() === 404, `status ${other.status()}`);
  const none = await a.page.goto(`${base}/r/${cfg.bob.host}/no-such-recording`);
  check("a made-up recording URL is 404", none.status() === 404, `status ${none.status()}`);
  check("both 404s look the same", (await a.page.textContent("main")) === otherBody, "bodies differ");
  const longJsonl = await a.ctx.request.get(`${base}/r/${cfg.alice.host}/${cfg.alice.seekRec}/export.jsonl`);
  const longBody = await longJsonl.body();
  check(
    "a long recording's JSON Lines export is its log, byte for byte",
    longJsonl.ok() && createHash("sha256").update(longBody).digest("hex") === cfg.alice.seekLogSha256,
    `${longBody.length} bytes`,
  );
  const otherCast = await a.ctx.request.get(`${base}/r/${cfg.bob.host}/${cfg.bob.recs[0]}/export.jsonl`);
  check("another user's export is 404", otherCast.status() === 404, `status ${otherCast.status()}`);
  const access = await a.page.goto(`${base}/access`);
  check("the access log is for auditors only", access.status() === 404, `status ${access.status()}`);

  // --- purge: not for users without the purge right, even with the token ---
  await a.page.goto(`${base}/r/${cfg.alice.host}/${cfg.alice.recs[1]}`);
  check("no purge form without the purge right", (await a.page.$$("#purge")).length === 0, "form shown");
  const aliceCsrf = await a.page.getAttribute(".logout input[name=csrf]", "value");
  const noRight = await a.ctx.request.post(`${base}/r/${cfg.alice.host}/${cfg.alice.recs[1]}/purge`, {
    form: { csrf: aliceCsrf, confirm: "yes" },
    maxRedirects: 0,
  });
  check("purge without the purge right is 403", noRight.status() === 403, `status ${noRight.status()}`);

  // --- CSRF: a POST without the token is rejected, the session survives ---
  const forged = await a.ctx.request.post(`${base}/logout`, { form: {}, maxRedirects: 0 });
  check("CSRF-less POST is rejected", forged.status() === 403, `status ${forged.status()}`);
  await a.page.goto(`${base}/`);
  check("session still valid after the forged POST", new URL(a.page.url()).pathname === "/", a.page.url());
  await Promise.all([a.page.waitForNavigation(), a.page.click(".logout button")]);
  check("sign out", a.page.url().endsWith("/login"), a.page.url());
  await a.page.goto(`${base}/`);
  check("signed out session is gone", a.page.url().endsWith("/login"), a.page.url());

  // --- auditor: sees everything and the access log ---
  const c = await session();
  await login(c.page, cfg.auditor.user, cfg.auditor.password);
  const all = await rows(c.page);
  const want = [...cfg.alice.recs, ...cfg.bob.recs, ...cfg.scoped.recs].sort();
  check("auditor sees all recordings", JSON.stringify([...all].sort()) === JSON.stringify(want), `${all}`);

  // --- the list: badges, sortable columns, pagination, the URL holds it ---
  const badge = (rec) => c.page.$eval(`#recordings tr[data-rec="${rec}"]`, (tr) => {
    const b = tr.querySelector(".badge");
    return b ? b.textContent : "";
  });
  check("list: incomplete badge", (await badge(cfg.alice.incompleteRec)) === "incomplete", await badge(cfg.alice.incompleteRec));
  check("list: tampered badge", (await badge(cfg.alice.tamperedRec)) === "tampered", await badge(cfg.alice.tamperedRec));
  check("list: a complete recording has no badge", (await badge(cfg.alice.recs[0])) === "", await badge(cfg.alice.recs[0]));
  const col = (attr) =>
    c.page.$$eval("#recordings tr.rec", (trs, a) => trs.map((t) => t.dataset[a]), attr);
  const sorted = (v, cmp) => v.every((x, i) => i === 0 || cmp(v[i - 1], x) <= 0);
  const num = (a, b) => Number(a) - Number(b);
  const str = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  check("list: newest first by default", sorted((await col("start")).reverse(), num), `${await col("start")}`);
  for (const [key, attr, cmp, first] of [
    ["user", "user", str, "user"],
    ["duration", "duration", num, "-duration"],
    // The default order (newest first) leaves sort= out of the URL.
    ["start", "start", num, "-start"],
  ]) {
    await Promise.all([c.page.waitForNavigation(), c.page.click(`#recordings th a[data-sort=${key}]`)]);
    const inUrl = new URL(c.page.url()).searchParams.get("sort");
    check(`list: ${key} header sorts (${first})`, inUrl === (first === "-start" ? null : first), c.page.url());
    let v = await col(attr);
    if (first.startsWith("-")) v = v.reverse();
    check(`list: rows in ${first} order`, sorted(v, cmp), `${v}`);
    await Promise.all([c.page.waitForNavigation(), c.page.click(`#recordings th a[data-sort=${key}]`)]);
    let w = await col(attr);
    if (!first.startsWith("-")) w = w.reverse();
    check(`list: a second click reverses ${key}`, sorted(w, cmp), `${c.page.url()} ${w}`);
  }
  await c.page.goto(`${base}/?sort=user&per=3`);
  const paged = [];
  const pageUsers = [];
  for (let n = 1; ; n++) {
    const pageRows = await rows(c.page);
    check(`list: page ${n} holds at most 3 rows`, pageRows.length >= 1 && pageRows.length <= 3, `${pageRows}`);
    check(`list: page ${n} says so`, (await c.page.textContent("#page")).startsWith(`page ${n} of 3`), await c.page.textContent("#page"));
    paged.push(...pageRows);
    pageUsers.push(...(await col("user")));
    const next = await c.page.$("a[rel=next]");
    if (!next) break;
    await Promise.all([c.page.waitForNavigation(), next.click()]);
    const u = new URL(c.page.url()).searchParams;
    check("list: the next page keeps the query", u.get("sort") === "user" && u.get("per") === "3" && u.get("page") === String(n), c.page.url());
  }
  check(
    "list: pages hold every recording once, in order",
    JSON.stringify([...paged].sort()) === JSON.stringify(want) && sorted(pageUsers, str),
    `${paged} / ${pageUsers}`,
  );
  await c.page.fill("input[name=host]", cfg.alice.host);
  await Promise.all([c.page.waitForNavigation(), c.page.click("#filters button")]);
  const kept = new URL(c.page.url()).searchParams;
  check("list: a new search keeps the order", kept.get("sort") === "user" && kept.get("host") === cfg.alice.host, c.page.url());
  const bad = await c.page.goto(`${base}/?sort=size`);
  check(
    "list: an unknown sort column is a precise 400",
    bad.status() === 400 && (await c.page.textContent("main")).includes('unknown column "size"'),
    `${bad.status()}`,
  );

  const bobs = await c.page.goto(`${base}/r/${cfg.bob.host}/${cfg.bob.recs[0]}`);
  check("auditor opens another user's recording", bobs.status() === 200, `status ${bobs.status()}`);
  await c.page.goto(`${base}/access`);
  const log = await c.page.textContent("#access");
  check(
    "access log shows alice's view and export",
    log.includes(cfg.alice.user) && log.includes("view") && log.includes("play") && log.includes("export-cast"),
    log.slice(0, 300),
  );

  // --- scoped auditor: the hosts of a host group and the users of a group ---
  const d = await session();
  await login(d.page, cfg.scoped.user, cfg.scoped.password);
  check(
    "the header names the scoped auditor",
    (await d.page.textContent("#whoami")).includes("scoped auditor"),
    await d.page.textContent("#whoami"),
  );
  const scoped = await rows(d.page);
  check(
    "scoped auditor sees exactly the scope",
    JSON.stringify([...scoped].sort()) === JSON.stringify([...cfg.scoped.recs].sort()),
    `${scoped} vs ${cfg.scoped.recs}`,
  );
  // The filters narrow the scope, never widen it.
  await d.page.goto(`${base}/?user=${cfg.alice.user}`);
  check("scoped auditor: a user filter cannot widen the scope", (await rows(d.page)).length === 0, await rows(d.page));
  await d.page.goto(`${base}/?hostgroup=nj-fileservers`);
  check(
    "scoped auditor: host group filter",
    JSON.stringify(await rows(d.page)) === JSON.stringify([cfg.scoped.hostRec]),
    await rows(d.page),
  );
  for (const [h, r] of [[cfg.scoped.host, cfg.scoped.hostRec], [cfg.alice.host, cfg.scoped.groupRec]]) {
    const ok = await d.page.goto(`${base}/r/${h}/${r}`);
    check(`scoped auditor opens ${r}`, ok.status() === 200, `status ${ok.status()}`);
  }
  const out = await d.page.goto(`${base}/r/${cfg.bob.host}/${cfg.bob.recs[0]}`);
  const outBody = await d.page.textContent("main");
  const madeUp = await d.page.goto(`${base}/r/${cfg.scoped.host}/no-such-recording`);
  check(
    "scoped auditor: a guessed URL is 404",
    out.status() === 404 && madeUp.status() === 404 && (await d.page.textContent("main")) === outBody,
    `status ${out.status()} / ${madeUp.status()}`,
  );
  for (const tail of ["cast", "export.jsonl", "export.cast", "index.json", "seg/0"]) {
    const r = await d.ctx.request.get(`${base}/r/${cfg.alice.host}/${cfg.alice.recs[0]}/${tail}`);
    check(`scoped auditor: out-of-scope ${tail} is 404`, r.status() === 404, `status ${r.status()}`);
  }
  // The access log of the scope: dave's own views are there, alice's views
  // of her (out-of-scope) recordings are not.
  const dAccess = await d.page.goto(`${base}/access`);
  const dLog = await d.page.textContent("main");
  check(
    "scoped auditor: the access log holds exactly the scope",
    dAccess.status() === 200 &&
      dLog.includes(cfg.scoped.hostRec) &&
      dLog.includes(cfg.scoped.groupRec) &&
      !cfg.alice.recs.some((r) => dLog.includes(r)),
    `status ${dAccess.status()}: ${dLog.slice(0, 300)}`,
  );

  // --- purge by a scoped auditor with the purge right ---
  const purgeUrl = (h, r) => `${base}/r/${h}/${r}/purge`;
  await d.page.goto(`${base}/`);
  const dCsrf = await d.page.getAttribute(".logout input[name=csrf]", "value");
  const forgedPurge = await d.ctx.request.post(purgeUrl(cfg.alice.host, cfg.scoped.groupRec), {
    form: { confirm: "yes" },
    maxRedirects: 0,
  });
  check("purge: a CSRF-less purge is rejected", forgedPurge.status() === 403, `status ${forgedPurge.status()}`);
  const unconfirmed = await d.ctx.request.post(purgeUrl(cfg.alice.host, cfg.scoped.groupRec), {
    form: { csrf: dCsrf },
    maxRedirects: 0,
  });
  check("purge: an unconfirmed purge is 400", unconfirmed.status() === 400, `status ${unconfirmed.status()}`);
  const held = await d.ctx.request.post(purgeUrl(cfg.scoped.host, cfg.scoped.hostRec), {
    form: { csrf: dCsrf, confirm: "yes" },
    maxRedirects: 0,
  });
  check("purge: a held recording is refused (409)", held.status() === 409, `status ${held.status()}`);
  const outside = await d.ctx.request.post(purgeUrl(cfg.alice.host, cfg.alice.recs[0]), {
    form: { csrf: dCsrf, confirm: "yes" },
    maxRedirects: 0,
  });
  check("purge: out of scope is 404", outside.status() === 404, `status ${outside.status()}`);
  await d.page.goto(`${base}/r/${cfg.alice.host}/${cfg.scoped.groupRec}`);
  await d.page.check("#purge input[name=confirm]");
  const [purged] = await Promise.all([d.page.waitForNavigation(), d.page.click("#purge button")]);
  check(
    "purge: the button purges the recording",
    purged.status() === 200 && (await d.page.textContent("#purged")).includes(cfg.scoped.groupRec),
    `status ${purged.status()}`,
  );
  const purgedPage = await d.page.goto(`${base}/r/${cfg.alice.host}/${cfg.scoped.groupRec}`);
  check("purge: the purged recording is 404", purgedPage.status() === 404, `status ${purgedPage.status()}`);
  await d.page.goto(`${base}/`);
  check(
    "purge: the list keeps the held one only",
    JSON.stringify(await rows(d.page)) === JSON.stringify([cfg.scoped.hostRec]),
    await rows(d.page),
  );

  console.log("all checks passed");
} finally {
  await browser.close();
}
