// Live: the camera's latest picture about once a second with the detector's current
// boxes (class, score, track id) and the zones, so a technician can see the detector
// work before leaving the pole. Periodic JPEGs rather than video: no codec in the
// browser, and each picture costs the box one JPEG encode.
"use strict";
(function () {
  var SW = window.SW = window.SW || { pages: {} };
  function t(key, vars) { return SW.t(key, vars); }

  var REFRESH_MS = 1000;
  var ZONE_COLORS = { no_parking: "#e53935", litter_watch: "#fb8c00", road_watch: "#1e88e5", privacy: "#212121" };

  // The camera shown and a token that ends an old refresh loop when a new one starts.
  var cur = null;

  function byId(id) { return document.getElementById(id); }

  function loadImage(src) {
    return new Promise(function (resolve) {
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
    var drawn = 0;
    var dets = live && live.available ? live.detections : [];
    g.font = Math.round(14 * scale) + "px sans-serif";
    dets.forEach(function (d) {
      var x = d.bbox[0] * W, y = d.bbox[1] * H, w = (d.bbox[2] - d.bbox[0]) * W, h = (d.bbox[3] - d.bbox[1]) * H;
      g.lineWidth = 2 * scale;
      g.strokeStyle = d.track_id != null ? "#00e676" : "#ffeb3b";
      g.strokeRect(x, y, w, h);
      var label = d.class + " " + d.score.toFixed(2) + (d.track_id != null ? " #" + d.track_id : "");
      var tw = g.measureText(label).width + 6 * scale, th = 18 * scale;
      var ly = y >= th ? y - th : y;
      g.fillStyle = "rgba(0,0,0,.65)";
      g.fillRect(x, ly, tw, th);
      g.fillStyle = "#fff";
      g.fillText(label, x + 3 * scale, ly + th - 5 * scale);
      drawn++;
    });
    state.frame++;
    c.setAttribute("data-detections", String(drawn));
    c.setAttribute("data-frame", String(state.frame));
    var info = byId("live-info");
    if (info) {
      info.textContent = live && live.available
        ? t("live.info", { n: drawn, time: live.media_time, w: live.width, h: live.height })
        : t("live.waiting");
    }
  }

  // One refresh: picture and detections together, then the next after REFRESH_MS.
  function tick(state) {
    if (cur !== state || SW.view() !== "live" || !byId("live-canvas")) return;
    if (document.hidden) { setTimeout(function () { tick(state); }, REFRESH_MS); return; }
    var base = "/api/cameras/" + encodeURIComponent(state.camera);
    Promise.all([
      loadImage(base + "/snapshot.jpg?t=" + Date.now()),
      SW.api("GET", base + "/live")
    ]).then(function (both) {
      if (cur !== state) return;
      draw(state, both[0], both[1].status === 200 ? both[1].body : null);
      setTimeout(function () { tick(state); }, REFRESH_MS);
    });
  }

  function show(camera) {
    SW.camera = camera;
    var state = cur = { camera: camera, zones: [], frame: 0 };
    SW.api("GET", "/api/cameras/" + encodeURIComponent(camera) + "/zones").then(function (r) {
      if (r.status === 200 && cur === state) state.zones = r.body.zones;
    });
    tick(state);
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
        return SW.el("option", { value: c.id, text: c.name ? c.name + " (" + c.id + ")" : c.id, selected: c.id === SW.camera });
      }));
      app.appendChild(SW.el("label", { for: "live-camera", text: t("zones.camera") }));
      app.appendChild(pick);
      app.appendChild(SW.el("div", { class: "card picture" }, [
        SW.el("canvas", { id: "live-canvas", width: "1280", height: "720", "data-detections": "0", "data-frame": "0" }),
        SW.el("p", { id: "live-info", class: "hint", "aria-live": "polite", text: t("live.waiting") }),
        SW.el("p", { class: "hint", text: t("live.legend") })
      ]));
      pick.addEventListener("change", function () { show(pick.value); });
      show(pick.value);
    });
  };
})();
