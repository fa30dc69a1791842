/* The console: pages drawn from the admin API, one per hash route.
 *
 * No framework and no inline script (the Content-Security-Policy forbids both): every node
 * is built with document.createElement and textContent, so nothing the API returns is ever
 * parsed as HTML. Each page is a function that draws into <main> and may return a stop
 * function (its timers), called when the route changes.
 */
"use strict";

(function () {
  const main = document.getElementById("main");
  const flash = document.getElementById("flash");
  const session = { csrf: null, viewer: null, signOut: false };
  let stopPage = null;

  /* ---------- the API ---------- */

  /* Sends one request; answers {ok, status, body}. Unsafe methods carry the CSRF token. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && session.csrf) headers["X-Courier-CSRF"] = session.csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, status: 0, body: { error: "Courier does not answer (" + err.message + ")" } };
    }
    if (response.status === 401) {
      window.location.assign("/console/sign-in");
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (_) {
      parsed = { error: "HTTP " + response.status };
    }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  function errorOf(answer) {
    return (answer.body && answer.body.error) || "HTTP " + answer.status;
  }

  async function loadSession() {
    const answer = await api("GET", "/console/session");
    if (!answer.ok) return;
    session.csrf = answer.body.csrf;
    session.viewer = answer.body.viewer;
    session.signOut = answer.body.sign_out;
    const who = document.getElementById("viewer");
    who.textContent = session.viewer || "";
    document.getElementById("sign-out").hidden = !session.signOut;
  }

  async function signOut() {
    await api("POST", "/console/sign-out");
    window.location.assign("/console/sign-in");
  }

  /* ---------- building the page ---------- */

  /* An element: el("a", {href: "#/"}, "text", child…). Attributes named on* are refused. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "onclick") node.addEventListener("click", value);
      else if (name === "onsubmit") node.addEventListener("submit", value);
      else if (name === "oninput") node.addEventListener("input", value);
      else if (name === "onchange") node.addEventListener("change", value);
      else if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function say(message, kind) {
    flash.textContent = message;
    flash.className = "flash " + (kind || "info");
    flash.hidden = !message;
  }

  function badge(state) {
    const name = state || "unknown";
    return el("span", { class: "badge state-" + name.replace(/[^a-z_]/g, ""), "data-test": "state" }, name.replace(/_/g, " "));
  }

  function mono(text) {
    return el("code", { class: "mono" }, text === null || text === undefined ? "—" : String(text));
  }

  function count(n) {
    return n === null || n === undefined ? "—" : Number(n).toLocaleString("en");
  }

  /* "12 s ago", "4 min ago"…, with the exact time as a tooltip. */
  function ago(iso) {
    if (!iso) return el("span", { class: "muted" }, "never");
    const secs = (Date.now() - Date.parse(iso)) / 1000;
    const text = Math.abs(secs) < 1 ? "just now" : duration(secs) + (secs >= 0 ? " ago" : " from now");
    return el("time", { datetime: iso, title: iso }, text);
  }

  function duration(secs) {
    if (secs === null || secs === undefined) return "—";
    const s = Math.abs(secs);
    if (s < 1) return "< 1 s";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    if (s < 172800) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " d";
  }

  function errorText(text) {
    return text ? el("span", { class: "error-text", title: text }, text) : el("span", { class: "muted" }, "—");
  }

  function table(id, caption, headings, rows) {
    return el(
      "table",
      { id, "data-test": id },
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)
    );
  }

  function row(test, cells) {
    return el("tr", { "data-test": test }, cells.map((c) => el("td", {}, c)));
  }

  function empty(columns, text) {
    return el("tr", { class: "empty" }, el("td", { colspan: columns }, text));
  }

  function link(href, text, test) {
    return el("a", { href, "data-test": test }, text);
  }

  function connectionLink(id) {
    if (!id) return el("span", { class: "muted" }, "—");
    return link("#/connections/" + encodeURIComponent(id), mono(id), "connection-link");
  }

  function destinationLink(id) {
    if (!id) return el("span", { class: "muted" }, "—");
    return link("#/destinations/" + encodeURIComponent(id), mono(id), "destination-link");
  }

  /* Replaces `holder`'s content by `nodes`, keeping the keyboard focus on the same control
   * when it was inside: a refresh must not throw a keyboard user back to the top. */
  function redraw(holder, ...nodes) {
    const active = document.activeElement;
    const key = holder.contains(active) ? focusKey(active) : null;
    holder.replaceChildren(...nodes);
    if (key === null) return;
    const again = Array.from(holder.querySelectorAll(active.tagName)).find((e) => focusKey(e) === key);
    if (again) again.focus({ preventScroll: true });
  }

  function focusKey(node) {
    return [node.tagName, node.getAttribute("href"), node.dataset.test, node.textContent].join("|");
  }

  function draw(title, ...children) {
    document.title = title + " · Courier console";
    main.replaceChildren(el("h2", { id: "page-title" }, title), ...children);
    main.focus({ preventScroll: true });
  }

  /* A button that runs `action` once per click and is disabled while it runs. */
  function actionButton(label, test, action, kind) {
    const button = el("button", { type: "button", "data-test": test, class: kind || "" }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await action();
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  /* An in-page confirmation: `question`, then Confirm (runs `action`) or Cancel. */
  function confirmInPlace(holder, question, confirmLabel, action) {
    const box = el(
      "div",
      { class: "confirm", role: "alertdialog", "aria-label": question, "data-test": "confirm" },
      el("p", {}, question),
      actionButton(confirmLabel, "confirm-yes", async () => {
        box.remove();
        await action();
      }, "danger"),
      el("button", { type: "button", "data-test": "confirm-no", onclick: () => box.remove() }, "Cancel")
    );
    holder.replaceChildren(box);
    box.querySelector("button").focus();
  }

  /* Runs `refresh` now and every `ms`; returns the stop function. */
  function every(ms, refresh) {
    let stopped = false;
    let timer = null;
    const tick = async () => {
      await refresh();
      if (!stopped) timer = setTimeout(tick, ms);
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== "" && value !== null && value !== undefined) search.set(key, value);
    }
    const text = search.toString();
    return text ? "?" + text : "";
  }

  /* A labelled field: label text, then the input. */
  function field(label, input) {
    return el("label", { class: "field" }, el("span", {}, label), input);
  }

  window.Console = { api, el, say, badge, mono, count, ago, duration, errorText, table, row, empty,
    link, connectionLink, destinationLink, draw, redraw, actionButton, confirmInPlace, every, query, field,
    errorOf, session };

  /* ---------- routing ---------- */

  const routes = [];

  /* Registers a page for hash paths matching `pattern` (its groups are the page's arguments). */
  window.Console.page = function (pattern, render) {
    routes.push({ pattern, render });
  };

  function route() {
    if (stopPage) stopPage();
    stopPage = null;
    say("");
    const hash = window.location.hash.replace(/^#/, "") || "/";
    const [path, search] = hash.split("?");
    for (const link of document.querySelectorAll("nav a")) {
      const section = link.getAttribute("href").slice(1);
      const current = section === "/" ? path === "/" || path.startsWith("/connections") || path.startsWith("/destinations") : path.startsWith(section);
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    for (const { pattern, render } of routes) {
      const found = pattern.exec(path);
      if (found) {
        const args = found.slice(1).map(decodeURIComponent);
        stopPage = render(new URLSearchParams(search || ""), ...args) || null;
        return;
      }
    }
    draw("Not found", el("p", {}, "No page at " + hash + ". "), link("#/", "Back to the overview"));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("sign-out").addEventListener("click", signOut);
    // The skip link focuses the page instead of changing the hash (which is the route).
    document.querySelector(".skip").addEventListener("click", (event) => {
      event.preventDefault();
      main.focus();
    });
    await loadSession();
    window.addEventListener("hashchange", route);
    route();
  });
})();
