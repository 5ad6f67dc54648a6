// The recording page: asciinema-player and the commands pane (a click seeks
// the player to the command's time). With keyframes in the index the player
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
const player = AsciinemaPlayer.create(src, el, opts);
// For the browser tests and the console.
window.tlogPlayer = player;
window.tlogSource = el.dataset.index ? "segmented" : "asciicast";

for (const b of document.querySelectorAll("#commands button[data-t]")) {
  b.addEventListener("click", async () => {
    await player.seek(Number(b.dataset.t));
    for (const o of document.querySelectorAll("#commands .current")) {
      o.classList.remove("current");
    }
    b.classList.add("current");
  });
}
