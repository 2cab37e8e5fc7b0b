// Events page: what the box recorded, filtered by camera, kind, phase, time and plate,
// each with its delivery state; a row opens its photo set (plate, composite, wide shots,
// close-up), the other pictures and the playable clip.
"use strict";
(function () {
  var SW = window.SW, el = SW.el, t = SW.t, clear = SW.clear;
  var KINDS = ["illegal_parking", "exposed_garbage", "littering_act", "road_damage"];
  var PHASES = ["started", "updated", "ended"];
  // Filters and the open event survive the periodic refresh and language switches.
  var filters = { camera: "", kind: "", phase: "", from: "", to: "", plate: "" };
  var openId = null;
  var listNode = null, detailNode = null, errorNode = null;

  function kindText(k) { return t("kind." + k); }

  function select(id, all, values, label, current) {
    var s = el("select", { id: id, name: id }, [el("option", { value: "", text: all })].concat(values.map(function (v) {
      return el("option", { value: v, text: label(v), selected: v === current });
    })));
    s.addEventListener("change", function () { filters[id.slice(7)] = s.value; refresh(); });
    return s;
  }

  // datetime-local gives the phone's local time without an offset; the API wants RFC 3339.
  function isoOf(local) {
    if (!local) return "";
    var d = new Date(local);
    return isNaN(d.getTime()) ? "" : d.toISOString();
  }

  function query() {
    var q = [];
    ["camera", "kind", "phase", "plate"].forEach(function (k) { if (filters[k]) q.push(k + "=" + encodeURIComponent(filters[k])); });
    ["from", "to"].forEach(function (k) { var v = isoOf(filters[k]); if (v) q.push(k + "=" + encodeURIComponent(v)); });
    return q.length ? "?" + q.join("&") : "";
  }

  function when(rfc3339) { return (rfc3339 || "").replace("T", " ").slice(0, 19); }

  function deliveryBadge(d) { return el("span", { class: "delivery " + d, text: t("delivery." + d) }); }

  function row(e) {
    var r = el("div", {
      class: "event-row" + (e.id === openId ? " selected" : ""), role: "button", tabindex: "0",
      "data-event-id": e.id, "data-kind": e.kind, "data-phase": e.phase, "data-delivery": e.delivery
    }, [
      el("div", { class: "cam" }, [
        el("span", { class: "name", text: kindText(e.kind) + " · " + (e.camera_name || e.camera) }),
        e.plate ? el("span", { class: "plate", text: e.plate }) : null,
        deliveryBadge(e.delivery)
      ].filter(Boolean)),
      el("div", { class: "hint", text: when(e.start) + " · " + t("phase." + e.phase) + (e.zone ? " · " + e.zone : "") }),
      el("div", { text: SW.lang() === "zh" ? e.description_zh : e.description_en })
    ]);
    r.addEventListener("click", function () { open(e.id); });
    r.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(e.id); } });
    return r;
  }

  function refresh() {
    if (!listNode) return;
    var node = listNode;
    SW.api("GET", "/api/events" + query()).then(function (r) {
      if (node !== listNode || SW.view() !== "events") return;
      clear(errorNode);
      if (r.status !== 200) {
        errorNode.appendChild(el("div", { class: "banner error", role: "alert", text: (r.body && r.body.message) || t("err.generic") }));
        return;
      }
      clear(node);
      if (!r.body.events.length) node.appendChild(el("p", { class: "hint", text: t("ev.none") }));
      r.body.events.forEach(function (e) { node.appendChild(row(e)); });
    });
  }

  function mediaNode(id, m) {
    if (!m.available) {
      return el("div", { class: "hint", text: m.name + ": " + t(m.dropped ? "ev.media_dropped" : "ev.media_deleted") });
    }
    if (m.content_type === "image/jpeg") {
      return el("img", { class: m.kind === "crop" ? "event-crop" : "event-snapshot", src: m.url, alt: m.name });
    }
    if (m.content_type === "video/mp4") {
      return el("video", { class: "event-clip", src: m.url, controls: true, preload: "metadata", playsinline: true });
    }
    return el("a", { href: m.url, download: m.name, text: m.name });
  }

  // The plate as read, or why it could not be.
  function plateText(ev) {
    var s = ev && ev.subject;
    if (!s || s.plate === undefined) return null;
    if (s.plate) {
      return s.plate.text + " (" + t("plate.colour." + s.plate.colour) + ", " +
        Math.round(s.plate.confidence * 100) + "%, " + t("plate.reads", { n: s.plate.reads, of: s.plate.frames }) + ")";
    }
    var u = s.plate_unread || {};
    return t("plate.none") + ": " + t("plate.reason." + (u.reason || "no_plate_visible")) +
      (u.width_px != null && u.min_width_px != null ? " (" + Math.round(u.width_px) + " / " + Math.round(u.min_width_px) + " px)" : "");
  }

  // The photo set first (composite, wide shots, plate close-up), then the rest.
  function photoSetNode(e) {
    var set = e.event && e.event.photo_set;
    if (!set) return null;
    var byName = {};
    e.media.forEach(function (m) { byName[m.name] = m; });
    var names = [set.composite].concat(set.wide || [], [set.plate_closeup]).filter(Boolean);
    var box = el("div", { class: "photo-set", "data-photo-set": names.join(" ") }, [
      el("h3", { text: t("ev.photo_set") + (set.interval_s != null ? " · " + t("ev.interval", { s: Math.round(set.interval_s) }) : "") })
    ]);
    names.forEach(function (n) { if (byName[n]) box.appendChild(mediaNode(e.id, byName[n])); });
    return { node: box, names: names };
  }

  function open(id) {
    openId = id;
    listNode.querySelectorAll(".event-row").forEach(function (r) {
      r.classList.toggle("selected", r.getAttribute("data-event-id") === id);
    });
    SW.api("GET", "/api/events/" + encodeURIComponent(id)).then(function (r) {
      if (SW.view() !== "events" || openId !== id) return;
      clear(detailNode);
      detailNode.hidden = false;
      if (r.status !== 200) {
        detailNode.appendChild(el("div", { class: "banner error", role: "alert", text: (r.body && r.body.message) || t("err.generic") }));
        return;
      }
      var e = r.body;
      detailNode.setAttribute("data-event-id", e.id);
      detailNode.appendChild(el("div", { class: "cam" }, [
        el("h2", { text: kindText(e.kind) }),
        el("button", { class: "secondary", type: "button", text: t("ev.close"), onclick: function () {
          openId = null; detailNode.hidden = true; clear(detailNode);
          listNode.querySelectorAll(".event-row.selected").forEach(function (x) { x.classList.remove("selected"); });
        } })
      ]));
      detailNode.appendChild(el("p", { text: SW.lang() === "zh" ? e.description_zh : e.description_en }));
      detailNode.appendChild(SW.kv([
        [t("ev.camera"), e.camera_name ? e.camera_name + " (" + e.camera + ")" : e.camera],
        [t("ev.zone"), e.zone || "–"],
        [t("ev.start"), when(e.start)],
        [t("ev.duration"), e.duration_s != null ? Math.round(e.duration_s) + " s" : "–"],
        [t("ev.phase"), t("phase." + e.phase)],
        [t("ev.delivery"), t("delivery." + e.delivery)],
        [t("ev.id"), e.id]
      ].concat(plateText(e.event) ? [[t("ev.plate"), plateText(e.event)]] : [])));
      detailNode.appendChild(el("ul", { class: "changes" }, e.phases.map(function (p) {
        return el("li", { text: t("phase." + p.phase) + " #" + p.seq + ": " + t("delivery." + p.delivery) +
          (p.last_error ? " — " + p.last_error : "") });
      })));
      var set = photoSetNode(e);
      if (set) detailNode.appendChild(set.node);
      var media = el("div", { class: "event-media" });
      e.media.forEach(function (m) {
        if (!set || set.names.indexOf(m.name) < 0) media.appendChild(mediaNode(e.id, m));
      });
      if (!e.media.length) media.appendChild(el("p", { class: "hint", text: t("ev.no_media") }));
      detailNode.appendChild(media);
      detailNode.scrollIntoView({ block: "nearest" });
    });
  }

  // Plate search: any part of the number, applied as the technician types.
  function plateInput() {
    var input = el("input", { type: "search", id: "events-plate", name: "events-plate", value: filters.plate,
      placeholder: "粤G12345", autocomplete: "off", maxlength: "12" });
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { filters.plate = input.value.trim(); refresh(); }, 300);
    });
    return [el("label", { for: "events-plate", text: t("ev.plate") }), input];
  }

  function timeInput(id, key) {
    var input = el("input", { type: "datetime-local", id: id, name: id, value: filters[key] });
    input.addEventListener("change", function () { filters[key] = input.value; refresh(); });
    return [el("label", { for: id, text: t("ev." + key) }), input];
  }

  function render(app) {
    clear(app);
    app.appendChild(el("h1", { text: t("ev.title") }));
    var cam = select("events-camera", t("ev.all_cameras"), [], String, filters.camera);
    var box = el("div", { class: "card filters" }, [
      el("label", { for: "events-camera", text: t("ev.camera") }), cam,
      el("label", { for: "events-kind", text: t("ev.kind") }),
      select("events-kind", t("ev.all_kinds"), KINDS, kindText, filters.kind),
      el("label", { for: "events-phase", text: t("ev.phase") }),
      select("events-phase", t("ev.all_phases"), PHASES, function (p) { return t("phase." + p); }, filters.phase)
    ].concat(timeInput("events-from", "from"), timeInput("events-to", "to"), plateInput()));
    app.appendChild(box);
    errorNode = el("div", { "aria-live": "polite" });
    listNode = el("div", { id: "events-list" });
    detailNode = el("div", { id: "event-detail", class: "card", hidden: true });
    app.appendChild(errorNode);
    app.appendChild(detailNode);
    app.appendChild(listNode);
    SW.api("GET", "/api/cameras").then(function (r) {
      if (r.status !== 200) return;
      r.body.cameras.forEach(function (c) {
        cam.appendChild(el("option", { value: c.id, text: c.name ? c.name + " (" + c.id + ")" : c.id, selected: c.id === filters.camera }));
      });
    });
    refresh();
    if (openId) open(openId);
  }

  SW.pages.events = function () { render(SW.app); };
  // New events appear without a reload while the page is shown.
  setInterval(function () {
    if (SW.loggedIn() && SW.view() === "events" && !document.hidden) refresh();
  }, 3000);
})();
