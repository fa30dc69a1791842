/* The console: notification lookup (#/notifications) by id, by key, or by connection and
 * sequence. A body (patient data) is fetched only when "Show body" is clicked, from the
 * endpoint that logs who looked. */
"use strict";

(function () {
  const C = window.Console;
  const el = C.el;

  /* A "Show body" button; the body is asked for on its click and shown in `holder` (a place
   * of its own below the button when not given). */
  C.bodyViewer = function (id, connection, sequence, holder) {
    const own = !holder;
    holder = holder || el("div", { class: "body-holder" });
    const show = C.actionButton("Show body", "show-body", async () => {
      const answer = await C.api("GET", "/notifications/" + encodeURIComponent(id) + "/body" +
        C.query({ connection, sequence }));
      if (!answer.ok) {
        holder.replaceChildren(el("p", { class: "error-text", "data-test": "body-error" }, C.errorOf(answer)));
        return;
      }
      const hide = el("button", { type: "button", "data-test": "hide-body" }, "Hide body");
      hide.addEventListener("click", () => {
        holder.replaceChildren();
        show.hidden = false;
        show.focus();
      });
      if (own) show.hidden = true;
      holder.replaceChildren(
        el("h3", {}, "Body of ", C.mono(id)),
        el("p", { class: "muted" }, "Shown to you as " + (C.session.viewer || "this viewer") + "; this view is logged."),
        el("pre", { class: "body", "data-test": "body", tabindex: "0" }, JSON.stringify(answer.body.body, null, 2)),
        hide);
      hide.focus();
    });
    return own ? el("div", { class: "body-viewer" }, show, holder) : show;
  };

  function matchesTable(matches, holder) {
    return C.table("matches-table", "Matches",
      ["Id", "Connection · seq.", "Key", "Type", "Destination", "Outcome", "Attempts", "When", "Found in", "Body"],
      matches.length ? matches.map((m) => C.row("match-row", [C.mono(m.id),
        [C.connectionLink(m.connection), " · ", C.mono(m.sequence)], C.mono(m.key), m.event_type,
        C.destinationLink(m.destination), C.badge(m.outcome),
        C.count(m.attempts), C.ago(m.at), m.found_in.replace(/_/g, " "),
        m.body_available ? C.bodyViewer(m.id, m.connection, m.sequence, holder) : el("span", { class: "muted" }, "not kept")]))
        : [C.empty(10, "Nothing found.")]);
  }

  C.page(/^\/notifications$/, function notifications(params) {
    const inputs = {
      id: el("input", { id: "lookup-id", name: "id", autocomplete: "off", value: params.get("id") || "" }),
      key: el("input", { id: "lookup-key", name: "key", autocomplete: "off", value: params.get("key") || "" }),
      connection: el("input", { id: "lookup-connection", name: "connection", autocomplete: "off", value: params.get("connection") || "" }),
      sequence: el("input", { id: "lookup-sequence", name: "sequence", inputmode: "numeric", autocomplete: "off", value: params.get("sequence") || "" }),
    };
    const results = el("div", { id: "lookup-results", "aria-live": "polite" });
    const lookUp = async () => {
      const asked = {};
      for (const [name, input] of Object.entries(inputs)) {
        if (input.value.trim()) asked[name] = input.value.trim();
      }
      if (!asked.id && !asked.key && !(asked.connection && asked.sequence)) {
        C.say("Give an id, a key, or a connection and a sequence.", "error");
        return;
      }
      C.say("");
      const answer = await C.api("GET", "/notifications" + C.query(asked));
      if (!answer.ok) {
        results.replaceChildren(el("p", { class: "error-text" }, C.errorOf(answer)));
        return;
      }
      const holder = el("div", { class: "body-viewer", id: "body-panel" });
      results.replaceChildren(el("div", { class: "scroll" }, matchesTable(answer.body.matches, holder)), holder);
    };
    const form = el("form", { id: "lookup-form", class: "filters", onsubmit: (e) => { e.preventDefault(); lookUp(); } },
      C.field("Notification id", inputs.id),
      C.field("Record key", inputs.key),
      C.field("Connection", inputs.connection),
      C.field("Sequence", inputs.sequence),
      el("button", { type: "submit", id: "lookup-submit", class: "primary" }, "Look up"));
    C.draw("Notifications",
      el("p", { class: "muted" }, "By id; by key (optionally within a connection); or by connection and sequence."),
      form, results);
    if ([...params.keys()].length) lookUp();
    return null;
  });
})();
