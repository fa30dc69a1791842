/* The console: the overview (#/), every connection and destination at a glance.
 *
 * Fast with 10,000 connections: the server sends one page of rows (100), and a refresh
 * rewrites the cells of the rows already drawn instead of building the table again.
 */
"use strict";

(function () {
  const C = window.Console;
  const el = C.el;
  const PAGE = 100;
  const STATES = ["", "idle", "polling", "backing_off", "paused", "restarting", "starting", "stopped"];
  const CONNECTION_COLUMNS = ["Connection", "State", "Destination", "Cursor", "Lag", "Backlog",
    "Delivered/min", "Changes", "Last success", "Last error"];
  const DESTINATION_COLUMNS = ["Destination", "State", "Backlog", "Oldest pending", "Delivered/min",
    "Delivered", "Failed attempts", "Dead letters", "Last error"];

  /* The cells of one connection's row. */
  function connectionCells(c) {
    return [
      C.connectionLink(c.id),
      C.badge(c.state),
      C.destinationLink(c.destination),
      C.mono(c.cursor),
      C.duration(c.lag_secs),
      C.count(c.backlog),
      C.count(c.delivered_per_min),
      C.count(c.changes),
      C.ago(c.last_success),
      C.errorText(c.last_error),
    ];
  }

  function destinationCells(d) {
    return [
      C.destinationLink(d.id),
      C.badge(d.state),
      C.count(d.backlog),
      C.duration(d.oldest_pending_age_secs),
      C.count(d.delivered_per_min),
      C.count(d.delivered),
      C.count(d.failed_attempts),
      C.count(d.dead_lettered),
      C.errorText(d.last_error || d.state_reason),
    ];
  }

  /* Makes `tbody` show `items`: the rows already there are rewritten in place, extra rows
   * added or removed at the end, so a refresh costs one page of cells, not a new table. */
  function fill(tbody, items, test, cells, columns, none) {
    const rows = Array.from(tbody.querySelectorAll("tr[data-test='" + test + "']"));
    tbody.querySelectorAll("tr.empty").forEach((r) => r.remove());
    items.forEach((item, i) => {
      let tr = rows[i];
      if (!tr) {
        tr = el("tr", { "data-test": test });
        tbody.append(tr);
      }
      tr.dataset.id = item.id;
      tr.classList.toggle("trouble", Boolean(item.last_error) || item.state === "backing_off" ||
        item.state === "restarting" || item.state === "failing");
      const fresh = cells(item).map((c) => el("td", {}, c));
      if (tr.children.length !== fresh.length) tr.replaceChildren(...fresh);
      else fresh.forEach((td, j) => updateCell(tr.children[j], td));
    });
    rows.slice(items.length).forEach((r) => r.remove());
    if (items.length === 0) tbody.append(C.empty(columns, none));
  }

  /* Replaces a cell's content only when it changed (keeps focus and selection stable). */
  function updateCell(td, fresh) {
    if (td.innerHTML !== fresh.innerHTML) {
      td.replaceChildren(...fresh.childNodes);
    }
  }

  function totalsCards(totals) {
    const byState = Object.entries(totals.by_state || {})
      .map(([state, n]) => el("li", {}, C.badge(state), " ", C.count(n)));
    return [
      card("Connections", C.count(totals.connections), el("ul", { class: "states" }, byState)),
      card("Destinations", C.count(totals.destinations)),
      card("Backlog", C.count(totals.backlog), "waiting to be delivered"),
      card("Delivered", C.count(totals.delivered_per_min), "per minute"),
    ];
  }

  function card(title, figure, ...more) {
    return el("section", { class: "card", "aria-label": title },
      el("h3", {}, title), el("p", { class: "figure", "data-test": "total" }, figure), more);
  }

  C.page(/^\/$/, function overview(params) {
    const view = { q: params.get("q") || "", state: params.get("state") || "", offset: 0 };
    const cards = el("div", { class: "cards", id: "totals" });
    const search = el("input", { id: "overview-search", type: "search", value: view.q,
      placeholder: "part of a connection id", autocomplete: "off" });
    const state = el("select", { id: "overview-state" },
      STATES.map((s) => el("option", { value: s, selected: s === view.state }, s ? s.replace(/_/g, " ") : "any state")));
    const shown = el("span", { id: "overview-shown", class: "muted", "aria-live": "polite" });
    const previous = el("button", { type: "button", id: "overview-previous" }, "← Previous");
    const next = el("button", { type: "button", id: "overview-next" }, "Next →");
    const connections = C.table("connections-table", "Connections (trouble first)", CONNECTION_COLUMNS, []);
    const destinations = C.table("destinations-table", "Destinations", DESTINATION_COLUMNS, []);
    const updated = el("p", { class: "muted", id: "overview-updated" });
    C.draw("Overview", cards,
      el("div", { class: "scroll" }, destinations),
      el("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
        C.field("Search connections", search), C.field("State", state),
        el("div", { class: "pager" }, previous, shown, next)),
      el("div", { class: "scroll" }, connections), updated);

    let asked = 0;
    async function refresh() {
      const mine = ++asked;
      const answer = await C.api("GET", "/overview" + C.query({ q: view.q, state: view.state,
        offset: view.offset, limit: PAGE }));
      if (mine !== asked) return;
      if (!answer.ok) {
        C.say("The overview could not be read: " + C.errorOf(answer), "error");
        return;
      }
      const o = answer.body;
      cards.replaceChildren(...totalsCards(o.totals));
      fill(connections.tBodies[0], o.connections, "connection-row", connectionCells,
        CONNECTION_COLUMNS.length, view.q || view.state ? "No connection matches." : "No connections configured.");
      fill(destinations.tBodies[0], o.destinations, "destination-row", destinationCells,
        DESTINATION_COLUMNS.length, "No destinations configured.");
      const matching = o.totals.matching;
      const last = Math.min(view.offset + o.connections.length, matching);
      shown.textContent = matching ? (view.offset + 1) + "–" + last + " of " + C.count(matching) : "none";
      previous.disabled = view.offset === 0;
      next.disabled = last >= matching;
      updated.replaceChildren("Updated ", C.ago(o.generated_at), " · refreshes every 5 s");
    }

    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        view.q = search.value.trim();
        view.offset = 0;
        refresh();
      }, 200);
    });
    state.addEventListener("change", () => {
      view.state = state.value;
      view.offset = 0;
      refresh();
    });
    previous.addEventListener("click", () => {
      view.offset = Math.max(0, view.offset - PAGE);
      refresh();
    });
    next.addEventListener("click", () => {
      view.offset += PAGE;
      refresh();
    });
    const stop = C.every(5000, refresh);
    return () => {
      clearTimeout(typing);
      stop();
    };
  });
})();
