// Events page: what the box recorded, filtered by camera, kind, phase and time, each
// with its delivery state; a row opens its snapshots and playable clip.
"use strict";
(function () {
  var SW = window.SW, el = SW.el, t = SW.t, clear = SW.clear;
  var KINDS = ["illegal_parking", "exposed_garbage", "littering_act", "road_damage"];
  var PHASES = ["started", "updated", "ended"];
  // Filters and the open event survive the periodic refresh and language switches.
  var filters = { camera: "", kind: "", phase: "", from: "", to: "" };
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
    ["camera", "kind", "phase"].forEach(function (k) { if (filters[k]) q.push(k + "=" + encodeURIComponent(filters[k])); });
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
        deliveryBadge(e.delivery)
      ]),
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
      var why = m.dropped ? (m.drop_reason ? t("ev.missing_deleted") + "（" + t("loss." + m.drop_reason) + "）" : t("ev.media_dropped"))
        : t("ev.media_deleted");
      return el("div", { class: "hint", "data-media": m.name, text: m.name + ": " + why });
    }
    if (m.content_type === "image/jpeg") {
      return el("img", { class: m.kind === "crop" ? "event-crop" : "event-snapshot", src: m.url, alt: m.name });
    }
    if (m.content_type === "video/mp4") {
      return el("video", { class: "event-clip", src: m.url, controls: true, preload: "metadata", playsinline: true });
    }
    return el("a", { href: m.url, download: m.name, text: m.name });
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
      ]));
      detailNode.appendChild(el("ul", { class: "changes" }, e.phases.map(function (p) {
        return el("li", { text: t("phase." + p.phase) + " #" + p.seq + ": " + t("delivery." + p.delivery) +
          (p.last_error ? " — " + p.last_error : "") });
      })));
      var media = el("div", { class: "event-media" });
      e.media.forEach(function (m) { media.appendChild(mediaNode(e.id, m)); });
      if (!e.media.length) media.appendChild(el("p", { class: "hint", text: t("ev.no_media") }));
      detailNode.appendChild(media);
      // Evidence that will not reach the platform, and why (never written, or deleted
      // before delivery); the counters in health and /metrics add these up.
      var missing = e.missing || [];
      if (missing.length) {
        var names = e.media.map(function (m) { return m.name; });
        detailNode.appendChild(el("div", { class: "banner error", role: "status", id: "event-missing" }, [
          el("strong", { text: t("ev.missing") }),
          el("ul", {}, missing.map(function (m) {
            return el("li", { "data-missing": m.name, "data-reason": m.reason,
              text: m.name + "：" + t(names.indexOf(m.name) >= 0 ? "ev.missing_deleted" : "ev.missing_written") +
                "（" + t("loss." + m.reason) + "）" + (m.detail ? " — " + m.detail : "") });
          }))
        ]));
      }
      detailNode.scrollIntoView({ block: "nearest" });
    });
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
    ].concat(timeInput("events-from", "from"), timeInput("events-to", "to")));
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
