// Logs page: the box's recent log lines, newest first, at a chosen level or worse and
// optionally of one camera, refreshed every 5 s unless paused. Times on the box's
// clock; the lines themselves are the box's own technical text, shown as such.
"use strict";
(function () {
  var SW = window.SW, el = SW.el, t = SW.t, clear = SW.clear;
  var LEVELS = ["error", "warn", "info", "debug", "trace"];
  var level = "info";
  var camera = "";
  var paused = false;
  var listNode = null;

  function refresh(force) {
    if (!listNode || (paused && !force)) return;
    var node = listNode;
    var q = "?limit=300&level=" + encodeURIComponent(level) + (camera ? "&camera=" + encodeURIComponent(camera) : "");
    SW.api("GET", "/api/logs" + q).then(function (r) {
      if (node !== listNode || SW.view() !== "logs") return;
      clear(node);
      if (r.status !== 200) {
        node.appendChild(el("li", { class: "banner error", role: "alert" }, [SW.errorText(r), SW.details(r.body && r.body.message)]));
        return;
      }
      node.setAttribute("data-level", level);
      node.setAttribute("data-camera", camera);
      if (!r.body.lines.length) node.appendChild(el("li", { class: "hint", text: t("logs.none") }));
      r.body.lines.slice().reverse().forEach(function (l) {
        node.appendChild(el("li", { class: "log-line level-" + l.level, "data-level": l.level }, [
          SW.timeEl(l.time), " ",
          el("span", { class: "log-level", text: t("logs.level." + l.level) }), " ",
          el("code", { class: "log-text", text: l.target + " " + l.message })
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
    sel.addEventListener("change", function () { level = sel.value; refresh(true); });
    var cam = el("select", { id: "logs-camera", name: "logs-camera" }, [el("option", { value: "", text: t("ev.all_cameras") })]);
    cam.addEventListener("change", function () { camera = cam.value; refresh(true); });
    var pause = el("button", { id: "logs-pause", type: "button", class: "secondary", "aria-pressed": paused ? "true" : "false",
      text: paused ? t("logs.resume") : t("logs.pause") });
    var state = el("span", { id: "logs-state", class: "hint", text: paused ? t("logs.paused") : t("logs.hint") });
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.textContent = paused ? t("logs.resume") : t("logs.pause");
      pause.setAttribute("aria-pressed", paused ? "true" : "false");
      state.textContent = paused ? t("logs.paused") : t("logs.hint");
      if (!paused) refresh(true);
    });
    app.appendChild(el("div", { class: "card filter-grid" }, [
      el("div", {}, [el("label", { for: "logs-level", text: t("logs.min_level") }), sel]),
      el("div", {}, [el("label", { for: "logs-camera", text: t("ev.camera") }), cam]),
      el("div", { class: "row" }, [pause, state])
    ]));
    SW.api("GET", "/api/cameras").then(function (r) {
      if (r.status !== 200) return;
      r.body.cameras.forEach(function (c) {
        cam.appendChild(el("option", { value: c.id, text: c.name ? c.name + "（" + c.id + "）" : c.id, selected: c.id === camera }));
      });
    });
    listNode = el("ul", { id: "logs-list", class: "logs" });
    app.appendChild(listNode);
    refresh(true);
  }

  SW.pages.logs = function () { render(SW.app); };
  setInterval(function () {
    if (SW.loggedIn() && SW.view() === "logs" && !document.hidden) refresh(false);
  }, 5000);
})();
