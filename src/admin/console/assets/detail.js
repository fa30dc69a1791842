/* The console: one connection (#/connections/{id}) and one destination (#/destinations/{id}),
 * each with its actions (poll now, pause, resume) and what it did lately. */
"use strict";

(function () {
  const C = window.Console;
  const el = C.el;

  /* A definition list of [term, value] pairs. */
  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  }

  /* Buttons that POST `path/{action}` and then refresh the page. */
  function actions(path, names, refresh) {
    return el("div", { class: "actions" }, names.map(([action, label]) =>
      C.actionButton(label, action, async () => {
        const answer = await C.api("POST", path + "/" + action);
        if (answer.ok) C.say(label + ": done.", "ok");
        else C.say(label + " refused: " + C.errorOf(answer), "error");
        await refresh();
      })));
  }

  function notificationLink(n) {
    return C.link("#/notifications?id=" + encodeURIComponent(n.id), C.mono(n.id), "notification-link");
  }

  function status(code) {
    if (code === null || code === undefined) return el("span", { class: "muted" }, "—");
    const kind = code >= 200 && code < 300 ? "ok" : code >= 500 || code === 429 ? "warn" : "bad";
    return el("span", { class: "http http-" + kind }, String(code));
  }

  C.status = status;
  C.facts = facts;

  /* A page about one connection or destination (`kind`): its answer from the API, read
     again every 5 s and drawn by `render(answer, id)` under its title and `buttons`. */
  function thingPage(kind, title, buttons, render) {
    C.page(new RegExp("^/" + kind + "s/(.+)$"), function (_params, id) {
      const path = "/" + kind + "s/" + encodeURIComponent(id);
      const body = el("div", { id: kind });
      const refresh = async () => {
        const answer = await C.api("GET", path);
        if (!answer.ok) {
          body.replaceChildren(el("p", { class: "error-text" }, C.errorOf(answer)));
          return;
        }
        C.redraw(body, ...render(answer.body, id));
      };
      C.draw(title + " " + id, actions(path, buttons, refresh), body);
      return C.every(5000, refresh);
    });
  }

  thingPage("connection", "Connection", [["poll", "Poll now"], ["pause", "Pause"], ["resume", "Resume"]],
    function connection(c) {
      const s = c.status || {};
      return [
        facts([
          ["State", C.badge(s.state)],
          ["Destination", C.destinationLink(c.destination)],
          ["Cursor", C.mono(s.cursor)],
          ["Lag", C.duration(c.lag_secs)],
          ["Backlog", C.count(c.backlog)],
          ["Delivered per minute", C.count(c.delivered_per_min)],
          ["Changes", C.count(s.changes)],
          ["Last success", C.ago(s.last_success)],
          ["Last error", C.errorText(s.last_error)],
          ["Failures in a row", C.count(s.consecutive_failures)],
        ]),
        C.table("polls-table", "Last polls", ["When", "Outcome", "Changes", "Took", "Error"],
          c.polls.length ? c.polls.map((p) => C.row("poll-row", [C.ago(p.at),
            C.badge(p.outcome), C.count(p.changes), p.duration_ms + " ms", C.errorText(p.error)]))
            : [C.empty(5, "No polls yet.")]),
        C.table("notifications-table", "Recent notifications",
          ["Id", "Sequence", "Key", "Type", "Outcome", "Attempts", "Last status", "When"],
          c.notifications.length ? c.notifications.map((n) => C.row("notification-row", [
            notificationLink(n), C.mono(n.sequence), C.mono(n.key), n.event_type,
            C.badge(n.outcome), C.count(n.attempts), status(n.last_status), C.ago(n.at)]))
            : [C.empty(8, "No notifications yet.")]),
      ];
    });

  thingPage("destination", "Destination", [["pause", "Pause"], ["resume", "Resume"]],
    function destination(d, id) {
      const s = d.status || {};
      return [
        facts([
          ["Health", C.badge(s.state)],
          ["Why", C.errorText(s.state_reason)],
          ["Since", C.ago(s.state_since)],
          ["Backlog", C.count(s.backlog)],
          ["Oldest pending", C.duration(s.oldest_pending_age_secs)],
          ["Delivered per minute", C.count(d.delivered_per_min)],
          ["Delivered", C.count(s.delivered)],
          ["Failed attempts", C.count(s.failed_attempts)],
          ["Dead letters", C.link("#/dead-letters?destination=" + encodeURIComponent(id), C.count(s.dead_lettered), "dead-letters-link")],
          ["Last error", C.errorText(s.last_error)],
        ]),
        C.table("attempts-table", "Recent attempts",
          ["When", "Notification", "Connection", "Sequence", "Status", "Latency", "Outcome", "Error"],
          d.attempts.length ? d.attempts.map((a) => C.row("attempt-row", [C.ago(a.at),
            C.mono(a.notification_id), C.connectionLink(a.connection), C.mono(a.sequence),
            status(a.status), a.latency_ms + " ms", C.badge(a.outcome), C.errorText(a.error)]))
            : [C.empty(8, "No attempts yet.")]),
      ];
    });
})();
