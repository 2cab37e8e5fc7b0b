// The technician's page: plain JS, no build step, no third-party code.
// All data is inserted with textContent (never parsed as HTML), so camera names and
// messages cannot inject markup.
"use strict";
(function () {
  var lang = localStorage.getItem("sw.lang") || "zh";
  var csrf = null;
  var view = "dashboard";
  var app = document.getElementById("app");

  function t(key, vars) {
    var s = (I18N[lang] && I18N[lang][key]) || I18N.zh[key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    return s;
  }

  // A failure reason in the page's language when it has a fixed text; otherwise the
  // box's own message (it carries details such as the host name or codec).
  function reasonText(code, message) {
    var key = "reason." + code;
    return (I18N[lang] && I18N[lang][key]) || message;
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] === true) e.setAttribute(k, "");
      else if (attrs[k] !== false && attrs[k] != null) e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // A save's notices ({key, zh, en}: a dropped password, a key kept from the config
  // file) in the page's language.
  function noticeText(n) { return (lang === "zh" ? n.zh : n.en) || n.en || n.key; }
  function noticeBanner(notices) {
    if (!notices || !notices.length) return null;
    return el("div", { class: "banner error notices", role: "status" },
      notices.map(function (n) { return el("div", { text: noticeText(n) }); }));
  }
  // Notices of the last camera save, shown once above the camera list.
  var cameraNotices = null;

  // One call to the API; resolves to {status, body}. 401 sends the user to login/setup.
  function api(method, path, body) {
    return call(method, path, body === undefined ? undefined : JSON.stringify(body), "application/json");
  }

  // Bumped whenever the session ends. A response to a request sent before that (a slow
  // status poll, say) is dropped: its page must not be drawn over the login form.
  var generation = 0;
  var never = new Promise(function () {});

  function call(method, path, text, type) {
    var sent = generation;
    var headers = {};
    if (text !== undefined) headers["Content-Type"] = type;
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin", body: text
    }).then(function (r) {
      return r.text().then(function (text) {
        if (sent !== generation) return never;
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        if (r.status === 401 && data && data.error === "unauthenticated") {
          csrf = null;
          showAuth(data.setup_required);
          return never;
        }
        return { status: r.status, body: data };
      });
    }, function () {
      return sent !== generation ? never : { status: 0, body: { message: t("err.network") } };
    });
  }

  // Problems are shown next to their field (data-field = problem path) or on top.
  function showProblems(form, res) {
    form.querySelectorAll(".error").forEach(function (e) { e.remove(); });
    var b = res.body || {};
    // Codes with a fixed text (429s) are worded by the page, in its language.
    var fixed = b.error && I18N[lang] && I18N[lang]["err." + b.error];
    var message = fixed ? t("err." + b.error, { s: b.retry_after_s || 1 }) : b.message || t("err.generic");
    var problems = b.problems || [{ path: "", message: message }];
    problems.forEach(function (p) {
      var field = p.path && form.querySelector('[data-field="' + CSS.escape(p.path) + '"]');
      var msg = el("div", { class: "error", role: "alert", text: p.message + (p.hint ? " — " + p.hint : "") });
      if (field) field.parentNode.insertBefore(msg, field.nextSibling);
      else form.insertBefore(msg, form.firstChild);
    });
  }

  function field(key, name, attrs) {
    var input = el("input", Object.assign({ name: name, id: "f-" + name, "data-field": name }, attrs || {}));
    return [el("label", { for: "f-" + name, text: t(key) }), input];
  }

  function setNav(loggedIn) {
    document.getElementById("nav").hidden = !loggedIn;
    document.getElementById("logout").hidden = !loggedIn;
    document.querySelectorAll("nav button").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-view") === view);
    });
  }

  function translateStatic() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach(function (e) { e.textContent = t(e.getAttribute("data-i18n")); });
    document.getElementById("lang").textContent = t("lang.switch");
  }

  function showAuth(setupRequired) {
    generation++;
    setNav(false);
    // A request that was in flight when the session ended answers 401 late; it must
    // not wipe what the technician is typing into the same form.
    var mode = setupRequired ? "setup" : "login";
    var shown = app.querySelector("form[data-auth]");
    if (shown && shown.getAttribute("data-auth") === mode) return;
    clear(app);
    var form = el("form", { class: "card", "data-auth": mode });
    if (setupRequired) {
      form.appendChild(el("h1", { text: t("setup.title") }));
      form.appendChild(el("p", { class: "hint", text: t("setup.intro") }));
      field("setup.code", "code", { autocomplete: "off", autocapitalize: "characters", required: true }).forEach(form.appendChild, form);
      field("setup.password", "password", { type: "password", autocomplete: "new-password", minlength: 10, required: true }).forEach(form.appendChild, form);
      field("setup.confirm", "confirm", { type: "password", autocomplete: "new-password", required: true }).forEach(form.appendChild, form);
      form.appendChild(el("div", { class: "row" }, [el("button", { class: "primary", type: "submit", text: t("setup.submit") })]));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (form.password.value !== form.confirm.value) {
          return showProblems(form, { body: { problems: [{ path: "confirm", message: t("setup.mismatch") }] } });
        }
        api("POST", "/api/setup", { code: form.code.value, password: form.password.value }).then(function (r) {
          if (r.status === 200) { csrf = r.body.csrf_token; go("dashboard"); } else showProblems(form, r);
        });
      });
    } else {
      form.appendChild(el("h1", { text: t("login.title") }));
      field("login.password", "password", { type: "password", autocomplete: "current-password", required: true }).forEach(form.appendChild, form);
      form.appendChild(el("div", { class: "row" }, [el("button", { class: "primary", type: "submit", text: t("login.submit") })]));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        api("POST", "/api/login", { password: form.password.value }).then(function (r) {
          if (r.status === 200) { csrf = r.body.csrf_token; go(view); } else showProblems(form, r);
        });
      });
    }
    app.appendChild(form);
  }

  function bytes(n) {
    if (n == null) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + units[i];
  }

  function duration(s) {
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + " " + t("unit.days") + " " : "") + h + " " + t("unit.hours") + " " + m + " " + t("unit.minutes");
  }

  function kv(pairs) {
    var dl = el("dl", { class: "kv" });
    pairs.forEach(function (p) { dl.appendChild(el("dt", { text: p[0] })); dl.appendChild(el("dd", { text: p[1] })); });
    return dl;
  }

  // Thumbnails survive the 5-s refresh: the new picture replaces the old one only once
  // it has loaded, so the dashboard does not flash.
  var dashThumbs = {};

  function dashThumb(id, streaming) {
    var img = dashThumbs[id];
    if (!img) img = dashThumbs[id] = el("img", { class: "dash-thumb", alt: t("dash.thumb_alt", { id: id }), hidden: true });
    if (streaming) {
      var next = el("img", { class: "dash-thumb", alt: t("dash.thumb_alt", { id: id }) });
      next.addEventListener("load", function () {
        var cur = dashThumbs[id];
        var box = cur.parentNode;
        if (box) {
          box.replaceChild(next, cur);
          var none = box.querySelector(".dash-nopic");
          if (none) box.removeChild(none);
        }
        dashThumbs[id] = next;
      });
      // Small (320 px) and privacy-masked by the box; `t` defeats caches.
      next.src = "/api/cameras/" + encodeURIComponent(id) + "/snapshot.jpg?width=320&t=" + Date.now();
    }
    return img;
  }

  function age(s) {
    if (s == null) return "–";
    return s < 60 ? Math.round(s) + " " + t("unit.seconds") : duration(s);
  }

  // Analysis far below its configured rate: camera, rates and the likely cause.
  function rateWarning(c) {
    var w = c.analysis_warning;
    return el("div", { class: "error rate-warning", "data-cause": w.cause, text: t("dash.rate_warning", {
      camera: c.name ? c.name + " (" + c.id + ")" : c.id,
      measured: w.measured_fps.toFixed(2),
      expected: w.expected_fps.toFixed(2),
      stream: w.stream_fps.toFixed(2),
      secs: Math.round(w.for_s),
      cause: t("rate_cause." + w.cause)
    }) });
  }

  // Decided events that could not be stored: lost ones (never silent) and ones
  // waiting in memory while the outbox refuses them.
  function eventsBanner(ev) {
    if (!ev) return;
    if (ev.lost_total > 0) {
      var detail = ev.lost.map(function (l) {
        return t("dash.lost_item", { camera: l.camera, kind: l.kind, count: l.count });
      }).join("; ");
      app.appendChild(el("div", { class: "banner error", role: "alert", id: "dash-events-lost",
        text: t("dash.events_lost", { n: ev.lost_total, detail: detail }) }));
    }
    if (ev.pending > 0 || !ev.outbox_open) {
      app.appendChild(el("div", { class: "banner error", role: "status", id: "dash-events-waiting",
        text: t("dash.events_waiting", { n: ev.pending, cap: ev.capacity, why: ev.outbox_error || "–" }) }));
    }
  }

  function dashboard() {
    api("GET", "/api/status").then(function (r) {
      if (r.status !== 200 || view !== "dashboard") return;
      clear(app);
      var s = r.body, h = s.health, up = s.uplink || {}, ob = s.outbox;
      app.appendChild(el("h1", { text: t("dash.title") }));
      eventsBanner(s.events);
      app.appendChild(el("h2", { text: t("dash.cameras") }));
      if (!s.cameras.length) app.appendChild(el("p", { class: "card", text: t("dash.none") }));
      s.cameras.forEach(function (c) {
        var pairs = [];
        if (c.fps != null) pairs.push([t("dash.fps"), c.fps.toFixed(1)], [t("dash.resolution"), c.codec + " " + c.width + "×" + c.height]);
        if (c.analysis_fps != null) pairs.push([t("dash.analysis_fps"), c.analysis_fps.toFixed(1)]);
        if (c.dropped != null) pairs.push([t("dash.dropped"), String(c.dropped)], [t("dash.reconnects"), String(c.reconnects)]);
        var streaming = c.state === "streaming";
        var thumb = dashThumb(c.id, streaming);
        app.appendChild(el("div", { class: "card dash-camera", "data-camera": c.id, "data-state": c.state }, [
          el("div", { class: "cam" }, [
            el("span", { class: "name", text: (c.name || c.id) + (c.name ? " (" + c.id + ")" : "") }),
            el("span", { class: "state " + c.state, text: t("state." + c.state) })
          ]),
          c.message ? el("div", { class: "error", text: reasonText(c.reason, c.message) }) : null,
          c.analysis_warning ? rateWarning(c) : null,
          el("div", { class: "dash-body" }, [
            el("div", { class: "dash-picture" }, [
              thumb,
              thumb.hidden ? el("div", { class: "dash-nopic hint", text: t("dash.no_picture") }) : null
            ]),
            pairs.length ? kv(pairs) : null
          ])
        ]));
      });
      app.appendChild(el("h2", { text: t("dash.health") }));
      var cpu = h.cpu;
      app.appendChild(el("div", { class: "card", id: "dash-health" }, [kv([
        [t("dash.device"), s.device.id],
        [t("dash.signing_key"), s.device.public_key ? s.device.public_key + " (" + s.device.key_id + ")" : "–"],
        [t("dash.firmware"), h.firmware],
        [t("dash.models"), (h.models || []).map(function (m) { return m.id + " " + (m.version || "–"); }).join(", ") || "–"],
        [t("dash.kernel"), h.kernel],
        [t("dash.uptime"), duration(h.uptime_s)],
        [t("dash.cpu"), cpu ? t("dash.cpu_value", {
          usage: cpu.usage_percent == null ? "–" : Math.round(cpu.usage_percent) + "%",
          load: cpu.load.map(function (l) { return l.toFixed(2); }).join(" / "),
          cores: cpu.cores
        }) : "–"],
        [t("dash.memory"), h.memory ? bytes(h.memory.available_bytes) + " / " + bytes(h.memory.total_bytes) : "–"],
        [t("dash.disk"), h.disk ? bytes(h.disk.available_bytes) + " / " + bytes(h.disk.total_bytes) : "–"],
        [t("dash.temperature"), h.temperature_c == null ? "–" : h.temperature_c.toFixed(1) + " °C"]
      ])]));
      app.appendChild(el("h2", { text: t("dash.uplink") }));
      var upState = !up.available ? "unavailable" : up.connected ? "connected" : "disconnected";
      var upPairs = [];
      if (up.last_error) upPairs.push([t("dash.last_error"), up.last_error]);
      if (up.delivered != null) upPairs.push([t("dash.delivered"), String(up.delivered)]);
      if (ob) upPairs.push([t("dash.outbox"), t("dash.outbox_value", { events: ob.events, bytes: bytes(ob.bytes) })],
        [t("dash.outbox_oldest"), age(ob.oldest_age_s)]);
      app.appendChild(el("div", { class: "card", id: "dash-uplink", "data-state": upState }, [
        el("div", { class: "cam" }, [
          el("span", { class: "name", text: t("dash.uplink") }),
          el("span", { class: "state " + (up.connected ? "streaming" : "backoff"), text: upState === "connected" ? t("dash.uplink_connected")
            : upState === "disconnected" ? t("dash.uplink_disconnected") : t("dash.uplink_unavailable") })
        ]),
        upPairs.length ? kv(upPairs) : null
      ]));
    });
  }

  function cameras() {
    api("GET", "/api/cameras").then(function (r) {
      if (r.status !== 200 || view !== "cameras") return;
      clear(app);
      app.appendChild(el("h1", { text: t("cams.title") }));
      var shown = noticeBanner(cameraNotices);
      cameraNotices = null;
      if (shown) app.appendChild(shown);
      app.appendChild(el("div", { class: "row" }, [
        el("button", { class: "primary", text: t("cams.add"), onclick: function () { cameraForm(null); } }),
        // Opens the add form and searches at once (discover.js).
        el("button", { id: "camera-discover", class: "secondary", text: t("cams.discover"), onclick: function () { cameraForm(null, { discover: true }); } })
      ]));
      r.body.cameras.forEach(function (c) {
        app.appendChild(el("div", { class: "card" }, [
          el("div", { class: "cam" }, [
            el("span", { class: "name", text: (c.name || c.id) + (c.name ? " (" + c.id + ")" : "") }),
            el("span", { class: "state " + (c.enabled ? "" : "disabled"), text: c.enabled ? "" : t("state.disabled") })
          ]),
          el("div", { class: "hint", text: c.url + (c.username ? " · " + c.username : "") + (c.password_set ? " · " + t("cams.password_set") : "") }),
          el("div", { class: "row" }, [
            el("button", { class: "secondary", text: t("cams.edit"), onclick: function () { cameraForm(c); } }),
            el("button", { class: "danger", text: t("cams.remove"), onclick: function () {
              if (!confirm(t("cams.confirm_remove", { id: c.id }))) return;
              api("DELETE", "/api/cameras/" + encodeURIComponent(c.id)).then(function (d) {
                if (d.status === 200) cameras(); else alert((d.body && d.body.message) || t("err.generic"));
              });
            } })
          ])
        ]));
      });
    });
  }

  function cameraForm(cam, opts) {
    clear(app);
    var form = el("form", { class: "card" });
    app.appendChild(el("h1", { text: cam ? t("cams.edit") + " " + cam.id : t("cams.add") }));
    field("cams.id", "id", { required: true, value: cam ? cam.id : "", disabled: !!cam, pattern: "[A-Za-z0-9_-]{1,64}" }).forEach(form.appendChild, form);
    field("cams.name", "name", { value: cam ? cam.name || "" : "" }).forEach(form.appendChild, form);
    field("cams.url", "url", { required: true, value: cam ? cam.url : "rtsp://", inputmode: "url", autocapitalize: "off" }).forEach(form.appendChild, form);
    field("cams.username", "username", { value: cam && cam.username ? cam.username : "", autocomplete: "off", autocapitalize: "off" }).forEach(form.appendChild, form);
    field("cams.password", "password", { type: "password", autocomplete: "new-password", placeholder: cam && cam.password_set ? t("cams.password_keep") : "" }).forEach(form.appendChild, form);
    var transport = el("select", { name: "transport", id: "f-transport", "data-field": "transport" }, ["tcp", "udp", "auto"].map(function (v) {
      return el("option", { value: v, text: v.toUpperCase(), selected: cam ? cam.transport === v : v === "tcp" });
    }));
    form.appendChild(el("label", { for: "f-transport", text: t("cams.transport") }));
    form.appendChild(transport);
    var enabled = el("input", { type: "checkbox", name: "enabled", id: "f-enabled", "data-field": "enabled", checked: cam ? cam.enabled : true });
    form.appendChild(el("label", { for: "f-enabled" }, [enabled, " " + t("cams.enabled")]));
    var result = el("div", { id: "camera-test-result", "aria-live": "polite" });
    form.appendChild(result);
    var testBtn = el("button", { class: "secondary", type: "button", id: "camera-test", text: t("cams.test") });
    form.appendChild(el("div", { class: "row" }, [
      el("button", { class: "primary", type: "submit", id: "camera-save", text: t("cams.save") }),
      testBtn,
      el("button", { class: "secondary", type: "button", text: t("cams.cancel"), onclick: function () { go("cameras"); } })
    ]));

    // Fields the edit sends; a camera's other settings (analysis, pre-roll) are kept.
    function body() {
      var b = Object.assign({}, cam || {});
      delete b.password_set;
      b.id = cam ? cam.id : form.id.value.trim();
      b.name = form.name.value.trim();
      b.url = form.url.value.trim();
      b.username = form.username.value.trim() || null;
      b.transport = transport.value;
      b.enabled = enabled.checked;
      if (form.password.value) b.password = form.password.value; else delete b.password;
      return b;
    }

    testBtn.addEventListener("click", function () {
      var b = body();
      var req = { url: b.url, transport: b.transport };
      if (b.username) req.username = b.username;
      if (b.password) req.password = b.password;
      if (cam) req.camera_id = cam.id;
      testBtn.disabled = true;
      clear(result);
      result.appendChild(el("div", { class: "hint", text: t("cams.testing") }));
      api("POST", "/api/cameras/test", req).then(function (r) {
        testBtn.disabled = false;
        clear(result);
        if (r.status !== 200) return showProblems(form, r);
        var x = r.body;
        var text = x.ok
          ? t("cams.test_ok", { codec: x.codec, width: x.width, height: x.height, fps: x.fps.toFixed(1),
              gop: x.gop_frames != null ? x.gop_frames + " (" + x.gop_seconds.toFixed(1) + " s)" : "?" })
          : t("cams.test_fail", { message: reasonText(x.reason, x.message) });
        result.appendChild(el("div", { class: "banner " + (x.ok ? "ok" : "error"), role: "status", text: text }));
        if (x.ok && x.snapshot) result.appendChild(el("img", { class: "camera-test-snapshot", src: x.snapshot, alt: t("cams.snapshot") }));
      });
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var b = body();
      var req = cam ? api("PUT", "/api/cameras/" + encodeURIComponent(cam.id), b) : api("POST", "/api/cameras", b);
      req.then(function (r) {
        if (r.status === 200 || r.status === 201) { cameraNotices = r.body && r.body.notices; go("cameras"); } else showProblems(form, r);
      });
    });
    if (window.SW.cameraForm) window.SW.cameraForm(form, { cam: cam, before: result, discover: !!(opts && opts.discover) });
    app.appendChild(form);
  }

  function changesList(changes) {
    if (!changes.length) return el("p", { class: "hint", text: t("dev.no_changes") });
    return el("ul", { class: "changes" }, changes.map(function (c) {
      var old = c.old === undefined ? "–" : JSON.stringify(c.old);
      var now = c.new === undefined ? "–" : JSON.stringify(c.new);
      return el("li", {}, [el("code", { text: c.path }), " " + old + " → " + now]);
    }));
  }

  function device() {
    clear(app);
    app.appendChild(el("h1", { text: t("dev.title") }));
    extend("device", app);

    var pw = el("form", { class: "card" }, [el("h2", { text: t("dev.password") })]);
    field("dev.current", "current_password", { type: "password", autocomplete: "current-password", required: true }).forEach(pw.appendChild, pw);
    field("dev.new", "new_password", { type: "password", autocomplete: "new-password", minlength: 10, required: true }).forEach(pw.appendChild, pw);
    field("setup.confirm", "confirm", { type: "password", autocomplete: "new-password", required: true }).forEach(pw.appendChild, pw);
    var pwResult = el("div", { "aria-live": "polite" });
    pw.appendChild(pwResult);
    pw.appendChild(el("div", { class: "row" }, [el("button", { class: "primary", type: "submit", text: t("dev.change") })]));
    pw.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clear(pwResult);
      if (pw.new_password.value !== pw.confirm.value) {
        return showProblems(pw, { body: { problems: [{ path: "confirm", message: t("setup.mismatch") }] } });
      }
      api("POST", "/api/password", { current_password: pw.current_password.value, new_password: pw.new_password.value }).then(function (r) {
        if (r.status !== 200) return showProblems(pw, r);
        pw.querySelectorAll(".error").forEach(function (e) { e.remove(); });
        pw.reset();
        pwResult.appendChild(el("div", { class: "banner ok", role: "status", text: t("dev.changed") }));
      });
    });
    app.appendChild(pw);

    var cfg = el("form", { class: "card" }, [
      el("h2", { text: t("dev.config") }),
      el("a", { href: "/api/config/export", download: "streetwatch.toml", text: t("dev.export") })
    ]);
    var file = el("input", { type: "file", accept: ".toml,text/plain", id: "f-import" });
    cfg.appendChild(el("label", { for: "f-import", text: t("dev.import_file") }));
    cfg.appendChild(file);
    var preview = el("div", { "aria-live": "polite" });
    var applyBtn = el("button", { class: "primary", type: "button", text: t("dev.apply"), disabled: true });
    cfg.appendChild(preview);
    cfg.appendChild(el("div", { class: "row" }, [
      el("button", { class: "secondary", type: "submit", text: t("dev.preview") }), applyBtn
    ]));
    function importFile(dryRun) {
      cfg.querySelectorAll(".error").forEach(function (e) { e.remove(); });
      clear(preview);
      var f = file.files[0];
      if (!f) return;
      f.text().then(function (text) {
        call("POST", "/api/config/import" + (dryRun ? "?dry_run=true" : ""), text, "application/toml").then(function (r) {
          if (r.status !== 200) { applyBtn.disabled = true; return showProblems(cfg, r); }
          if (!dryRun) {
            var rl = r.body.reload || {};
            if (rl.failed && rl.failed.length) preview.appendChild(el("div", { class: "banner error", role: "alert", text: t("dev.not_applied", { items: rl.failed.join("; ") }) }));
            else preview.appendChild(el("div", { class: "banner ok", role: "status", text: t("dev.applied") }));
            if (rl.restart_required && rl.restart_required.length) preview.appendChild(el("div", { class: "banner", role: "status", text: t("dev.restart_required", { items: rl.restart_required.join(", ") }) }));
          }
          [["dev.ignored", r.body.ignored], ["dev.passwords_cleared", r.body.passwords_cleared]].forEach(function (x) {
            if (!x[1] || !x[1].length) return;
            preview.appendChild(el("p", { class: "hint", text: t(x[0]) }));
            preview.appendChild(noticeBanner(x[1]));
          });
          preview.appendChild(changesList(r.body.changes));
          applyBtn.disabled = !dryRun || !r.body.changes.length;
        });
      });
    }
    cfg.addEventListener("submit", function (ev) { ev.preventDefault(); importFile(true); });
    applyBtn.addEventListener("click", function () { importFile(false); });
    file.addEventListener("change", function () { applyBtn.disabled = true; clear(preview); });
    app.appendChild(cfg);

    var audit = el("div", { class: "card" }, [el("h2", { text: t("dev.audit") })]);
    app.appendChild(audit);
    api("GET", "/api/audit?limit=20").then(function (r) {
      if (r.status !== 200) return;
      if (!r.body.entries.length) audit.appendChild(el("p", { class: "hint", text: t("dev.audit_none") }));
      r.body.entries.forEach(function (e) {
        audit.appendChild(el("div", { class: "audit" }, [
          el("div", { class: "hint", text: e.time + " · " + e.user + " · " + e.client + " · " + e.action }),
          e.changes.length ? changesList(e.changes) : null
        ]));
      });
    });
  }

  // Pages that live in their own files (zones.js, live.js, …) register themselves as
  // SW.pages[view] = function () { … } and use these helpers; go() calls them.
  var SW = window.SW = window.SW || { pages: {} };
  SW.app = app;
  SW.t = t;
  SW.api = api;
  SW.call = call;
  SW.el = el;
  SW.clear = clear;
  SW.showProblems = showProblems;
  SW.noticeBanner = noticeBanner;
  SW.reasonText = reasonText;
  SW.view = function () { return view; };
  // The camera last chosen on any page, so Zones and Live open on the same one.
  SW.camera = null;
  // Helpers the Events, Device and Logs scripts use too.
  SW.lang = function () { return lang; };
  SW.loggedIn = function () { return csrf !== null; };
  SW.field = field;
  SW.kv = kv;
  // Cards another script adds to a page drawn here: SW.extensions.device = [render(node)].
  SW.extensions = SW.extensions || {};
  function extend(name, node) {
    (SW.extensions[name] || []).forEach(function (render) { render(node); });
  }

  function go(v) {
    view = v;
    setNav(true);
    if (SW.pages[v]) SW.pages[v]();
    else if (v === "cameras") cameras(); else if (v === "device") device(); else dashboard();
  }

  document.querySelectorAll("nav button").forEach(function (b) {
    b.addEventListener("click", function () { go(b.getAttribute("data-view")); });
  });
  document.getElementById("lang").addEventListener("click", function () {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("sw.lang", lang);
    translateStatic();
    if (csrf) go(view); else api("GET", "/api/session");
  });
  document.getElementById("logout").addEventListener("click", function () {
    api("POST", "/api/logout").then(function () { csrf = null; showAuth(false); });
  });
  // Refresh the dashboard every 5 s while it is shown.
  setInterval(function () { if (csrf && view === "dashboard" && !document.hidden) dashboard(); }, 5000);

  // Helpers for the page's other scripts (discover.js, …), which register themselves
  // on window.SW after this file has run.
  window.SW = Object.assign(window.SW || {}, {
    api: api, el: el, clear: clear, t: t, showProblems: showProblems
  });

  translateStatic();
  api("GET", "/api/session").then(function (r) {
    if (r.status === 200) { csrf = r.body.csrf_token; go("dashboard"); }
  });
})();
