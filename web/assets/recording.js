// The recording page: asciinema-player on the streamed asciicast, and the
// commands pane (a click seeks the player to the command's time).
// asciinema-player.min.js, loaded before this module, defines the global.
/* global AsciinemaPlayer */

const el = document.getElementById("player");
const hash = /^#t=([0-9.]+)$/.exec(location.hash);
const player = AsciinemaPlayer.create(el.dataset.cast, el, {
  fit: "width",
  terminalFontSize: "small",
  idleTimeLimit: 5,
  startAt: hash ? Number(hash[1]) : undefined,
  preload: true,
});
// For the browser tests and the console.
window.tlogPlayer = player;

for (const b of document.querySelectorAll("#commands button[data-t]")) {
  b.addEventListener("click", async () => {
    await player.seek(Number(b.dataset.t));
    for (const o of document.querySelectorAll("#commands .current")) {
      o.classList.remove("current");
    }
    b.classList.add("current");
  });
}
