/* The console: dead letters (#/dead-letters), filtered and paged, and one dead letter
 * (#/dead-letters/{id}) with every attempt, retry, purge (confirmed in the page) and its
 * body on request. */
"use strict";

(function () {
  const C = window.Console;
  const el = C.el;
  const PAGE = 50;

  function letterRow(l) {
    return C.row("dead-letter-row", [
      C.link("#/dead-letters/" + encodeURIComponent(l.id), C.mono(l.id), "dead-letter-link"),
      C.connectionLink(l.connection),
      C.mono(l.sequence),
      C.destinationLink(l.destination),
      C.errorText(l.reason),
      C.count(l.attempts),
      C.status(l.last_status),
      C.ago(l.dead_at),
    ]);
  }

  C.page(/^\/dead-letters$/, function deadLetters(params) {
    const filter = { destination: params.get("destination") || "", connection: params.get("connection") || "" };
    const destination = el("input", { id: "dead-letters-destination", value: filter.destination, autocomplete: "off" });
    const connection = el("input", { id: "dead-letters-connection", value: filter.connection, autocomplete: "off" });
    const list = el("div", { class: "scroll", id: "dead-letters" });
    const confirmation = el("div", { "aria-live": "assertive" });
    const previous = el("button", { type: "button", id: "dead-letters-previous" }, "← Previous");
    const next = el("button", { type: "button", id: "dead-letters-next" }, "Next →");
    const pages = [""];

    async function load() {
      const after = pages[pages.length - 1];
      const answer = await C.api("GET", "/dead-letters" + C.query({ ...filter, after, limit: PAGE }));
      if (!answer.ok) {
        list.replaceChildren(el("p", { class: "error-text" }, C.errorOf(answer)));
        return;
      }
      const letters = answer.body.dead_letters;
      list.replaceChildren(C.table("dead-letters-table", "Dead letters, newest first",
        ["Id", "Connection", "Sequence", "Destination", "Reason", "Attempts", "Last status", "Dead since"],
        letters.length ? letters.map(letterRow) : [C.empty(8, "No dead letters" + (filtered() ? " match." : "."))]));
      previous.disabled = pages.length === 1;
      next.disabled = !answer.body.next;
      next.dataset.after = answer.body.next || "";
    }

    const filtered = () => Boolean(filter.destination || filter.connection);
    const scope = () => filtered()
      ? Object.entries(filter).filter(([, v]) => v).map(([k, v]) => k + " " + v).join(" and ")
      : "every destination and connection";
    const bulk = (method, path, doneWord) => async () => {
      const answer = await C.api(method, path + C.query(filtered() ? filter : { all: "true" }));
      if (!answer.ok) C.say(C.errorOf(answer), "error");
      else C.say(doneWord + " " + C.count(answer.body.retried ?? answer.body.purged) + " dead letters.", "ok");
      pages.length = 1;
      await load();
    };

    const form = el("form", { class: "filters", id: "dead-letters-filter", onsubmit: (e) => {
      e.preventDefault();
      filter.destination = destination.value.trim();
      filter.connection = connection.value.trim();
      pages.length = 1;
      load();
    } }, C.field("Destination", destination), C.field("Connection", connection),
    el("button", { type: "submit", class: "primary" }, "Filter"));
    const bulkActions = el("div", { class: "actions" },
      C.actionButton("Retry all shown", "retry-matching", () => {
        C.confirmInPlace(confirmation, "Send back to delivery every dead letter of " + scope() + "?",
          "Retry them", bulk("POST", "/dead-letters/retry", "Retried"));
      }),
      C.actionButton("Purge all shown…", "purge-matching", () => {
        C.confirmInPlace(confirmation, "Delete for good every dead letter of " + scope() + "? This cannot be undone.",
          "Purge them", bulk("DELETE", "/dead-letters", "Purged"));
      }, "danger"));
    previous.addEventListener("click", () => { pages.pop(); load(); });
    next.addEventListener("click", () => { pages.push(next.dataset.after); load(); });
    C.draw("Dead letters", form, bulkActions, confirmation, list, el("div", { class: "pager" }, previous, next));
    load();
    return null;
  });

  C.page(/^\/dead-letters\/(.+)$/, function deadLetter(_params, id) {
    const path = "/dead-letters/" + encodeURIComponent(id);
    const body = el("div", { id: "dead-letter" });
    const confirmation = el("div", { "aria-live": "assertive" });
    C.draw("Dead letter", body);
    (async () => {
      const answer = await C.api("GET", path);
      if (!answer.ok) {
        body.replaceChildren(el("p", { class: "error-text", "data-test": "dead-letter-missing" }, C.errorOf(answer)),
          C.link("#/dead-letters", "All dead letters"));
        return;
      }
      const letter = answer.body;
      delete letter.body; // shown only through the logged body endpoint, on a click
      const done = el("p", { id: "dead-letter-outcome", "data-test": "dead-letter-outcome", "aria-live": "polite" });
      const settle = (message) => {
        actions.remove();
        confirmation.replaceChildren();
        done.replaceChildren(message, " ", C.link("#/dead-letters", "Back to the dead letters"));
      };
      const actions = el("div", { class: "actions" },
        C.actionButton("Retry", "retry", async () => {
          const retried = await C.api("POST", path + "/retry");
          if (retried.ok) settle("Sent back to delivery, with its id and sequence.");
          else C.say("Retry refused: " + C.errorOf(retried), "error");
        }, "primary"),
        C.actionButton("Purge…", "purge", () => {
          C.confirmInPlace(confirmation, "Delete this dead letter for good? It will never be sent.", "Purge", async () => {
            const purged = await C.api("DELETE", path);
            if (purged.ok) settle("Purged.");
            else C.say("Purge refused: " + C.errorOf(purged), "error");
          });
        }, "danger"));
      body.replaceChildren(
        C.facts([
          ["Id", C.mono(letter.notification_id)],
          ["Connection", C.connectionLink(letter.connection)],
          ["Sequence", C.mono(letter.sequence)],
          ["Destination", C.destinationLink(letter.destination)],
          ["Reason", C.errorText(letter.reason)],
          ["Dead since", C.ago(letter.dead_at)],
        ]),
        actions, confirmation, done,
        C.table("dead-letter-attempts", "Every attempt, oldest first", ["#", "When", "Status", "Error"],
          letter.attempts.map((a, i) => C.row("dead-letter-attempt", [String(i + 1), C.ago(a.at), C.status(a.status), C.errorText(a.error)]))),
        el("h3", {}, "Body"),
        C.bodyViewer(letter.notification_id, letter.connection, letter.sequence));
    })();
    return null;
  });
})();
