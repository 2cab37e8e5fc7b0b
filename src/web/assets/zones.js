// Zones & rules: polygons drawn on the camera's current picture, with each zone's
// rules, object filter and place data. Coordinates are fractions of the picture (0..1),
// so a zone survives a change of stream resolution. Pointer Events: mouse, pen and
// touch alike.
//
// Work is never lost silently: every change is kept as a draft in the tab's session
// storage (a reload or a slip of the finger restores it), leaving with unsaved changes
// asks first, Undo steps back, and deleting a zone asks.
"use strict";
(function () {
  var SW = window.SW = window.SW || { pages: {} };
  function t(key, vars) { return SW.t(key, vars); }

  var DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  // Finger-sized: a handle within this many CSS pixels of the touch is grabbed.
  var GRAB_PX = 18;
  var COLORS = { no_parking: "#e53935", litter_watch: "#fb8c00", road_watch: "#1e88e5", privacy: "#212121" };
  // Categories a zone filter can keep (prefixes of the detector's categories).
  var FILTER_CLASSES = ["vehicle.car", "vehicle.bus", "vehicle.truck", "vehicle.motorcycle", "vehicle.bicycle", "person", "litter", "road_damage"];
  var UNDO_DEPTH = 50;

  // Everything the page edits; rebuilt when another camera is chosen.
  var st = null;

  function byId(id) { return document.getElementById(id); }
  function draftKey(camera) { return "sw.zones.draft." + camera; }

  function ruleOf(zone, type) {
    return (zone.rules || []).filter(function (r) { return r.type === type; })[0] || null;
  }

  function colorOf(zone) {
    var r = (zone.rules || [])[0];
    return (r && COLORS[r.type]) || "#43a047";
  }

  function newId() {
    for (var n = st.zones.length + 1; ; n++) {
      var id = "zone-" + n;
      if (!st.zones.some(function (z) { return z.id === id; })) return id;
    }
  }

  function selected() { return st && st.sel >= 0 ? st.zones[st.sel] : null; }

  function dirty() { return !!st && JSON.stringify(st.zones) !== st.saved; }

  // After every change: keep a draft, say whether there is unsaved work.
  function changed() {
    if (!st) return;
    var d = dirty();
    if (d) sessionStorage.setItem(draftKey(st.camera), JSON.stringify(st.zones));
    else sessionStorage.removeItem(draftKey(st.camera));
    var u = byId("zone-unsaved");
    if (u) u.hidden = !d;
    var undo = byId("zone-undo");
    if (undo) undo.disabled = !st.undo.length;
  }

  // Remember the state before a change, for Undo.
  function remember() {
    st.undo.push(JSON.stringify({ zones: st.zones, sel: st.sel }));
    if (st.undo.length > UNDO_DEPTH) st.undo.shift();
  }

  function undo() {
    var prev = st.undo.pop();
    if (!prev) return;
    var s = JSON.parse(prev);
    st.zones = s.zones;
    st.sel = Math.min(s.sel, st.zones.length - 1);
    st.point = -1;
    fillFields();
    renderList();
    draw();
    changed();
  }

  function draw() {
    var c = st.canvas, g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    if (st.img) g.drawImage(st.img, 0, 0, c.width, c.height);
    else {
      g.fillStyle = "#37474f";
      g.fillRect(0, 0, c.width, c.height);
      g.fillStyle = "#fff";
      g.font = Math.round(c.width / 30) + "px sans-serif";
      g.fillText(t("zones.no_picture"), c.width * 0.05, c.height * 0.5);
    }
    // Handles keep the same on-screen size whatever the picture's resolution.
    var scale = c.width / Math.max(1, c.getBoundingClientRect().width || c.width);
    st.zones.forEach(function (z, i) {
      var pts = z.polygon || [];
      if (!pts.length) return;
      var sel = i === st.sel;
      g.beginPath();
      pts.forEach(function (p, k) {
        var x = p[0] * c.width, y = p[1] * c.height;
        if (k) g.lineTo(x, y); else g.moveTo(x, y);
      });
      g.closePath();
      g.globalAlpha = sel ? 0.3 : 0.18;
      g.fillStyle = colorOf(z);
      if (pts.length > 2) g.fill();
      g.globalAlpha = 1;
      g.lineWidth = (sel ? 3 : 2) * scale;
      g.strokeStyle = sel ? "#ffeb3b" : colorOf(z);
      g.stroke();
      g.font = Math.round(14 * scale) + "px sans-serif";
      g.fillStyle = "#fff";
      g.fillText(z.name || z.id, pts[0][0] * c.width + 6 * scale, pts[0][1] * c.height - 6 * scale);
      if (sel) pts.forEach(function (p, k) {
        g.beginPath();
        g.arc(p[0] * c.width, p[1] * c.height, (k === st.point ? 9 : 7) * scale, 0, 2 * Math.PI);
        g.fillStyle = k === st.point ? "#ffeb3b" : "#fff";
        g.fill();
        g.strokeStyle = "#000";
        g.lineWidth = 1.5 * scale;
        g.stroke();
      });
    });
    var z = selected();
    c.setAttribute("data-zone-count", String(st.zones.length));
    c.setAttribute("data-point-count", String(z ? z.polygon.length : 0));
  }

  // Normalised picture coordinates of a pointer event.
  function at(ev) {
    var r = st.canvas.getBoundingClientRect();
    var clamp = function (v) { return Math.min(1, Math.max(0, v)); };
    // Four decimals: ~0.1 px at 1080p, and a config file a person can still read.
    var round = function (v) { return Math.round(clamp(v) * 10000) / 10000; };
    return { x: round((ev.clientX - r.left) / r.width), y: round((ev.clientY - r.top) / r.height), r: r };
  }

  function grab(p) {
    var z = selected();
    if (!z) return -1;
    var best = -1, bestD = GRAB_PX;
    z.polygon.forEach(function (q, k) {
      var dx = (q[0] - p.x) * p.r.width, dy = (q[1] - p.y) * p.r.height;
      var d = Math.sqrt(dx * dx + dy * dy);
      if (d <= bestD) { best = k; bestD = d; }
    });
    return best;
  }

  function onDown(ev) {
    if (ev.button != null && ev.button > 0) return;
    ev.preventDefault();
    var p = at(ev);
    var k = grab(p);
    var z = selected();
    if (k >= 0) {
      remember();
      st.point = k;
      st.drag = { id: ev.pointerId, k: k, moved: false };
      st.canvas.setPointerCapture(ev.pointerId);
    } else if (z) {
      remember();
      z.polygon.push([p.x, p.y]);
      st.point = z.polygon.length - 1;
      renderList();
      changed();
    } else {
      status("", t("zones.add_first"));
    }
    draw();
  }

  function onMove(ev) {
    if (!st.drag || st.drag.id !== ev.pointerId) return;
    ev.preventDefault();
    var p = at(ev);
    st.drag.moved = true;
    selected().polygon[st.drag.k] = [p.x, p.y];
    draw();
  }

  function onUp(ev) {
    if (st.drag && st.drag.id === ev.pointerId) {
      // A tap on a handle only selects it: nothing to undo.
      if (!st.drag.moved) st.undo.pop();
      st.drag = null;
      renderList();
      changed();
    }
  }

  function status(state, text, raw) {
    var s = byId("zone-status");
    if (!s) return;
    if (state) s.setAttribute("data-state", state); else s.removeAttribute("data-state");
    SW.clear(s);
    s.className = "result" + (state === "ok" ? " banner ok" : state === "error" ? " banner error" : text ? " hint" : "");
    if (text) s.appendChild(typeof text === "string" ? document.createTextNode(text) : text);
    if (raw) s.appendChild(SW.details(raw));
    if (text) SW.reveal(s);
  }

  function renderList() {
    var ul = byId("zone-list");
    if (!ul) return;
    SW.clear(ul);
    st.zones.forEach(function (z, i) {
      var kinds = (z.rules || []).map(function (r) { return t("zones.rule." + r.type); }).join("、");
      // Colour through the CSSOM: the page's CSP forbids inline style attributes.
      var swatch = SW.el("span", { class: "swatch" });
      swatch.style.backgroundColor = colorOf(z);
      ul.appendChild(SW.el("li", {
        class: "zone-item" + (i === st.sel ? " selected" : ""), "data-zone-id": z.id, tabindex: "0",
        onclick: function () { select(i); }
      }, [
        swatch,
        SW.el("span", { class: "zone-name", text: z.name || z.id }),
        SW.el("span", { class: "hint", "data-points": String(z.polygon.length), text: " · " + t("zones.points", { n: z.polygon.length }) + (kinds ? " · " + kinds : "") })
      ]));
    });
  }

  function select(i) {
    st.sel = i;
    st.point = -1;
    fillFields();
    renderList();
    draw();
  }

  function firstWindow(z) {
    var withSchedule = (z.rules || []).filter(function (r) { return r.schedule && r.schedule.length; })[0];
    return withSchedule ? withSchedule.schedule[0] : null;
  }

  // Fields of rules that are off are greyed; times only matter once a day is ticked.
  function greyOut() {
    var np = byId("zone-rule-no-parking").checked, lw = byId("zone-rule-litter").checked;
    var analysed = np || lw || byId("zone-rule-road").checked;
    byId("zone-dwell").disabled = !np;
    byId("zone-persist").disabled = !lw;
    var days = DAYS.some(function (d) { return byId("zone-day-" + d).checked; });
    DAYS.forEach(function (d) { byId("zone-day-" + d).disabled = !analysed; });
    byId("zone-start").disabled = !analysed || !days;
    byId("zone-end").disabled = !analysed || !days;
    byId("zone-schedule-now").textContent = !analysed ? t("zones.schedule_unused") : days ? t("zones.schedule_days") : t("zones.schedule_always");
    byId("zone-filter").disabled = !analysed;
    [["zone-dwell", np], ["zone-persist", lw]].forEach(function (x) {
      byId(x[0]).closest(".sub").classList.toggle("off", !x[1]);
    });
    byId("zone-filter").classList.toggle("off", !analysed);
  }

  // Selected zone -> fields.
  function fillFields() {
    var z = selected();
    byId("zone-fields").hidden = !z;
    if (!z) return;
    var np = ruleOf(z, "no_parking"), lw = ruleOf(z, "litter_watch");
    byId("zone-name").value = z.name || "";
    byId("zone-rule-no-parking").checked = !!np;
    byId("zone-dwell").value = np && np.dwell_s != null ? np.dwell_s : 180;
    byId("zone-rule-litter").checked = !!lw;
    byId("zone-persist").value = lw && lw.persist_s != null ? lw.persist_s : 60;
    byId("zone-rule-road").checked = !!ruleOf(z, "road_watch");
    byId("zone-rule-privacy").checked = !!ruleOf(z, "privacy");
    var w = firstWindow(z);
    DAYS.forEach(function (d) { byId("zone-day-" + d).checked = !!(w && w.days.indexOf(d) >= 0); });
    // No window: the rules apply all day, every day, as the hint says.
    byId("zone-start").value = w ? w.start : "00:00";
    byId("zone-end").value = w ? (w.end === "24:00" ? "23:59" : w.end) : "23:59";
    byId("zone-location").value = z.location || "";
    byId("zone-lon").value = z.coordinates ? z.coordinates.lon : "";
    byId("zone-lat").value = z.coordinates ? z.coordinates.lat : "";
    byId("zone-grid").value = z.grid_code || "";
    var f = z.filter || {};
    byId("zone-min-score").value = f.min_score != null ? f.min_score : "";
    byId("zone-min-height").value = f.min_height != null ? SW.num(f.min_height * 100, 1) : "";
    FILTER_CLASSES.forEach(function (c) {
      byId("zone-class-" + c.replace(/\./g, "-")).checked = (f.classes || []).indexOf(c) >= 0;
    });
    greyOut();
    fillCodes(z);
  }

  // The platform code each saved rule's events carry (from the box's code table),
  // e.g. "禁止停车: 09009 机动车乱停放", "dwell street_vending: 0501 无照经营游商".
  function fillCodes(z) {
    var list = byId("zone-codes");
    SW.clear(list);
    var saved = (st.codes || {})[z.id] || [];
    saved.forEach(function (r) {
      // Kind and event ids are the box's own names: shown as code, not translated.
      var label = function () { return r.rule.kind ? [SW.el("code", { text: r.rule.type + " " + r.rule.kind })] : [t("zones.rule." + r.rule.type)]; };
      r.codes.forEach(function (c) {
        var text = c.code ? c.code + " " + (c.name || "") : t("zones.code_missing");
        list.appendChild(SW.el("li", { class: c.code ? "" : "error", "data-event": c.event },
          label().concat([" · ", SW.el("code", { text: c.event }), "：" + text, c.code && c.taxonomy ? " " : "", c.code && c.taxonomy ? SW.el("code", { text: c.taxonomy }) : ""])));
      });
    });
  }

  // codes[zone][rule] from the box -> per zone id, with the rule each belongs to.
  function keepCodes(body) {
    st.codes = {};
    (body.zones || []).forEach(function (z, i) {
      st.codes[z.id] = (z.rules || []).map(function (r, j) {
        return { rule: r, codes: ((body.codes || [])[i] || [])[j] || [] };
      });
    });
  }

  function numOf(id, scale) {
    var v = byId(id).value.trim();
    // An unparsable entry goes to the box as null, which names the field in its answer.
    if (v === "") return null;
    var n = Number(v);
    return isNaN(n) ? null : scale ? Math.round(n / scale * 10000) / 10000 : n;
  }

  // Fields -> selected zone; rule parameters the page has no field for are kept.
  function readFields() {
    var z = selected();
    if (!z) return;
    z.name = byId("zone-name").value.trim();
    var rules = z.rules = z.rules || [];
    function toggle(type, on, make) {
      var have = ruleOf(z, type);
      if (on && !have) rules.push(make());
      if (!on && have) rules.splice(rules.indexOf(have), 1);
      return on ? ruleOf(z, type) : null;
    }
    var np = toggle("no_parking", byId("zone-rule-no-parking").checked, function () { return { type: "no_parking" }; });
    if (np) np.dwell_s = numOf("zone-dwell");
    var lw = toggle("litter_watch", byId("zone-rule-litter").checked, function () { return { type: "litter_watch" }; });
    if (lw) lw.persist_s = numOf("zone-persist");
    toggle("road_watch", byId("zone-rule-road").checked, function () { return { type: "road_watch" }; });
    toggle("privacy", byId("zone-rule-privacy").checked, function () { return { type: "privacy" }; });
    var days = DAYS.filter(function (d) { return byId("zone-day-" + d).checked; });
    var end = byId("zone-end").value || "23:59";
    var win = days.length ? { days: days, start: byId("zone-start").value || "00:00", end: end === "23:59" ? "24:00" : end } : null;
    rules.forEach(function (r) {
      if (r.type === "privacy") return;
      // The page edits the first window; further windows from the config file stay.
      var rest = (r.schedule || []).slice(1);
      var s = win ? [win].concat(rest) : rest;
      if (s.length) r.schedule = s; else delete r.schedule;
    });
    z.location = byId("zone-location").value.trim();
    if (!z.location) delete z.location;
    var lon = numOf("zone-lon"), lat = numOf("zone-lat");
    if (lon === null && lat === null) delete z.coordinates;
    else z.coordinates = Object.assign({}, z.coordinates || {}, { lon: lon, lat: lat });
    var grid = byId("zone-grid").value.trim();
    if (grid) z.grid_code = grid; else delete z.grid_code;
    var f = {};
    var ms = numOf("zone-min-score"), mh = numOf("zone-min-height", 100);
    if (ms !== null) f.min_score = ms;
    if (mh !== null) f.min_height = mh;
    var classes = FILTER_CLASSES.filter(function (c) { return byId("zone-class-" + c.replace(/\./g, "-")).checked; });
    if (classes.length) f.classes = classes;
    if (Object.keys(f).length) z.filter = f; else delete z.filter;
    greyOut();
    renderList();
    draw();
    changed();
  }

  function save() {
    readFields();
    var btn = byId("zone-save");
    var result = byId("zone-status");
    SW.clearErrors(byId("zone-fields"));
    SW.busy(btn, result, t("zones.saving"), function () {
      return SW.api("PUT", "/api/cameras/" + encodeURIComponent(st.camera) + "/zones", { zones: st.zones });
    }).then(function (r) {
      if (r.status === 200) {
        st.zones = r.body.zones;
        st.saved = JSON.stringify(st.zones);
        changed();
        showDraftBanner(false);
        keepCodes(r.body);
        status("ok", t("zones.saved", { n: st.zones.length }));
        renderList();
        draw();
        return;
      }
      var b = r.body || {};
      var p = (b.problems || [])[0];
      // Select the zone the problem is about, so its outline and fields are in view.
      var m = p && /zones\[(\d+)\]\.?(.*)$/.exec(p.path);
      if (m && +m[1] < st.zones.length) select(+m[1]);
      if (p) {
        var zone = m && st.zones[+m[1]];
        status("error", SW.el("span", {}, [zone ? t("zones.problem_in", { zone: zone.name || zone.id }) + " " : null, SW.problemText(p)]), p.path + ": " + p.message);
      } else {
        status("error", SW.errorText(r), b.message);
      }
    });
  }

  function loadPicture() {
    var img = new Image();
    var asked = new Date();
    img.onload = function () {
      if (!st) return;
      st.img = img;
      st.canvas.width = img.naturalWidth;
      st.canvas.height = img.naturalHeight;
      st.canvas.setAttribute("data-picture", "loaded");
      var when = byId("zone-picture-time");
      if (when) { SW.clear(when); when.appendChild(document.createTextNode(t("zones.picture_time") + " ")); when.appendChild(SW.timeEl(asked.toISOString())); }
      draw();
    };
    img.onerror = function () { draw(); };
    img.src = "/api/cameras/" + encodeURIComponent(st.camera) + "/snapshot.jpg?t=" + Date.now();
  }

  function check(id, text) {
    return SW.el("label", { for: id, class: "check" }, [SW.el("input", { type: "checkbox", id: id }), " " + text]);
  }

  function input(id, text, attrs) {
    return [SW.el("label", { for: id, text: text }), SW.el("input", Object.assign({ id: id }, attrs || {}))];
  }

  // The cameras the editor offers (scene.js needs to know which are PTZ domes).
  var cameraList = [];

  function editor(cameras) {
    cameraList = cameras;
    var app = SW.app;
    SW.clear(app);
    app.appendChild(SW.el("h1", { text: t("zones.title") }));
    if (!cameras.length) {
      app.appendChild(SW.el("p", { class: "card", text: t("dash.none") }));
      return;
    }
    var pick = SW.el("select", { id: "zones-camera" }, cameras.map(function (c) {
      return SW.el("option", { value: c.id, text: c.name ? c.name + "（" + c.id + "）" : c.id, selected: c.id === SW.camera });
    }));
    app.appendChild(SW.el("label", { for: "zones-camera", text: t("zones.camera") }));
    app.appendChild(pick);
    app.appendChild(SW.el("div", { id: "zone-draft", hidden: true }));
    var canvas = SW.el("canvas", { id: "zone-canvas", width: "1280", height: "720", "data-zone-count": "0", "data-point-count": "0" });
    app.appendChild(SW.el("div", { class: "card picture" }, [
      canvas,
      SW.el("div", { class: "row tight" }, [
        SW.el("span", { id: "zone-picture-time", class: "hint" }),
        SW.el("button", { id: "zone-refresh", class: "secondary small", type: "button", text: t("zones.refresh") })
      ]),
      SW.el("p", { class: "hint", text: t("zones.help") }),
      SW.el("div", { class: "row" }, [
        SW.el("button", { id: "zone-add", class: "primary", type: "button", text: t("zones.add") }),
        SW.el("button", { id: "zone-undo", class: "secondary", type: "button", text: t("zones.undo"), disabled: true }),
        SW.el("button", { id: "zone-delete-point", class: "secondary", type: "button", text: t("zones.delete_point") }),
        SW.el("button", { id: "zone-delete", class: "danger", type: "button", text: t("zones.delete") })
      ]),
      SW.el("ul", { id: "zone-list" })
    ]));
    // The scene card (PTZ, tampering) below the picture: it re-renders as the camera's
    // state changes, and must not move the canvas under the technician's finger.
    app.appendChild(SW.el("div", { id: "zone-scene", class: "card" }));
    var dayBoxes = SW.el("div", { class: "days" }, DAYS.map(function (d) { return check("zone-day-" + d, t("day." + d)); }));
    var classBoxes = SW.el("div", { class: "days" }, FILTER_CLASSES.map(function (c) {
      return check("zone-class-" + c.replace(/\./g, "-"), t("class." + c));
    }));
    var fields = SW.el("div", { id: "zone-fields", class: "card", hidden: true }, [].concat(
      input("zone-name", t("zones.name"), { maxlength: "64", "data-field": "name" }),
      [SW.el("h2", { text: t("zones.rules") }),
        check("zone-rule-no-parking", t("zones.rule.no_parking"))],
      [SW.el("div", { class: "sub" }, input("zone-dwell", t("zones.dwell"), { type: "number", min: "1", step: "1", inputmode: "numeric", "data-field": "dwell_s" }))],
      [check("zone-rule-litter", t("zones.rule.litter_watch"))],
      [SW.el("div", { class: "sub" }, input("zone-persist", t("zones.persist"), { type: "number", min: "1", step: "1", inputmode: "numeric", "data-field": "persist_s" }))],
      [check("zone-rule-road", t("zones.rule.road_watch")), check("zone-rule-privacy", t("zones.rule.privacy")),
        SW.el("h2", { text: t("zones.codes") }), SW.el("ul", { id: "zone-codes" }),
        SW.el("h2", { text: t("zones.schedule") }),
        SW.el("p", { class: "hint", text: t("zones.schedule_hint") }), dayBoxes],
      SW.el("div", { class: "pair" }, [
        SW.el("div", {}, input("zone-start", t("zones.start"), { type: "time" })),
        SW.el("div", {}, input("zone-end", t("zones.end"), { type: "time" }))
      ]),
      [SW.el("p", { id: "zone-schedule-now", class: "hint" })],
      [SW.el("fieldset", { id: "zone-filter" }, [].concat(
        [SW.el("legend", { text: t("zones.filter") }), SW.el("p", { class: "hint", text: t("zones.filter_hint") })],
        SW.el("div", { class: "pair" }, [
          SW.el("div", {}, input("zone-min-score", t("zones.min_score"), { type: "number", min: "0", max: "1", step: "0.05", inputmode: "decimal", "data-field": "min_score" })),
          SW.el("div", {}, input("zone-min-height", t("zones.min_height"), { type: "number", min: "0", max: "100", step: "1", inputmode: "decimal", "data-field": "min_height" }))
        ]),
        [SW.el("label", { text: t("zones.classes") }), classBoxes]
      ))],
      [SW.el("h2", { text: t("zones.place") })],
      input("zone-location", t("zones.location"), { maxlength: "256", "data-field": "location" }),
      SW.el("div", { class: "pair" }, [
        SW.el("div", {}, input("zone-lon", t("zones.lon"), { type: "text", inputmode: "decimal" })),
        SW.el("div", {}, input("zone-lat", t("zones.lat"), { type: "text", inputmode: "decimal" }))
      ]),
      input("zone-grid", t("zones.grid"), { inputmode: "numeric", maxlength: "15", pattern: "[0-9]{15}", "data-field": "grid_code" })
    ));
    app.appendChild(fields);
    app.appendChild(SW.el("div", { class: "row" }, [
      SW.el("button", { id: "zone-save", class: "primary", type: "button", text: t("zones.save") }),
      SW.el("span", { id: "zone-unsaved", class: "unsaved", hidden: true, text: t("zones.unsaved") })
    ]));
    app.appendChild(SW.el("div", { id: "zone-status", class: "result", role: "status", "aria-live": "polite" }));

    // Text fields: one undo step per edit of a field, not per keystroke.
    fields.addEventListener("focusin", function () { if (st) st.fieldUndo = JSON.stringify({ zones: st.zones, sel: st.sel }); });
    fields.addEventListener("change", function () {
      if (st && st.fieldUndo) { st.undo.push(st.fieldUndo); st.fieldUndo = JSON.stringify({ zones: st.zones, sel: st.sel }); }
      readFields();
    });
    fields.addEventListener("input", readFields);
    canvas.addEventListener("pointerdown", onDown);
    canvas.addEventListener("pointermove", onMove);
    canvas.addEventListener("pointerup", onUp);
    canvas.addEventListener("pointercancel", onUp);
    pick.addEventListener("change", function () {
      var want = pick.value;
      if (!dirty()) return open(want);
      // Unsaved work stays as a draft; still, say so before switching.
      SW.ask(t("zones.unsaved_switch"), t("common.leave"), t("common.stay"), true).then(function (leave) {
        if (leave) open(want); else pick.value = st.camera;
      });
    });
    byId("zone-refresh").addEventListener("click", loadPicture);
    byId("zone-undo").addEventListener("click", undo);
    byId("zone-add").addEventListener("click", function () {
      remember();
      var n = st.zones.length + 1;
      // No schedule: the rules apply all day, as the schedule hint says.
      st.zones.push({ id: newId(), name: t("zones.new_name", { n: n }), polygon: [], rules: [{ type: "no_parking", dwell_s: 180 }] });
      // A PTZ dome: the zone belongs to the preset the camera stands at (scene.js).
      var preset = SW.scene && SW.scene.preset();
      if (preset) st.zones[st.zones.length - 1].preset = preset;
      select(st.zones.length - 1);
      status("", t("zones.help"));
      changed();
    });
    byId("zone-delete-point").addEventListener("click", function () {
      var z = selected();
      if (!z || !z.polygon.length) return;
      remember();
      z.polygon.splice(st.point >= 0 ? st.point : z.polygon.length - 1, 1);
      st.point = -1;
      renderList();
      draw();
      changed();
    });
    byId("zone-delete").addEventListener("click", function () {
      var z = selected();
      if (!z) return;
      SW.ask(t("zones.confirm_delete", { name: z.name || z.id }), t("zones.delete"), t("common.cancel"), true).then(function (yes) {
        if (!yes) return;
        remember();
        st.zones.splice(st.sel, 1);
        select(st.zones.length ? Math.min(st.sel, st.zones.length - 1) : -1);
        changed();
        status("", t("zones.deleted_unsaved"));
      });
    });
    byId("zone-save").addEventListener("click", save);
    open(pick.value);
  }

  function showDraftBanner(on) {
    var b = byId("zone-draft");
    SW.clear(b);
    b.hidden = !on;
    if (!on) return;
    b.className = "banner warn";
    b.appendChild(document.createTextNode(t("zones.draft_restored") + " "));
    b.appendChild(SW.el("button", { id: "zone-discard", class: "secondary small", type: "button", text: t("zones.discard"), onclick: function () {
      SW.ask(t("zones.confirm_discard"), t("zones.discard"), t("common.cancel"), true).then(function (yes) {
        if (!yes) return;
        sessionStorage.removeItem(draftKey(st.camera));
        open(st.camera);
      });
    } }));
  }

  function open(camera) {
    SW.camera = camera;
    st = { camera: camera, zones: [], saved: "[]", sel: -1, point: -1, drag: null, img: null, undo: [], canvas: byId("zone-canvas") };
    status("", "");
    showDraftBanner(false);
    SW.api("GET", "/api/cameras/" + encodeURIComponent(camera) + "/zones").then(function (r) {
      if (r.status !== 200 || !st || st.camera !== camera) return;
      st.saved = JSON.stringify(r.body.zones);
      st.zones = r.body.zones;
      var draft = sessionStorage.getItem(draftKey(camera));
      if (draft && draft !== st.saved) {
        try { st.zones = JSON.parse(draft); showDraftBanner(true); } catch (e) { sessionStorage.removeItem(draftKey(camera)); }
      }
      keepCodes(r.body);
      select(st.zones.length ? 0 : -1);
      changed();
    });
    loadPicture();
    draw();
    if (SW.scene) {
      var cam = cameraList.filter(function (c) { return c.id === camera; })[0];
      SW.scene.mount(byId("zone-scene"), camera, loadPicture, !!(cam && cam.ptz));
    }
  }

  // Handle sizes follow the on-screen size of the picture.
  window.addEventListener("resize", function () { if (st && SW.view() === "zones" && byId("zone-canvas")) draw(); });

  SW.pages.zones = function () {
    st = null;
    SW.unsaved = function () { return dirty() ? t("zones.unsaved_leave") : null; };
    SW.api("GET", "/api/cameras").then(function (r) {
      if (r.status !== 200 || SW.view() !== "zones") return;
      editor(r.body.cameras);
    });
  };
})();
