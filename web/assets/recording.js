// The recording page: asciinema-player with frame steps, a speed control, follow of a
// live recording, the input pane (#commands: a click seeks the player to
// the line's time and shows its audit trail). With keyframes in the index the player
// reads the "segmented" source (a seek loads one segment from a server-side
// keyframe); otherwise the whole asciicast, streamed.
// asciinema-player.min.js, loaded before this module, defines the global.
/* global AsciinemaPlayer */

const el = document.getElementById("player");
const hash = /^#t=([0-9.]+)$/.exec(location.hash);
const opts = {
  fit: "width",
  terminalFontSize: "small",
  startAt: hash ? Number(hash[1]) : undefined,
  preload: true,
};
// No idleTimeLimit: the player's clock must stay the recording's, which the
// commands pane and search hits use.
const src = el.dataset.index
  ? { url: el.dataset.index, format: "segmented" }
  : el.dataset.cast;
let player = AsciinemaPlayer.create(src, el, opts);
// For the browser tests and the console.
window.tlogPlayer = player;
window.tlogSource = el.dataset.index ? "segmented" : "asciicast";
window.tlogSpeed = 1;
let playing = false;
function watch(p) {
  p.addEventListener("playing", () => (playing = true));
  p.addEventListener("pause", () => (playing = false));
  p.addEventListener("ended", () => (playing = false));
}
watch(player);

// Speed: the player takes it only when created, so a change re-creates the
// player at the current time (and keeps it playing if it was).
const speed = document.getElementById("speed");
if (speed) {
  speed.addEventListener("change", async () => {
    const wasPlaying = playing;
    const t = await player.getCurrentTime();
    player.dispose();
    const s = Number(speed.value);
    player = AsciinemaPlayer.create(src, el, { ...opts, speed: s, startAt: undefined });
    watch(player);
    window.tlogPlayer = player;
    await player.seek(t);
    window.tlogSpeed = s;
    if (wasPlaying) await player.play();
  });
}
// Frame steps: pause, then one output frame back or forward. The player's
// API has no step in this version; its own `,` and `.` keys do it, so the
// buttons send those keys to it.
function step(n) {
  const target = el.querySelector(".ap-wrapper") ?? el.firstElementChild;
  if (!target) return;
  target.dispatchEvent(new KeyboardEvent("keydown", { key: n < 0 ? "," : ".", bubbles: true }));
}
for (const [id, n] of [["step-back", -1], ["step-fwd", 1]]) {
  const b = document.getElementById(id);
  if (!b) continue;
  b.addEventListener("click", async () => {
    if (following) setFollowing(false);
    if (playing) await player.pause();
    step(n);
  });
}

// Follow (a recording without its end entry): the player's "eventsource"
// driver reads /live, the screen so far and then the new output as the
// index gets it; "Stop following" (or a click that seeks) goes back to the
// recording's playback.
const follow = document.getElementById("follow");
const followState = document.getElementById("follow-state");
let following = false;
function setFollowing(on) {
  player.dispose();
  following = on;
  player = on
    ? AsciinemaPlayer.create(
        { driver: "eventsource", url: el.dataset.live, bufferTime: 0 },
        el,
        { fit: "width", terminalFontSize: "small", autoPlay: true },
      )
    : AsciinemaPlayer.create(src, el, opts);
  watch(player);
  window.tlogPlayer = player;
  window.tlogFollowing = on;
  follow.textContent = on ? "Stop following" : "Follow";
  followState.textContent = on
    ? "following: new output appears as it is indexed"
    : "not following";
  // The speed applies to the playback only.
  if (speed) speed.disabled = on;
  if (on) {
    player.addEventListener("ended", () => {
      followState.textContent = "the recording has ended";
    });
  }
}
if (follow) follow.addEventListener("click", () => setFollowing(!following));

// Seek the playback (leaving a follow first: a live stream has no past).
async function seek(t) {
  if (following) setFollowing(false);
  await player.seek(t);
}

// The audit pane: every command's trail, or only the selected one's.
const showAll = document.getElementById("audit-all");
function showTrail(cmd) {
  for (const t of document.querySelectorAll("#trails .trail")) {
    t.hidden = cmd !== null && t.dataset.cmd !== cmd;
  }
  if (showAll) showAll.hidden = cmd === null;
}
if (showAll) showAll.addEventListener("click", () => showTrail(null));

for (const b of document.querySelectorAll("#commands button[data-t]")) {
  b.addEventListener("click", async () => {
    await seek(Number(b.dataset.t));
    for (const o of document.querySelectorAll("#commands .current")) {
      o.classList.remove("current");
    }
    b.classList.add("current");
    showTrail(b.dataset.cmd);
  });
}

// Search hits: a click seeks the player there.
for (const b of document.querySelectorAll("#hits button[data-t]")) {
  b.addEventListener("click", async () => {
    await seek(Number(b.dataset.t));
    for (const o of document.querySelectorAll("#hits .current")) {
      o.classList.remove("current");
    }
    b.classList.add("current");
  });
}

// Audit events inside the recording: a click seeks to the event.
for (const b of document.querySelectorAll("#trails button.seek[data-t]")) {
  b.addEventListener("click", () => seek(Number(b.dataset.t)));
}
