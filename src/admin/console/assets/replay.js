/* The console: replay (#/replay), a form that sends a destination's retained notifications
 * again, and the job's live progress, asked of /replay/{job} until it ends. */
"use strict";

(function () {
  const C = window.Console;
  const el = C.el;
  const LOOK_EVERY_MS = 500;

  /* The time an hour ago, to the second, as RFC 3339 UTC. */
  function hourAgo() {
    return new Date(Date.now() - 3600 * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  }

  function progressView(job) {
    const bar = el("progress", { id: "replay-bar", max: 1, value: 0, "aria-label": "Replay progress" });
    const state = el("span", { id: "replay-state", "data-test": "replay-state" }, C.badge("running"));
    const figures = el("span", { id: "replay-figures", "data-test": "replay-figures" });
    const failures = el("div", { id: "replay-failures" });
    const view = el("section", { class: "card wide", id: "replay-progress", "aria-live": "polite" },
      el("h3", {}, "Replay job ", C.mono(job)), bar, el("p", {}, state, " ", figures), failures);
    const show = (p) => {
      bar.max = Math.max(p.total, 1);
      bar.value = p.sent + p.failed + p.skipped;
      state.replaceChildren(C.badge(p.state));
      figures.textContent = C.count(p.sent) + " sent, " + C.count(p.failed) + " failed, " +
        C.count(p.skipped) + " skipped of " + C.count(p.total);
      const problems = p.failures.map((f) => el("li", {}, C.mono(f.id), " ", f.error));
      if (p.error) problems.unshift(el("li", { class: "error-text" }, p.error));
      failures.replaceChildren(problems.length ? el("ul", { class: "failures" }, problems) : "");
    };
    return { view, show };
  }

  C.page(/^\/replay$/, function replay(params) {
    const destination = el("input", { id: "replay-destination", required: true, list: "replay-destinations",
      autocomplete: "off", value: params.get("destination") || "" });
    const destinations = el("datalist", { id: "replay-destinations" });
    const connection = el("input", { id: "replay-connection", autocomplete: "off", placeholder: "every connection" });
    const since = el("input", { id: "replay-since", required: true, value: hourAgo(), placeholder: "2026-12-06T09:00:00Z" });
    const until = el("input", { id: "replay-until", placeholder: "now" });
    const area = el("div", { id: "replay-area" });
    let stop = null;

    async function start(event) {
      event.preventDefault();
      const request = { destination: destination.value.trim(), since: since.value.trim() };
      for (const [name, input] of [["since", since], ["until", until]]) {
        if (input.value.trim() && Number.isNaN(Date.parse(input.value.trim()))) {
          C.say(name + " is not a time: write it as 2026-12-06T09:00:00Z.", "error");
          input.focus();
          return;
        }
      }
      if (until.value.trim()) request.until = until.value.trim();
      if (connection.value.trim()) request.connection = connection.value.trim();
      const started = await C.api("POST", "/replay", request);
      if (!started.ok) {
        C.say("The replay did not start: " + C.errorOf(started), "error");
        return;
      }
      C.say("");
      if (stop) stop();
      const { view, show } = progressView(started.body.job);
      area.replaceChildren(view);
      let ended = false;
      stop = C.every(LOOK_EVERY_MS, async () => {
        if (ended) return;
        const progress = await C.api("GET", "/replay/" + started.body.job);
        if (!progress.ok) {
          C.say("Progress unknown: " + C.errorOf(progress), "error");
          return;
        }
        show(progress.body);
        if (progress.body.state !== "running") {
          ended = true;
          stop();
        }
      });
    }

    C.draw("Replay",
      el("p", { class: "muted" }, "Sends a destination's delivered notifications again, with their original ids. Times are RFC 3339, UTC."),
      el("form", { id: "replay-form", class: "filters", onsubmit: start },
        C.field("Destination", destination), destinations,
        C.field("Connection (optional)", connection),
        C.field("Delivered since", since),
        C.field("Until (optional)", until),
        el("button", { type: "submit", id: "replay-submit", class: "primary" }, "Start replay")),
      area);
    C.api("GET", "/overview?limit=1").then((answer) => {
      if (!answer.ok) return;
      const ids = answer.body.destinations.map((d) => d.id);
      destinations.replaceChildren(...ids.map((id) => el("option", { value: id })));
      if (!destination.value && ids.length === 1) destination.value = ids[0];
    });
    return () => { if (stop) stop(); };
  });
})();
