// The camera's scene on the Zones page: whether its rules run now, its tampering
// state, the button that takes a new reference view, and, for a PTZ dome, its presets
// (tapping one moves the camera there; the picture is taken once it has stopped, and
// zones drawn then belong to that preset). Kept apart from the zone editor, which
// asks only `SW.scene.preset()` for a new zone and gives `mount` its picture reload.
"use strict";
(function () {
  var SW = window.SW = window.SW || { pages: {} };
  function t(key, vars) { return SW.t(key, vars); }

  // The mounted panel: camera, where it is, the editor's picture reload.
  var cur = null;

  function path(camera, rest) { return "/api/cameras/" + encodeURIComponent(camera) + rest; }

  function say(kind, text) {
    var m = document.getElementById("scene-message");
    if (!m) return;
    m.className = "hint " + (kind || "");
    m.textContent = text || "";
  }

  function render(body) {
    var box = document.getElementById("scene-state");
    if (!box || !cur) return;
    SW.clear(box);
    var s = body && body.scene;
    if (!s) { box.appendChild(SW.el("span", { class: "hint", text: t("scene.waiting") })); return; }
    var tamper = (s.tamper && s.tamper.active) || [];
    var ok = !s.paused && !tamper.length;
    box.setAttribute("data-tamper", tamper.join(",") || "none");
    box.appendChild(SW.el("span", { class: "state " + (ok ? "streaming" : "connecting"), text: ok ? t("scene.ok") : t("scene.paused") }));
    tamper.forEach(function (k) { box.appendChild(SW.el("span", { class: "state failed", "data-tamper": k, text: t("scene.tamper." + k) })); });
    if (s.ptz && s.ptz.state === "at") {
      cur.preset = s.ptz.preset;
      box.appendChild(SW.el("span", { class: "hint", text: " " + t("scene.at_preset", { p: s.ptz.preset }) }));
    } else if (s.ptz) {
      cur.preset = null;
      box.appendChild(SW.el("span", { class: "hint", text: " " + t("scene.ptz." + s.ptz.state) }));
    }
    var ref = s.tamper && s.tamper.reference_set;
    box.appendChild(SW.el("span", { class: "hint", text: " " + (ref ? t("scene.reference_at") + " " : t("scene.no_reference")) }));
    if (ref) box.appendChild(SW.timeEl(ref));
  }

  function refresh() {
    if (!cur) return;
    var camera = cur.camera;
    SW.api("GET", path(camera, "/scene")).then(function (r) {
      if (!cur || cur.camera !== camera || r.status !== 200) return;
      render(r.body);
    });
  }

  function presets(list) {
    var ul = document.getElementById("scene-presets");
    if (!ul) return;
    SW.clear(ul);
    list.forEach(function (p) {
      ul.appendChild(SW.el("li", {}, [SW.el("button", {
        class: "secondary small", type: "button", "data-preset": p.token,
        text: t("scene.goto", { name: p.name || p.token }),
        onclick: function () { go(p.token); }
      })]));
    });
  }

  function go(token) {
    var camera = cur.camera;
    say("", t("scene.moving"));
    SW.api("POST", path(camera, "/ptz/goto"), { preset: token }).then(function (r) {
      if (!cur || cur.camera !== camera) return;
      if (r.status === 200) {
        cur.preset = token;
        say("ok", t("scene.arrived", { p: token }));
        if (cur.reload) cur.reload();
        refresh();
      } else {
        say("error", SW.errorText(r));
      }
    });
  }

  function retake() {
    var camera = cur.camera;
    SW.api("POST", path(camera, "/reference")).then(function (r) {
      if (!cur || cur.camera !== camera) return;
      if (r.status === 200) { say("ok", t("scene.reference_requested")); setTimeout(refresh, 2000); }
      else say("error", SW.errorText(r));
    });
  }

  SW.scene = {
    // Shows `camera`'s scene in `box`; `reload` takes the editor's picture again.
    mount: function (box, camera, reload, ptz) {
      if (cur && cur.timer) clearInterval(cur.timer);
      cur = { camera: camera, reload: reload, preset: null, timer: null };
      if (!box) return;
      SW.clear(box);
      box.appendChild(SW.el("div", { id: "scene-state", class: "row tight" }));
      box.appendChild(SW.el("div", { class: "row tight" }, [
        SW.el("button", { id: "scene-reference", class: "secondary small", type: "button", text: t("scene.reference"), onclick: retake })
      ]));
      if (ptz) {
        box.appendChild(SW.el("p", { class: "hint", text: t("scene.presets_help") }));
        box.appendChild(SW.el("ul", { id: "scene-presets", class: "row tight" }));
        SW.api("GET", path(camera, "/presets")).then(function (r) {
          if (!cur || cur.camera !== camera) return;
          if (r.status === 200) presets(r.body.presets || []);
          else say("error", SW.errorText(r));
        });
      }
      box.appendChild(SW.el("p", { id: "scene-message", class: "hint" }));
      refresh();
      cur.timer = setInterval(function () {
        if (!document.getElementById("scene-state")) { clearInterval(cur.timer); cur = null; return; }
        refresh();
      }, 5000);
    },
    // The preset the camera stands at (zones drawn now belong to it), or null.
    preset: function () { return cur ? cur.preset : null; }
  };
})();
