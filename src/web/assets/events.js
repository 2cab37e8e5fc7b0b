// Events: a review page. Rows with a thumbnail, kind, camera, time and delivery state;
// the detail beside the list on a wide screen and as its own view on a phone, with
// captioned photos, the clip, and downloads (each file, the signed JSON, the whole
// case as a ZIP). Filters fold away; an empty list says why it is empty.
"use strict";
(function () {
  var SW = window.SW, el = SW.el, t = SW.t, clear = SW.clear;
  var KINDS = ["illegal_parking", "exposed_garbage", "littering_act", "road_damage", "camera_tampering"];
  var PHASES = ["started", "updated", "ended"];
  // Filters and the open event survive the periodic refresh and language switches.
  var filters = { camera: "", kind: "", phase: "", from: "", to: "", plate: "" };
  // Filters this box supports (the list answer says; `plate` once plates exist).
  var supported = ["camera", "kind", "phase", "from", "to"];
  var openId = null;
  var nodes = null;

  function kindText(k) { return SW.has("kind." + k) ? t("kind." + k) : t("kind.other"); }

  function active() {
    return Object.keys(filters).filter(function (k) { return filters[k] && supported.indexOf(k) >= 0; });
  }

  function query() {
    var q = [];
    ["camera", "kind", "phase", "plate"].forEach(function (k) {
      if (filters[k] && supported.indexOf(k) >= 0) q.push(k + "=" + encodeURIComponent(filters[k]));
    });
    ["from", "to"].forEach(function (k) { var v = SW.boxLocalToIso(filters[k]); if (v) q.push(k + "=" + encodeURIComponent(v)); });
    return q.length ? "?" + q.join("&") : "";
  }

  function deliveryBadge(d) { return el("span", { class: "delivery " + d, "data-delivery": d, text: t("delivery." + d) }); }

  // The plate number of a list row or an event (the event's subject.plate is the full read).
  function plateOf(e) {
    var p = e.plate || (e.subject && e.subject.plate) || (e.event && e.event.subject && e.event.subject.plate) || null;
    return p && typeof p === "object" ? p.text : p;
  }

  function row(e) {
    var thumb = el("img", { class: "event-thumb", alt: "", loading: "lazy", src: "/api/events/" + encodeURIComponent(e.id) + "/thumbnail.jpg" });
    thumb.addEventListener("error", function () { thumb.classList.add("none"); thumb.removeAttribute("src"); });
    var plate = plateOf(e);
    var r = el("div", {
      class: "event-row" + (e.id === openId ? " selected" : ""), role: "button", tabindex: "0",
      "data-event-id": e.id, "data-kind": e.kind, "data-phase": e.phase, "data-delivery": e.delivery
    }, [
      thumb,
      el("div", { class: "event-text" }, [
        el("div", { class: "cam" }, [
          el("span", { class: "name" }, [kindText(e.kind) + " · ", e.camera_name || el("code", { class: "id", text: e.camera })]),
          deliveryBadge(e.delivery)
        ]),
        el("div", { class: "hint" }, [SW.timeEl(e.start), " · " + t("phase." + e.phase) + (e.zone ? " · " + e.zone : "") + (e.duration_s != null ? " · " + SW.duration(e.duration_s) : "")]),
        plate ? el("div", { class: "plate", text: plate }) : null,
        el("div", { class: "desc", text: SW.lang() === "zh" ? e.description_zh : e.description_en })
      ])
    ]);
    r.addEventListener("click", function () { open(e.id); });
    r.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(e.id); } });
    return r;
  }

  function empty() {
    if (active().length) {
      return el("div", { class: "card empty", id: "events-empty", "data-why": "filtered" }, [
        el("p", { text: t("ev.none_filtered") }),
        el("button", { class: "secondary", type: "button", text: t("ev.clear_filters"), onclick: clearFilters })
      ]);
    }
    return el("div", { class: "card empty", id: "events-empty", "data-why": "none" }, [
      el("p", { text: t("ev.none_yet") }),
      el("button", { class: "primary", type: "button", text: t("ev.go_zones"), onclick: function () { SW.go("zones"); } })
    ]);
  }

  function refresh() {
    if (!nodes) return;
    var mine = nodes;
    SW.api("GET", "/api/events" + query()).then(function (r) {
      if (mine !== nodes || SW.view() !== "events") return;
      clear(mine.error);
      if (r.status !== 200) {
        mine.error.appendChild(el("div", { class: "banner error", role: "alert" }, [
          r.body && r.body.problems ? SW.problemText(r.body.problems[0]) : SW.errorText(r), SW.details(r.body && r.body.message)
        ]));
        return;
      }
      if (r.body.filters) {
        var before = supported.join();
        supported = r.body.filters;
        if (supported.join() !== before) renderFilters();
      }
      // Rows are redrawn only when something changed (no flicker, no refetching of
      // thumbnails every 3 s).
      var sig = JSON.stringify(r.body.events.map(function (e) { return [e.id, e.phase, e.delivery, e.duration_s]; })) + SW.lang();
      if (sig === mine.sig) return;
      mine.sig = sig;
      clear(mine.list);
      if (!r.body.events.length) mine.list.appendChild(empty());
      r.body.events.forEach(function (e) { mine.list.appendChild(row(e)); });
    });
  }

  // What each evidence file is, in words.
  function caption(m, n) {
    var kind = m.kind || (m.content_type === "video/mp4" ? "clip" : "snapshot");
    return t("media." + kind, { n: n });
  }

  function dropReason(m) {
    var code = m.reason || m.drop_reason || null;
    if (m.dropped) return code && SW.has("dropreason." + code) ? t("dropreason." + code) : t("ev.media_dropped");
    if (m.missing) return code && SW.has("dropreason." + code) ? t("dropreason." + code) : t("ev.media_missing");
    return t("ev.media_deleted");
  }

  function mediaNode(m, n) {
    var cap = caption(m, n);
    var fig;
    if (!m.available) {
      return el("figure", { class: "media gone", "data-name": m.name }, [
        el("div", { class: "gone-box", text: dropReason(m) }),
        el("figcaption", {}, [cap, " ", el("code", { text: m.name })])
      ]);
    }
    if (m.content_type === "image/jpeg") {
      fig = el("img", { class: m.kind === "crop" ? "event-crop" : "event-snapshot", src: m.url, alt: cap });
    } else if (m.content_type === "video/mp4") {
      fig = el("video", { class: "event-clip", src: m.url, controls: true, preload: "metadata", playsinline: true });
    }
    return el("figure", { class: "media", "data-name": m.name }, [
      fig,
      el("figcaption", {}, [
        cap + " · " + SW.bytes(m.bytes) + " ",
        el("a", { class: "download", href: m.url, download: m.name, text: t("ev.download") })
      ])
    ]);
  }

  // On a phone the detail is its own view: the list hides while it is open.
  function narrow() { return window.matchMedia("(max-width: 899px)").matches; }

  function closeDetail() {
    openId = null;
    nodes.detail.hidden = true;
    clear(nodes.detail);
    nodes.layout.classList.remove("detail-open");
    nodes.list.querySelectorAll(".event-row.selected").forEach(function (x) { x.classList.remove("selected"); });
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
    names.forEach(function (n, i) { if (byName[n]) box.appendChild(mediaNode(byName[n], i + 1)); });
    return { node: box, names: names };
  }

  function open(id) {
    openId = id;
    nodes.list.querySelectorAll(".event-row").forEach(function (r) {
      r.classList.toggle("selected", r.getAttribute("data-event-id") === id);
    });
    SW.api("GET", "/api/events/" + encodeURIComponent(id)).then(function (r) {
      if (SW.view() !== "events" || openId !== id) return;
      var d = nodes.detail;
      clear(d);
      d.hidden = false;
      nodes.layout.classList.add("detail-open");
      d.appendChild(el("div", { class: "row tight" }, [
        el("button", { class: "secondary back", type: "button", id: "event-back", text: t("ev.back"), onclick: closeDetail })
      ]));
      if (r.status !== 200) {
        d.appendChild(el("div", { class: "banner error", role: "alert" }, [SW.errorText(r), SW.details(r.body && r.body.message)]));
        return;
      }
      var e = r.body, ev = e.event || {};
      d.setAttribute("data-event-id", e.id);
      d.appendChild(el("h2", { text: kindText(e.kind) }));
      d.appendChild(el("p", { text: SW.lang() === "zh" ? e.description_zh : e.description_en }));
      if (ev.evidence_dropped) d.appendChild(el("div", { class: "banner error", text: t("ev.evidence_dropped_note") }));
      var missing = ev.media_missing;
      if (missing && (missing === true || missing.length)) d.appendChild(el("div", { class: "banner error", text: t("ev.media_missing_note") }));
      var plate = plateOf(e);
      d.appendChild(SW.kv([
        [t("ev.camera"), el("span", {}, [e.camera_name ? e.camera_name + " " : null, el("code", { class: "id", text: e.camera })])],
        [t("ev.zone"), e.zone || "–"],
        [t("ev.start"), SW.timeEl(e.start)],
        ev.times && ev.times.end ? [t("ev.end"), SW.timeEl(ev.times.end)] : null,
        [t("ev.duration"), e.duration_s != null ? SW.duration(e.duration_s) : "–"],
        plateText(ev) || plate ? [t("ev.plate"), plateText(ev) || plate] : null,
        ev.subject ? [t("ev.subject"), (SW.has("class." + ev.subject.category) ? t("class." + ev.subject.category) : t("class.object")) + " " + Math.round(ev.subject.score * 100) + "%"] : null,
        [t("ev.phase"), t("phase." + e.phase)],
        [t("ev.delivery"), deliveryBadge(e.delivery)],
        [t("ev.id"), el("code", { class: "id", text: e.id })]
      ]));
      d.appendChild(el("h3", { text: t("ev.phases") }));
      d.appendChild(el("ul", { class: "changes" }, e.phases.map(function (p) {
        return el("li", {}, [t("ev.phase_row", { phase: t("phase." + p.phase), n: p.seq }) + " ", deliveryBadge(p.delivery),
          p.attempts ? " " + t("ev.attempts", { n: p.attempts }) : null, SW.details(p.last_error)]);
      })));
      var set = photoSetNode(e);
      if (set) d.appendChild(set.node);
      d.appendChild(el("h3", { text: t("ev.evidence") }));
      var media = el("div", { class: "event-media" });
      var counts = {};
      e.media.forEach(function (m) {
        if (set && set.names.indexOf(m.name) >= 0) return;
        var k = m.kind || m.content_type;
        counts[k] = (counts[k] || 0) + 1;
        media.appendChild(mediaNode(m, counts[k]));
      });
      if (!e.media.length) media.appendChild(el("p", { class: "hint", text: t("ev.no_media") }));
      d.appendChild(media);
      // Evidence that will not reach the platform, and why (never written, or deleted
      // before delivery); the counters in health and /metrics add these up.
      var missing = e.missing || [];
      if (missing.length) {
        var names = e.media.map(function (m) { return m.name; });
        d.appendChild(el("div", { class: "banner error", role: "status", id: "event-missing" }, [
          el("strong", { text: t("ev.missing") }),
          el("ul", {}, missing.map(function (m) {
            return el("li", { "data-missing": m.name, "data-reason": m.reason,
              text: m.name + "：" + t(names.indexOf(m.name) >= 0 ? "ev.missing_deleted" : "ev.missing_written") +
                "（" + t("loss." + m.reason) + "）" });
          }))
        ]));
      }
      var base = "/api/events/" + encodeURIComponent(e.id);
      d.appendChild(el("div", { class: "row downloads" }, [
        el("a", { class: "button primary", id: "event-zip", href: base + "/case.zip", download: "case-" + e.id + ".zip", text: t("ev.download_case") }),
        el("a", { class: "button secondary", id: "event-json", href: base + "/event.json", download: "event-" + e.id + ".json", text: t("ev.download_json") })
      ]));
      d.appendChild(el("p", { class: "hint", text: t("ev.download_hint") }));
      if (narrow()) window.scrollTo(0, 0); else SW.reveal(d);
    });
  }

  function clearFilters() {
    Object.keys(filters).forEach(function (k) { filters[k] = ""; });
    nodes.sig = null;
    renderFilters();
    refresh();
  }

  function select(key, all, values, label) {
    var s = el("select", { id: "events-" + key, name: key }, [el("option", { value: "", text: all })].concat(values.map(function (v) {
      return el("option", { value: v, text: label(v), selected: v === filters[key] });
    })));
    s.addEventListener("change", function () { filters[key] = s.value; nodes.sig = null; renderCount(); refresh(); });
    return [el("label", { for: "events-" + key, text: t("ev." + key) }), s];
  }

  function timeInput(key) {
    var input = el("input", { type: "datetime-local", id: "events-" + key, name: key, value: filters[key] });
    input.addEventListener("change", function () { filters[key] = input.value; nodes.sig = null; renderCount(); refresh(); });
    return [el("label", { for: "events-" + key, text: t("ev." + key, { tz: SW.clock().offset }) }), input];
  }

  function renderCount() {
    var n = active().length;
    var s = document.getElementById("events-filter-count");
    if (s) s.textContent = n ? t("ev.filters_on", { n: n }) : "";
  }

  function renderFilters() {
    if (!nodes) return;
    var box = nodes.filters;
    var wasOpen = box.open;
    clear(box);
    box.appendChild(el("summary", {}, [t("ev.filters") + " ", el("span", { id: "events-filter-count", class: "hint" })]));
    var cam = select("camera", t("ev.all_cameras"), [], String);
    var inner = el("div", { class: "filter-grid" }, [].concat(
      [el("div", {}, cam)],
      [el("div", {}, select("kind", t("ev.all_kinds"), KINDS, kindText))],
      [el("div", {}, select("phase", t("ev.all_phases"), PHASES, function (p) { return t("phase." + p); }))],
      [el("div", {}, timeInput("from"))],
      [el("div", {}, timeInput("to"))]
    ));
    if (supported.indexOf("plate") >= 0) {
      var plate = el("input", { type: "search", id: "events-plate", name: "plate", value: filters.plate, placeholder: t("ev.plate_hint") });
      plate.addEventListener("change", function () { filters.plate = plate.value.trim(); nodes.sig = null; renderCount(); refresh(); });
      inner.appendChild(el("div", {}, [el("label", { for: "events-plate", text: t("ev.plate") }), plate]));
    }
    box.appendChild(inner);
    box.appendChild(el("div", { class: "row" }, [el("button", { class: "secondary", type: "button", id: "events-clear", text: t("ev.clear_filters"), onclick: clearFilters })]));
    box.open = wasOpen || active().length > 0;
    renderCount();
    SW.api("GET", "/api/cameras").then(function (r) {
      if (r.status !== 200) return;
      r.body.cameras.forEach(function (c) {
        cam[1].appendChild(el("option", { value: c.id, text: c.name ? c.name + "（" + c.id + "）" : c.id, selected: c.id === filters.camera }));
      });
    });
  }

  function render(app) {
    clear(app);
    app.appendChild(el("h1", { text: t("ev.title") }));
    nodes = {
      filters: el("details", { class: "card filters", id: "events-filters" }),
      error: el("div", { "aria-live": "polite" }),
      list: el("div", { id: "events-list" }),
      detail: el("div", { id: "event-detail", class: "card", hidden: true })
    };
    nodes.layout = el("div", { class: "events-layout" }, [nodes.list, nodes.detail]);
    app.appendChild(nodes.filters);
    app.appendChild(nodes.error);
    app.appendChild(nodes.layout);
    renderFilters();
    refresh();
    if (openId) open(openId);
  }

  SW.pages.events = function () { render(SW.app); };
  // New events appear without a reload while the page is shown.
  setInterval(function () {
    if (SW.loggedIn() && SW.view() === "events" && !document.hidden) refresh();
  }, 3000);
})();
