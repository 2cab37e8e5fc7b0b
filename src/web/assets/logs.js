// Logs page: the box's recent log lines, newest first, at a chosen level or worse.
"use strict";
(function () {
  var SW = window.SW, el = SW.el, t = SW.t, clear = SW.clear;
  var LEVELS = ["error", "warn", "info", "debug", "trace"];
  var level = "info";
  var listNode = null;

  function refresh() {
    if (!listNode) return;
    var node = listNode;
    SW.api("GET", "/api/logs?limit=300&level=" + encodeURIComponent(level)).then(function (r) {
      if (node !== listNode || SW.view() !== "logs") return;
      clear(node);
      if (r.status !== 200) {
        node.appendChild(el("li", { class: "banner error", role: "alert", text: (r.body && r.body.message) || t("err.generic") }));
        return;
      }
      node.setAttribute("data-level", level);
      if (!r.body.lines.length) node.appendChild(el("li", { class: "hint", text: t("logs.none") }));
      r.body.lines.slice().reverse().forEach(function (l) {
        node.appendChild(el("li", { class: "log-line level-" + l.level, "data-level": l.level }, [
          el("span", { class: "hint", text: l.time.replace("T", " ").slice(0, 23) + " " }),
          el("span", { class: "log-level", text: t("logs.level." + l.level) + " " }),
          el("span", { class: "hint", text: l.target + " " }),
          el("span", { text: l.message })
        ]));
      });
    });
  }

  function render(app) {
    clear(app);
    app.appendChild(el("h1", { text: t("logs.title") }));
    var sel = el("select", { id: "logs-level", name: "logs-level" }, LEVELS.map(function (l) {
      return el("option", { value: l, text: t("logs.level." + l), selected: l === level });
    }));
    sel.addEventListener("change", function () { level = sel.value; refresh(); });
    app.appendChild(el("div", { class: "card" }, [
      el("label", { for: "logs-level", text: t("logs.min_level") }), sel,
      el("p", { class: "hint", text: t("logs.hint") })
    ]));
    listNode = el("ul", { id: "logs-list", class: "logs" });
    app.appendChild(listNode);
    refresh();
  }

  SW.pages.logs = function () { render(SW.app); };
  setInterval(function () {
    if (SW.loggedIn() && SW.view() === "logs" && !document.hidden) refresh();
  }, 5000);
})();
