// Live: what the detector saw, about once a second: the analysed frame itself with the
// boxes computed on it (one answer carries both, so a box never lags its object), and
// the zones. By default only the classes the camera's rules use are drawn, named in
// the page's language; "show all detections" draws everything the detector found.
"use strict";
(function () {
  var SW = window.SW = window.SW || { pages: {} };
  function t(key, vars) { return SW.t(key, vars); }

  var REFRESH_MS = 1000;
  var ZONE_COLORS = { no_parking: "#e53935", litter_watch: "#fb8c00", road_watch: "#1e88e5", privacy: "#212121" };
  // Categories each rule acts on (prefixes of the detector's categories).
  var RULE_CLASSES = { no_parking: ["vehicle"], litter_watch: ["litter", "person"], road_watch: ["road_damage"] };
  var showAll = localStorage.getItem("sw.live.all") === "1";

  // The camera shown and a token that ends an old refresh loop when a new one starts.
  var cur = null;

  function byId(id) { return document.getElementById(id); }

  function under(cat, prefix) { return cat === prefix || cat.indexOf(prefix + ".") === 0; }

  // The category prefixes the camera's rules use.
  function ruleClasses(zones) {
    var out = [];
    zones.forEach(function (z) {
      (z.rules || []).forEach(function (r) { (RULE_CLASSES[r.type] || []).forEach(function (c) { if (out.indexOf(c) < 0) out.push(c); }); });
    });
    return out;
  }

  // A category in the page's language: the most specific name there is.
  function className(cat) {
    var parts = cat.split(".");
    for (var n = parts.length; n > 0; n--) {
      var key = "class." + parts.slice(0, n).join(".");
      if (SW.has(key)) return t(key);
    }
    return t("class.object");
  }

  function loadImage(src) {
    return new Promise(function (resolve) {
      if (!src) return resolve(null);
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = function () { resolve(null); };
      img.src = src;
    });
  }

  function draw(state, img, live) {
    var c = byId("live-canvas");
    if (!c) return;
    if (img && (c.width !== img.naturalWidth || c.height !== img.naturalHeight)) {
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
    }
    var g = c.getContext("2d");
    var W = c.width, H = c.height;
    var scale = W / Math.max(1, c.getBoundingClientRect().width || W);
    if (img) g.drawImage(img, 0, 0, W, H);
    else {
      g.fillStyle = "#37474f";
      g.fillRect(0, 0, W, H);
      g.fillStyle = "#fff";
      g.font = Math.round(W / 30) + "px sans-serif";
      g.fillText(t("zones.no_picture"), W * 0.05, H * 0.5);
    }
    state.zones.forEach(function (z) {
      var pts = z.polygon || [];
      if (pts.length < 3) return;
      var r = (z.rules || [])[0];
      g.beginPath();
      pts.forEach(function (p, k) { if (k) g.lineTo(p[0] * W, p[1] * H); else g.moveTo(p[0] * W, p[1] * H); });
      g.closePath();
      g.lineWidth = 2 * scale;
      g.setLineDash([8 * scale, 5 * scale]);
      g.strokeStyle = (r && ZONE_COLORS[r.type]) || "#43a047";
      g.stroke();
      g.setLineDash([]);
    });
    var wanted = ruleClasses(state.zones);
    var dets = live && live.available ? live.detections : [];
    var shown = dets.filter(function (d) {
      return showAll || wanted.some(function (p) { return under(d.category, p); });
    });
    g.font = Math.round(14 * scale) + "px sans-serif";
    shown.forEach(function (d) {
      var x = d.bbox[0] * W, y = d.bbox[1] * H, w = (d.bbox[2] - d.bbox[0]) * W, h = (d.bbox[3] - d.bbox[1]) * H;
      g.lineWidth = 2 * scale;
      g.strokeStyle = d.filtered ? "#9e9e9e" : d.track_id != null ? "#00e676" : "#ffeb3b";
      if (d.filtered) g.setLineDash([4 * scale, 4 * scale]);
      g.strokeRect(x, y, w, h);
      g.setLineDash([]);
      var label = className(d.category) + " " + Math.round(d.score * 100) + "%" + (d.track_id != null ? " #" + d.track_id : "");
      var tw = g.measureText(label).width + 6 * scale, th = 18 * scale;
      var ly = y >= th ? y - th : y;
      g.fillStyle = "rgba(0,0,0,.65)";
      g.fillRect(x, ly, tw, th);
      g.fillStyle = "#fff";
      g.fillText(label, x + 3 * scale, ly + th - 5 * scale);
    });
    state.frame++;
    // What is shown, for tests: the picture and the boxes drawn on it.
    SW.liveShown = { picture: live && live.picture, media_time_ns: live && live.media_time_ns, boxes: shown.map(function (d) { return { bbox: d.bbox, category: d.category }; }) };
    // For tests and screen readers: what is drawn, on which analysed frame.
    c.setAttribute("data-detections", String(shown.length));
    c.setAttribute("data-all-detections", String(dets.length));
    c.setAttribute("data-frame", String(state.frame));
    c.setAttribute("data-media-time", live && live.available ? String(live.media_time_ns) : "");
    c.setAttribute("data-boxes", JSON.stringify(shown.map(function (d) { return d.bbox; })));
    c.setAttribute("data-paired", live && live.picture ? "true" : "false");
    var info = byId("live-info");
    if (info) {
      SW.clear(info);
      if (live && live.available) {
        info.appendChild(document.createTextNode(t("live.info", { n: shown.length, all: dets.length, w: live.width, h: live.height }) + " "));
        info.appendChild(SW.timeEl(live.media_time));
      } else info.appendChild(document.createTextNode(t("live.waiting")));
    }
  }

  // One refresh: the analysed frame and its detections in one answer, then the next.
  function tick(state) {
    if (cur !== state || SW.view() !== "live" || !byId("live-canvas")) return;
    if (document.hidden) { setTimeout(function () { tick(state); }, REFRESH_MS); return; }
    var base = "/api/cameras/" + encodeURIComponent(state.camera);
    SW.api("GET", base + "/live?picture=true").then(function (r) {
      if (cur !== state) return null;
      var live = r.status === 200 ? r.body : null;
      // No analysed frame held (yet): the latest picture, without boxes.
      var src = live && live.picture ? live.picture : base + "/snapshot.jpg?t=" + Date.now();
      return loadImage(src).then(function (img) {
        if (cur !== state) return;
        // A held picture is drawn with its own boxes; a stand-in picture with none.
        var paired = live && live.picture ? live : live ? Object.assign({}, live, { detections: [] }) : null;
        if (img || !state.frame) draw(state, img, paired);
      });
    }).then(function () {
      setTimeout(function () { tick(state); }, REFRESH_MS);
    });
  }

  function show(camera) {
    SW.camera = camera;
    var state = cur = { camera: camera, zones: [], frame: 0 };
    SW.api("GET", "/api/cameras/" + encodeURIComponent(camera) + "/zones").then(function (r) {
      if (r.status === 200 && cur === state) { state.zones = r.body.zones; legend(state.zones); }
    });
    tick(state);
  }

  // Which classes are drawn and why.
  function legend(zones) {
    var l = byId("live-classes");
    if (!l) return;
    var wanted = ruleClasses(zones);
    l.textContent = showAll ? t("live.showing_all")
      : wanted.length ? t("live.showing", { classes: wanted.map(className).join("、") }) : t("live.no_rules");
  }

  SW.pages.live = function () {
    cur = null;
    SW.api("GET", "/api/cameras").then(function (r) {
      if (r.status !== 200 || SW.view() !== "live") return;
      var app = SW.app, cams = r.body.cameras;
      SW.clear(app);
      app.appendChild(SW.el("h1", { text: t("live.title") }));
      if (!cams.length) {
        app.appendChild(SW.el("p", { class: "card", text: t("dash.none") }));
        return;
      }
      var pick = SW.el("select", { id: "live-camera" }, cams.map(function (c) {
        return SW.el("option", { value: c.id, text: c.name ? c.name + "（" + c.id + "）" : c.id, selected: c.id === SW.camera });
      }));
      var all = SW.el("input", { type: "checkbox", id: "live-all", checked: showAll });
      app.appendChild(SW.el("label", { for: "live-camera", text: t("zones.camera") }));
      app.appendChild(pick);
      app.appendChild(SW.el("div", { class: "card picture" }, [
        SW.el("canvas", { id: "live-canvas", width: "1280", height: "720", "data-detections": "0", "data-frame": "0" }),
        SW.el("p", { id: "live-info", class: "hint", "aria-live": "polite", text: t("live.waiting") }),
        SW.el("label", { for: "live-all", class: "check" }, [all, " " + t("live.show_all")]),
        SW.el("p", { id: "live-classes", class: "hint" }),
        SW.el("p", { class: "hint", text: t("live.legend") })
      ]));
      all.addEventListener("change", function () {
        showAll = all.checked;
        localStorage.setItem("sw.live.all", showAll ? "1" : "0");
        if (cur) legend(cur.zones);
      });
      pick.addEventListener("change", function () { show(pick.value); });
      show(pick.value);
      legend([]);
    });
  };
})();
