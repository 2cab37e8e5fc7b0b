// The technician's page: plain JS, no build step, no third-party code.
// All data is inserted with textContent (never parsed as HTML), so camera names and
// messages cannot inject markup.
//
// One language per page: every text comes from i18n.js; what the box says comes as a
// stable code (`error`, `problems[].code`, `reason`) that is worded here, and the box's
// own (English) text only ever appears folded under "details".
// One clock: every time is shown on the box's clock with its offset (SW.fmtTime).
"use strict";
(function () {
  var lang = localStorage.getItem("sw.lang") || "zh";
  var csrf = null;
  var view = "dashboard";
  var app = document.getElementById("app");
  // The box's clock ({timezone, offset}); the phone's own zone is never used.
  var clock = { timezone: "Asia/Shanghai", offset: "+08:00" };

  function t(key, vars) {
    var s = (I18N[lang] && I18N[lang][key]);
    if (s == null) s = I18N.zh[key];
    if (s == null) s = key;
    Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    return s;
  }
  function has(key) { return !!(I18N[lang] && I18N[lang][key] != null); }

  // A text as nodes: what fills its placeholders (a scheme, a host, a codec: the box's
  // or the technician's own values) is set as code, never read as a sentence.
  function tn(key, vars) {
    var s = t(key);
    var span = document.createElement("span");
    var re = /\{(\w+)\}/g, at = 0, m;
    while ((m = re.exec(s))) {
      span.appendChild(document.createTextNode(s.slice(at, m.index)));
      var v = vars && vars[m[1]];
      if (v instanceof Node) span.appendChild(v);
      else if (typeof v === "number" || (typeof v === "string" && /^[\d.]+$/.test(v))) span.appendChild(document.createTextNode(String(v)));
      else span.appendChild(el("code", { class: "value", text: v == null ? "" : String(v) }));
      at = re.lastIndex;
    }
    span.appendChild(document.createTextNode(s.slice(at)));
    return span;
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

  // ---- time, durations, sizes ---------------------------------------------------

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Wall-clock parts of `date` in the box's zone, and that zone's offset then.
  function zoned(date) {
    var p = {};
    try {
      new Intl.DateTimeFormat("en-US", {
        timeZone: clock.timezone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      }).formatToParts(date).forEach(function (x) { p[x.type] = x.value; });
    } catch (e) {
      return null;
    }
    var whole = Math.floor(date.getTime() / 1000) * 1000;
    var asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
    var off = Math.round((asUtc - whole) / 60000);
    var a = Math.abs(off);
    p.offset = (off < 0 ? "-" : "+") + pad(Math.floor(a / 60)) + ":" + pad(a % 60);
    return p;
  }

  // "2026-11-21 08:00:05 +08:00" on the box's clock, whatever zone `iso` was written in.
  function fmtTime(iso, withSeconds) {
    if (!iso) return "–";
    var d = iso instanceof Date ? iso : new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var p = zoned(d);
    if (!p) return String(iso);
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute +
      (withSeconds === false ? "" : ":" + p.second) + " " + p.offset;
  }

  // A time as an element the tests (and screen readers) can find.
  function timeEl(iso, withSeconds) {
    return el("span", { class: "time", "data-time": iso || "", text: fmtTime(iso, withSeconds) });
  }

  // Today's date on the box's clock ("2026-11-21").
  function boxDate(date) {
    var p = zoned(date || new Date());
    return p ? p.year + "-" + p.month + "-" + p.day : "";
  }

  // A datetime-local value ("2026-11-21T08:00") read as the box's wall clock, as
  // RFC 3339 with the box's offset at that time.
  function boxLocalToIso(local) {
    if (!local) return "";
    var guess = new Date(local + ":00Z");
    if (isNaN(guess.getTime())) return "";
    var p = zoned(guess);
    var off = p ? p.offset : clock.offset;
    return local + ":00" + off;
  }

  // 26 秒 / 3 分 20 秒 / 2 小时 5 分 / 1 天 3 小时.
  function duration(s) {
    if (s == null || isNaN(s)) return "–";
    s = Math.max(0, Math.round(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    function u(n, unit) { return t("unit.n_" + unit, { n: n }); }
    if (d) return u(d, "days") + (h ? " " + u(h, "hours") : "");
    if (h) return u(h, "hours") + (m ? " " + u(m, "minutes") : "");
    if (m) return u(m, "minutes") + (sec ? " " + u(sec, "seconds") : "");
    return u(sec, "seconds");
  }

  // Seconds with one decimal: "4.8 秒".
  function seconds1(s) { return s == null ? "–" : t("unit.n_seconds", { n: (Math.round(s * 10) / 10).toString() }); }

  function bytes(n) {
    if (n == null) return "–";
    var units = ["B", "KB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + units[i];
  }

  // A number as people write it: at most `digits` decimals, no float noise.
  function num(v, digits) {
    if (typeof v !== "number" || !isFinite(v)) return String(v);
    var f = Math.pow(10, digits == null ? 3 : digits);
    return String(Math.round(v * f) / f);
  }

  // ---- what the box says, in the page's language -----------------------------

  // Folded raw text of the box (English, technical): visible on demand only.
  function details(raw) {
    if (!raw) return null;
    return el("details", { class: "raw" }, [el("summary", { text: t("common.details") }), el("code", { text: raw })]);
  }

  // A camera failure reason: the code's text, with what the code needs from the
  // message (codec, host, seconds).
  function reasonText(code, message, detail) {
    var msg = message || "";
    var vars = {};
    var m;
    if (code === "unsupported_codec") {
      m = /unsupported codec (\S+?):?( |$)/.exec(msg);
      vars.codec = detail && typeof detail === "string" ? detail : m ? m[1] : "?";
    } else if (code === "stalled") {
      m = /(\d+) s/.exec(msg);
      vars.n = detail && detail.seconds != null ? detail.seconds : m ? m[1] : "?";
    } else if (code === "host_not_found") {
      m = /"([^"]+)"/.exec(msg);
      vars.host = typeof detail === "string" ? detail : m ? m[1] : "?";
    }
    return has("reason." + code) ? tn("reason." + code, vars) : tn("reason.error");
  }

  // One problem (`{path, message, hint, code, params}`) in the page's language.
  function problemText(p) {
    var key = "problem." + (p.code || "invalid");
    return has(key) ? tn(key, p.params || {}) : tn("problem.invalid");
  }

  // The error of a failed request (not a field problem) in the page's language.
  function errorText(res) {
    var b = res.body || {};
    if (res.status === 0) return t("err.network");
    var key = "err." + (b.error || "generic");
    return has(key) ? t(key, { s: b.retry_after_s || 1 }) : t("err.generic");
  }

  // A box's notice ({key, zh, en}: a dropped password, a key kept from the config file).
  function noticeText(n) { return (lang === "zh" ? n.zh : n.en) || n.en || n.key; }
  function noticeBanner(notices) {
    if (!notices || !notices.length) return null;
    return el("div", { class: "banner error notices", role: "status" },
      notices.map(function (n) { return el("div", { text: noticeText(n) }); }));
  }

  // ---- requests ---------------------------------------------------------------

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
      return sent !== generation ? never : { status: 0, body: {} };
    });
  }

  // ---- results next to the button pressed -------------------------------------

  // The field a problem path names inside `form`: the exact path, or its last part
  // (`cameras[0].url` -> `url`, `uplink.broker` -> `broker`).
  function fieldFor(form, path) {
    if (!path) return null;
    var tries = [path, path.replace(/^.*?\]\./, ""), path.replace(/^[a-z_]+\./, ""), path.split(".").pop()];
    for (var i = 0; i < tries.length; i++) {
      var f = form.querySelector('[data-field="' + CSS.escape(tries[i]) + '"]');
      if (f) return f;
    }
    return null;
  }

  // Remove every error shown in `scope` (a new attempt starts clean).
  function clearErrors(scope) {
    scope.querySelectorAll(".error").forEach(function (e) { e.remove(); });
  }

  // Problems next to their field; the rest (and any other failure) in `result`, which
  // sits right under the button pressed. The first message is scrolled into view.
  function showProblems(form, res, result) {
    clearErrors(form);
    if (result) { clear(result); result.setAttribute("data-state", "error"); }
    var b = res.body || {};
    var shown = [];
    var problems = b.problems || [];
    problems.forEach(function (p) {
      var field = fieldFor(form, p.path);
      var msg = el("div", { class: "error", role: "alert", "data-code": p.code || "" }, [
        problemText(p), field ? null : el("code", { class: "path", text: " " + p.path }), details(p.message + (p.hint ? " — " + p.hint : ""))
      ]);
      if (field) {
        var after = field.closest(".check") || field;
        after.parentNode.insertBefore(msg, after.nextSibling);
      } else (result || form).appendChild(msg);
      shown.push(msg);
    });
    if (!problems.length) {
      var msg = el("div", { class: "error", role: "alert", "data-code": b.error || "" }, [errorText(res), details(b.message)]);
      (result || form).appendChild(msg);
      shown.push(msg);
    }
    if (shown[0]) reveal(shown[0]);
  }

  // Keep a result on the screen (phones: it must not appear above or below the view).
  function reveal(node) {
    if (node && node.scrollIntoView) node.scrollIntoView({ block: "nearest" });
  }

  // An asynchronous button: disabled while it works, "…" in `result` right away, and
  // `work()` (a promise) resolving to whatever it shows. Returns the promise.
  function busy(button, result, text, work) {
    if (button.disabled) return never;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    clear(result);
    result.setAttribute("data-state", "busy");
    result.appendChild(el("div", { class: "progress", role: "status" }, [el("span", { class: "spinner" }), text]));
    reveal(result);
    return work().then(function (v) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (result.getAttribute("data-state") === "busy") { clear(result); result.removeAttribute("data-state"); }
      reveal(result);
      return v;
    });
  }

  function ok(result, text) {
    clear(result);
    result.setAttribute("data-state", "ok");
    result.appendChild(el("div", { class: "banner ok", role: "status", text: text }));
    reveal(result);
  }

  // A result box placed right under a row of buttons.
  function resultBox(id) { return el("div", { class: "result", id: id || null, "aria-live": "polite" }); }

  // A field's error goes away as soon as the field is changed (it may be fixed now).
  function clearOnInput(form) {
    form.addEventListener("input", function (ev) {
      var f = ev.target;
      var after = (f.closest && f.closest(".check")) || f;
      var next = after.nextSibling;
      if (next && next.classList && next.classList.contains("error")) next.remove();
    });
  }

  // ---- dialogs and leaving unsaved work ---------------------------------------

  // A yes/no question in the page (in its language; a phone's native dialog is not).
  function ask(text, yes, no, danger) {
    return new Promise(function (resolve) {
      var dlg = el("dialog", { class: "ask", id: "ask" });
      function done(v) { dlg.close(); dlg.remove(); resolve(v); }
      dlg.appendChild(el("p", { text: text }));
      dlg.appendChild(el("div", { class: "row" }, [
        el("button", { class: danger ? "danger" : "primary", type: "button", id: "ask-yes", text: yes || t("common.yes"), onclick: function () { done(true); } }),
        el("button", { class: "secondary", type: "button", id: "ask-no", text: no || t("common.no"), onclick: function () { done(false); } })
      ]));
      dlg.addEventListener("cancel", function (ev) { ev.preventDefault(); done(false); });
      document.body.appendChild(dlg);
      dlg.showModal();
    });
  }

  // A page with unsaved work sets SW.unsaved = function () { return "message" | null }.
  window.addEventListener("beforeunload", function (ev) {
    if (SW.unsaved && SW.unsaved()) { ev.preventDefault(); ev.returnValue = ""; }
  });

  // ---- forms --------------------------------------------------------------------

  function field(key, name, attrs) {
    var input = el("input", Object.assign({ name: name, id: "f-" + name, "data-field": name }, attrs || {}));
    return [el("label", { for: "f-" + name, text: t(key) }), input];
  }

  function kv(pairs) {
    var dl = el("dl", { class: "kv" });
    pairs.forEach(function (p) {
      if (!p) return;
      dl.appendChild(el("dt", { text: p[0] }));
      dl.appendChild(el("dd", { class: p[2] || null }, [typeof p[1] === "string" ? p[1] : p[1] || "–"]));
    });
    return dl;
  }

  // A camera's name as the technician gave it, with its id (an id is code, not text).
  function cameraLabel(c) {
    return el("span", { class: "name" }, c.name ? [c.name + " ", el("code", { class: "id", text: c.id })] : [el("code", { class: "id", text: c.id })]);
  }

  // ---- navigation -----------------------------------------------------------------

  function setNav(loggedIn) {
    document.getElementById("nav").hidden = !loggedIn;
    document.getElementById("logout").hidden = !loggedIn;
    document.querySelectorAll("nav button").forEach(function (b) {
      var on = b.getAttribute("data-view") === view;
      b.classList.toggle("active", on);
      if (on) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
      if (on && b.scrollIntoView && loggedIn) b.scrollIntoView({ block: "nearest", inline: "nearest" });
    });
  }

  function translateStatic() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("app.title");
    document.querySelectorAll("[data-i18n]").forEach(function (e) { e.textContent = t(e.getAttribute("data-i18n")); });
    document.getElementById("lang").textContent = t("lang.switch");
  }

  function startSession(body) {
    csrf = body.csrf_token;
    if (body.time) clock = body.time;
    else api("GET", "/api/session").then(function (r) { if (r.status === 200 && r.body.time) clock = r.body.time; });
  }

  function showAuth(setupRequired) {
    generation++;
    SW.unsaved = null;
    setNav(false);
    // A request that was in flight when the session ended answers 401 late; it must
    // not wipe what the technician is typing into the same form.
    var mode = setupRequired ? "setup" : "login";
    var shown = app.querySelector("form[data-auth]");
    if (shown && shown.getAttribute("data-auth") === mode) return;
    clear(app);
    var form = el("form", { class: "card", "data-auth": mode });
    var result = resultBox("auth-result");
    clearOnInput(form);
    if (setupRequired) {
      form.appendChild(el("h1", { text: t("setup.title") }));
      form.appendChild(el("p", { class: "hint", text: t("setup.intro") }));
      form.appendChild(el("details", { class: "hint where" }, [
        el("summary", { text: t("setup.where").split("：")[0].split(":")[0] }),
        el("p", { text: t("setup.where") }),
        el("code", { class: "key", text: "journalctl -u streetwatch | grep setup_code" }),
        el("code", { class: "key", text: "/var/lib/streetwatch/web/setup-code" })
      ]));
      field("setup.code", "code", { autocomplete: "off", autocapitalize: "characters", required: true }).forEach(form.appendChild, form);
      field("setup.password", "password", { type: "password", autocomplete: "new-password", minlength: 10, required: true }).forEach(form.appendChild, form);
      field("setup.confirm", "confirm", { type: "password", autocomplete: "new-password", required: true }).forEach(form.appendChild, form);
      var submit = el("button", { class: "primary", type: "submit", text: t("setup.submit") });
      form.appendChild(el("div", { class: "row" }, [submit]));
      form.appendChild(result);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        clearErrors(form);
        if (form.password.value !== form.confirm.value) {
          return showProblems(form, { body: { problems: [{ path: "confirm", code: "password_mismatch" }] } }, result);
        }
        busy(submit, result, t("setup.working"), function () {
          return api("POST", "/api/setup", { code: form.code.value.trim(), password: form.password.value });
        }).then(function (r) {
          if (r.status !== 200) {
            // A wrong code belongs under the code field, where it was typed.
            if (r.body && r.body.error === "bad_setup_code") r.body.problems = [{ path: "code", code: "bad_setup_code" }];
            return showProblems(form, r, result);
          }
          startSession(r.body);
          go("dashboard");
        });
      });
    } else {
      form.appendChild(el("h1", { text: t("login.title") }));
      field("login.password", "password", { type: "password", autocomplete: "current-password", required: true }).forEach(form.appendChild, form);
      var login = el("button", { class: "primary", type: "submit", text: t("login.submit") });
      form.appendChild(el("div", { class: "row" }, [login]));
      form.appendChild(result);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        clearErrors(form);
        busy(login, result, t("login.working"), function () {
          return api("POST", "/api/login", { password: form.password.value });
        }).then(function (r) {
          if (r.status !== 200) {
            if (r.body && r.body.error === "bad_credentials") r.body.problems = [{ path: "password", code: "bad_password" }];
            return showProblems(form, r, result);
          }
          startSession(r.body);
          go("dashboard");
        });
      });
    }
    app.appendChild(form);
  }

  // ---- dashboard ----------------------------------------------------------------

  // Picture older than this (seconds) is shown greyed with its age.
  var STALE_S = 15;

  function stateBadge(c) {
    var state = c.state || "stopped";
    return el("span", { class: "state " + state, "data-state": state, text: t("state." + state) });
  }

  // Why a camera is not streaming, worded from its code.
  function cameraReason(c) {
    if (!c.reason) return null;
    var detail = c.detail && c.detail.reason ? c.detail.reason.detail : null;
    return el("div", { class: "reason" }, [
      reasonText(c.reason, c.message, detail),
      c.detail && c.detail.retry_in_s != null ? " " + t("dash.retry_in", { s: seconds1(c.detail.retry_in_s) }) : null,
      c.reason === "error" ? details(c.message) : null
    ]);
  }

  // How the camera is analysed: frames per second, or keyframes only explained.
  function analysisText(c) {
    if (c.keyframes_only) {
      return c.gop_s ? t("dash.keyframes_every", { s: seconds1(c.gop_s) }) : t("dash.keyframes_only");
    }
    return t("dash.analysis_value", { fps: num(c.analysis_fps || 0, 1), target: num(c.analysis_fps_target || 0, 1) });
  }

  // Why the camera is analysed at this rate: "auto: parking rule -> keyframes only", the
  // fallback when its keyframes are too far apart, or an explicit rate a rule needs more than.
  function rateRuleName(n) {
    if (!n) return "";
    return n.rule === "tamper" ? t("dash.rate_rule_tamper") : t("zones.rule." + n.rule);
  }
  function rateWhy(c) {
    var r = c.analysis_rate;
    if (!r || !r.auto) return null;
    var mode = r.keyframes_too_far_apart ? t("dash.rate_mode_fps", { fps: num(r.fps, 1) })
      : r.keyframes_only ? t("dash.rate_mode_keyframes") : t("dash.rate_mode_fps", { fps: num(r.fps, 1) });
    var rule = r.decided_by ? rateRuleName(r.decided_by) : t("dash.rate_no_rule");
    return t("dash.rate_auto", { rule: rule, mode: mode });
  }
  function rateNotes(c) {
    var r = c.analysis_rate, out = [];
    if (!r) return null;
    if (r.keyframes_too_far_apart && r.keyframe_max_gap_s) {
      out.push(el("div", { class: "warn rate-fallback", role: "note", text: t("dash.rate_fallback",
        { rule: rateRuleName(r.decided_by), gap: seconds1(r.keyframe_max_gap_s), gop: seconds1(c.gop_s || 0), fps: num(r.fps, 1) }) }));
    }
    (r.shortfalls || []).forEach(function (s) {
      out.push(el("div", { class: "warn rate-shortfall", role: "note", "data-key": s.key, text: t(
        s.key === "analysis.keyframes_only" ? "dash.rate_short_keyframes" : "dash.rate_short_fps",
        { rule: rateRuleName(s.rule), at: s.rule.at, need: num(s.need_fps, 1), key: s.key }) }));
    });
    return out.length ? el("div", { class: "rate-notes" }, out) : null;
  }

  function gopText(c) {
    if (c.gop_s == null) return t("dash.gop_unknown");
    return t("dash.gop_value", { frames: c.gop_frames == null ? "?" : c.gop_frames, s: seconds1(c.gop_s) });
  }

  function prerollWarning(c) {
    if (!c.gop_exceeds_preroll) return null;
    return el("div", { class: "warn", role: "note", text: t("dash.gop_warning", { gop: seconds1(c.gop_s), preroll: seconds1(c.preroll_s) }) });
  }

  // Level of a gauge: "", "warn" or "bad".
  function level(v, warn, bad) { return v == null ? "" : v >= bad ? "bad" : v >= warn ? "warn" : ""; }

  function summaryLine(r) {
    var cams = r.cameras.filter(function (c) { return c.enabled; });
    var up = cams.filter(function (c) { return c.state === "streaming"; }).length;
    var ob = r.outbox, h = r.health;
    var diskFree = h.disk && h.disk.total_bytes ? h.disk.available_bytes / h.disk.total_bytes : null;
    var items = [
      el("span", { class: "sum-item " + (up < cams.length ? "bad" : "good"), id: "sum-cameras" },
        [t("sum.cameras", { up: up, total: cams.length })]),
      el("span", { class: "sum-item", id: "sum-events" }, [t("sum.events_today", { n: r.events_today == null ? "–" : r.events_today >= 200 ? "200+" : r.events_today })]),
      el("span", { class: "sum-item " + (ob && ob.events > 0 && !r.uplink.connected ? "warn" : ""), id: "sum-outbox" },
        [t("sum.outbox", { n: ob ? ob.events : 0 })]),
      el("span", { class: "sum-item", id: "sum-clock" }, [t("sum.clock") + " ", timeEl(r.time && r.time.now, false)]),
      el("span", { class: "sum-item " + (diskFree == null ? "" : diskFree < 0.05 ? "bad" : diskFree < 0.15 ? "warn" : ""), id: "sum-disk" },
        [t("sum.disk", { free: h.disk ? bytes(h.disk.available_bytes) : "–" })])
    ];
    var all = up === cams.length && (!diskFree || diskFree >= 0.05);
    var line = el("div", { class: "summary " + (all ? "good" : "bad"), id: "summary", role: "status" }, [
      el("strong", { text: all ? t("sum.all_fine") : t("sum.attention") })
    ].concat(items));
    var cw = clockWarning(h.clock);
    if (cw) line.appendChild(cw);
    // A box clock far from the phone's makes every time on the page wrong.
    if (r.time && r.time.now) {
      var skew = Math.abs(new Date(r.time.now).getTime() - Date.now()) / 1000;
      if (skew > 120) line.appendChild(el("div", { class: "warn skew", text: t("sum.clock_skew", { d: duration(skew) }) }));
    }
    return line;
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
        return t("dash.lost_item", { camera: l.camera, kind: t("kind." + l.kind), count: l.count });
      }).join("；");
      app.appendChild(el("div", { class: "banner error", role: "alert", id: "dash-events-lost",
        text: t("dash.events_lost", { n: ev.lost_total, detail: detail }) }));
    }
    if (ev.pending > 0 || !ev.outbox_open) {
      app.appendChild(el("div", { class: "banner error", role: "status", id: "dash-events-waiting",
        text: t("dash.events_waiting", { n: ev.pending, cap: ev.capacity, why: ev.outbox_error || "–" }) }));
    }
  }

  // One stream of a camera with two: its state, and why when it is not streaming.
  function streamState(x, which) {
    var st = { state: x.state };
    return el("span", { class: "stream-state", "data-stream": which }, [stateBadge(st),
      x.reason ? el("span", { class: "reason" }, [" ", reasonText(x.reason, x.message)]) : null]);
  }

  // What each stream's state means for the evidence and the analysis, said apart: a
  // dead main stream keeps analysis running (evidence from the substream's photos), a
  // dead substream stops analysis, streams that do not pair stop analysis too.
  function streamWarnings(sx) {
    var out = el("div", { class: "stream-warnings" });
    if (sx.main_stream_unavailable) {
      out.appendChild(el("div", { class: "warn main-stream-down", role: "status", text: t("dash.main_down") }));
    }
    if (sx.pairing) {
      out.appendChild(el("div", { class: "error stream-pairing", role: "alert", "data-code": sx.pairing.code },
        [t("dash.pairing_bad", { why: lang === "zh" ? sx.pairing.zh : sx.pairing.message }), details(sx.pairing.message)]));
    } else if (sx.analysis.state !== "streaming") {
      out.appendChild(el("div", { class: "error analysis-stream-down", role: "alert", text: t("dash.analysis_down") }));
    }
    return out.firstChild ? out : null;
  }

  // The box's clock: NTP-synchronised or not, and an offset still being corrected.
  // Evidence is only as good as its time, so an unsynchronised clock is a warning.
  var CLOCK_OFFSET_WARN_MS = 500;
  function clockState(clk) {
    if (!clk) return "–";
    var j = recentJump(clk);
    var jump = j ? "；" + jumpText(j) : "";
    if (!clk.synchronised) return el("span", { class: "clock-state", "data-synchronised": "false", text: t("dash.clock_unsynced") + jump });
    var ms = clk.offset_ms == null ? null : Math.round(clk.offset_ms);
    return el("span", { class: "clock-state", "data-synchronised": "true",
      text: (ms == null ? t("dash.clock_ok") : t("dash.clock_ok_offset", { ms: ms })) + jump });
  }
  // A clock jump found in the last day: events open across it carry `clock.jump`.
  var CLOCK_JUMP_SHOWN_MS = 24 * 3600 * 1000;
  function recentJump(clk) {
    var j = clk && clk.last_jump;
    if (!j || !j.at) return null;
    return Date.now() - new Date(j.at).getTime() < CLOCK_JUMP_SHOWN_MS ? j : null;
  }
  function jumpText(j) {
    var s = (j.seconds > 0 ? "+" : "") + (Math.round(j.seconds * 10) / 10);
    return t(j.kind === "system" ? "dash.clock_jump_system" : "dash.clock_jump_media",
      { s: s, at: SW.fmtTime(j.at), camera: j.camera });
  }
  function clockWarning(clk) {
    if (!clk) return null;
    var j = recentJump(clk);
    if (j) return el("div", { class: "warn clock-warning", id: "dash-clock-warning", "data-clock": "jump", role: "alert",
      text: jumpText(j) + (clk.synchronised ? "" : " " + t("dash.clock_unsynced")) });
    if (!clk.synchronised) return el("div", { class: "warn clock-warning", id: "dash-clock-warning", "data-clock": "unsynchronised", role: "alert", text: t("dash.clock_unsynced") });
    if (clk.offset_ms != null && Math.abs(clk.offset_ms) >= CLOCK_OFFSET_WARN_MS) {
      return el("div", { class: "warn clock-warning", id: "dash-clock-warning", "data-clock": "offset", role: "alert", text: t("dash.clock_offset", { ms: Math.round(clk.offset_ms) }) });
    }
    return null;
  }

  function cameraCard(c) {
    var stale = c.picture_age_s == null || c.picture_age_s > STALE_S || c.state !== "streaming";
    var picture;
    if (c.picture_age_s != null) {
      var img = el("img", {
        class: "dash-thumb", alt: t("dash.thumb_alt", { id: c.id }),
        src: "/api/cameras/" + encodeURIComponent(c.id) + "/snapshot.jpg?width=320&t=" + Date.now()
      });
      picture = el("div", { class: "dash-picture" + (stale ? " stale" : ""), "data-age": String(c.picture_age_s) }, [
        img, el("span", { class: "age", text: stale ? t("dash.picture_age", { age: duration(c.picture_age_s) }) : t("dash.picture_live") })
      ]);
    } else {
      picture = el("div", { class: "dash-picture" }, [el("div", { class: "dash-nopic", text: t("dash.no_picture") })]);
    }
    var pairs = [
      [t("dash.state"), stateBadge(c)],
      c.state === "streaming" ? [t("dash.stream"), t("dash.stream_value", { codec: c.codec, w: c.width, h: c.height, fps: num(c.fps, 1) })] : null,
      [t("dash.analysis"), analysisText(c)],
      rateWhy(c) ? [t("dash.rate_why"), rateWhy(c)] : null,
      [t("dash.gop"), gopText(c)],
      c.dropped ? [t("dash.dropped"), String(c.dropped), "warn"] : null,
      c.reconnects ? [t("dash.reconnects"), String(c.reconnects)] : null
    ];
    var sx = c.streams && c.streams.analysis ? c.streams : null;
    if (sx) {
      pairs.splice(1, 0,
        [t("dash.main_stream"), streamState(sx.main, "main"), sx.main_stream_unavailable ? "warn" : ""],
        [t("dash.analysis_stream"), streamState(sx.analysis, "analysis"), sx.analysis.state !== "streaming" ? "bad" : ""]);
    }
    return el("div", { class: "card cam-card", "data-camera": c.id, "data-state": c.state,
      "data-main-stream": sx ? sx.main.state : null, "data-analysis-stream": sx ? sx.analysis.state : null }, [
      el("div", { class: "cam" }, [cameraLabel(c), stateBadge(c)]),
      sx ? streamWarnings(sx) || cameraReason(c) : cameraReason(c),
      c.analysis_warning ? rateWarning(c) : null,
      el("div", { class: "dash-body" }, [picture, kv(pairs)]),
      rateNotes(c),
      prerollWarning(c)
    ]);
  }

  function dashboard() {
    api("GET", "/api/status").then(function (r) {
      if (r.status !== 200 || view !== "dashboard") return;
      SW.status = r.body;
      if (r.body.time) clock = { timezone: r.body.time.timezone, offset: r.body.time.offset };
      // Keep the scroll position and the opened "details" across the 5 s refresh.
      var y = window.scrollY;
      var opened = Array.prototype.map.call(app.querySelectorAll("details"), function (d) { return d.open; });
      clear(app);
      app.appendChild(el("h1", { text: t("dash.title") }));
      eventsBanner(r.body.events);
      app.appendChild(summaryLine(r.body));
      if (!r.body.cameras.length) app.appendChild(el("p", { class: "card", text: t("dash.none") }));
      var grid = el("div", { class: "cam-grid" });
      r.body.cameras.forEach(function (c) { grid.appendChild(cameraCard(c)); });
      app.appendChild(grid);
      var h = r.body.health, cpu = h.cpu, up = r.body.uplink, ob = r.body.outbox;
      var memUsed = h.memory ? 100 * (1 - h.memory.available_bytes / h.memory.total_bytes) : null;
      var diskUsed = h.disk ? 100 * (1 - h.disk.available_bytes / h.disk.total_bytes) : null;
      var cpuLevel = level(cpu ? cpu.usage_percent : null, 85, 95);
      app.appendChild(el("h2", { text: t("dash.health") }));
      app.appendChild(el("div", { class: "card", id: "dash-health" }, [kv([
        [t("dash.device"), el("code", { class: "id", text: r.body.device.id })],
        [t("dash.cpu"), cpu ? t("dash.cpu_value", {
          usage: cpu.usage_percent == null ? "–" : Math.round(cpu.usage_percent) + "%",
          load: cpu.load.map(function (l) { return l.toFixed(2); }).join(" / "),
          cores: cpu.cores
        }) : "–", cpuLevel],
        [t("dash.memory"), h.memory ? t("dash.free_of", { free: bytes(h.memory.available_bytes), total: bytes(h.memory.total_bytes) }) : "–", level(memUsed, 85, 95)],
        [t("dash.disk"), h.disk ? t("dash.free_of", { free: bytes(h.disk.available_bytes), total: bytes(h.disk.total_bytes) }) : "–", level(diskUsed, 85, 95)],
        [t("dash.temperature"), h.temperature_c == null ? t("dash.no_sensor") : h.temperature_c.toFixed(1) + " °C", level(h.temperature_c, 75, 85)],
        [t("dash.clock"), clockState(h.clock), h.clock && !h.clock.synchronised ? "warn" : ""],
        [t("dash.uptime"), duration(h.uptime_s)],
        [t("dash.firmware"), el("code", { text: h.firmware })],
        [t("dash.models"), h.models && h.models.length ? el("span", {}, h.models.map(function (m) { return el("code", { class: "id", text: m.id + " " + m.version + " " }); })) : "–"],
        [t("dash.kernel"), el("code", { text: h.kernel })]
      ])]));
      app.appendChild(el("h2", { text: t("dash.uplink") }));
      var upState = !up.available ? "unavailable" : up.connected ? "connected" : "disconnected";
      var upPairs = [];
      if (up.last_error) upPairs.push([t("dash.last_error"), el("span", {}, [t("uplinkerr." + (up.last_error_code || "error")), details(up.last_error)])]);
      if (up.delivered != null) upPairs.push([t("dash.delivered"), String(up.delivered)]);
      if (ob) upPairs.push([t("dash.outbox"), t("dash.outbox_value", { events: ob.events, bytes: bytes(ob.bytes) })],
        [t("dash.outbox_oldest"), ob.events ? duration(ob.oldest_age_s) : "–"]);
      // The HTTP push sink ([uplink.http]), when configured: its own state and counts.
      var hs = up.http;
      if (hs) upPairs.push([t("dash.http"), el("span", { id: "dash-http", "data-reachable": String(!!hs.reachable), "data-refused": String(hs.outbox ? hs.outbox.refused : 0) }, [
        t(hs.reachable ? "dash.http_ok" : "dash.http_down") + " · " + t("dash.http_counts", {
          delivered: hs.outbox ? hs.outbox.delivered_total : 0, pending: hs.outbox ? hs.outbox.pending : 0, refused: hs.outbox ? hs.outbox.refused : 0 }),
        details(hs.last_refusal || hs.last_error)])]);
      app.appendChild(el("div", { class: "card", id: "dash-uplink", "data-state": upState }, [
        el("div", { class: "cam" }, [
          el("span", { class: "name", text: t("dash.uplink") }),
          el("span", { class: "state " + (up.connected ? "streaming" : "backoff"), text: t("dash.uplink_" + upState) })
        ]),
        upPairs.length ? kv(upPairs) : null
      ]));
      if (SW.extensions.dashboard) extend("dashboard", app);
      app.querySelectorAll("details").forEach(function (d, i) { if (opened[i]) d.open = true; });
      window.scrollTo(0, y);
    });
  }

  // ---- cameras ------------------------------------------------------------------

  // Notices of the last camera save, shown once above the camera list.
  var cameraNotices = null;
  // The list (not a camera's form) is on screen: it refreshes its states.
  var cameraList = false;

  function cameras() {
    cameraList = true;
    Promise.all([api("GET", "/api/cameras"), api("GET", "/api/status")]).then(function (rs) {
      var r = rs[0];
      if (r.status !== 200 || view !== "cameras" || !cameraList) return;
      var y = window.scrollY;
      var states = {};
      if (rs[1].status === 200) { SW.status = rs[1].body; rs[1].body.cameras.forEach(function (c) { states[c.id] = c; }); }
      clear(app);
      app.appendChild(el("h1", { text: t("cams.title") }));
      var shown = noticeBanner(cameraNotices);
      cameraNotices = null;
      if (shown) app.appendChild(shown);
      app.appendChild(el("div", { class: "row" }, [
        el("button", { class: "primary", id: "camera-add", text: t("cams.add"), onclick: function () { cameraForm(null); } }),
        // Opens the add form and searches at once (discover.js).
        el("button", { id: "camera-discover", class: "secondary", text: t("cams.discover"), onclick: function () { cameraForm(null, { discover: true }); } })
      ]));
      if (!r.body.cameras.length) app.appendChild(el("p", { class: "card hint", text: t("cams.none") }));
      r.body.cameras.forEach(function (c) {
        var s = states[c.id] || { state: c.enabled ? "stopped" : "disabled" };
        var result = resultBox();
        var badge = el("span", { class: "badge-slot" });
        var status = el("div", { class: "status-slot" });
        fillCameraState(badge, status, s);
        app.appendChild(el("div", { class: "card", "data-camera": c.id }, [
          el("div", { class: "cam" }, [cameraLabel(c), badge]),
          status,
          el("div", { class: "hint" }, [el("code", { class: "url", text: c.url }),
            c.analysis_url ? " · " + t("cams.analysis_set") + " " : null, c.analysis_url ? el("code", { class: "analysis-url", text: c.analysis_url }) : null, c.username ? " · " + t("cams.user_set") : null, c.password_set ? " · " + t("cams.password_set") : null]),
          el("div", { class: "row" }, [
            el("button", { class: "secondary", text: t("cams.edit"), onclick: function () { cameraForm(c); } }),
            el("button", { class: "danger", text: t("cams.remove"), onclick: function (ev) {
              var b = ev.currentTarget;
              ask(t("cams.confirm_remove", { id: c.id }), t("cams.remove"), t("common.cancel"), true).then(function (yes) {
                if (!yes) return;
                busy(b, result, t("common.working"), function () { return api("DELETE", "/api/cameras/" + encodeURIComponent(c.id)); })
                  .then(function (d) { if (d.status === 200) cameras(); else showProblems(b.closest(".card"), d, result); });
              });
            } })
          ]),
          result
        ]));
      });
      window.scrollTo(0, y);
    });
  }

  // A camera card's state, reason, GOP and warning (refreshed in place: the card and
  // its buttons stay where the finger is).
  function fillCameraState(badge, status, s) {
    clear(badge);
    clear(status);
    badge.appendChild(stateBadge(s));
    [cameraReason(s),
      s.state === "streaming" ? kv([[t("dash.gop"), gopText(s)], [t("dash.analysis"), analysisText(s)]]) : null,
      prerollWarning(s)].forEach(function (n) { if (n) status.appendChild(n); });
  }

  function refreshCameraStates() {
    api("GET", "/api/status").then(function (r) {
      if (r.status !== 200 || view !== "cameras" || !cameraList) return;
      SW.status = r.body;
      r.body.cameras.forEach(function (s) {
        var card = app.querySelector('.card[data-camera="' + CSS.escape(s.id) + '"]');
        if (card) fillCameraState(card.querySelector(".badge-slot"), card.querySelector(".status-slot"), s);
      });
    });
  }

  // One stream's line of a connection test: codec, size, rate and GOP, or why not.
  function streamLine(id, which, x) {
    if (x.ok || x.codec) {
      return el("div", { class: "banner ok", role: "status", id: id, "data-stream": which }, [t("cams.test_stream_ok", {
        stream: t("cams.stream_" + which), codec: x.codec, width: x.width, height: x.height, fps: num(x.fps, 1),
        gop: x.gop_frames != null ? t("dash.gop_value", { frames: x.gop_frames, s: seconds1(x.gop_seconds) }) : t("dash.gop_unknown")
      })]);
    }
    return el("div", { class: "banner error", role: "alert", id: id, "data-stream": which, "data-code": x.reason || "" }, [
      tn("cams.test_stream_fail", { stream: t("cams.stream_" + which), message: reasonText(x.reason, x.message) }), details(x.message)
    ]);
  }

  // A camera with a substream: both streams' results, then whether they pair (the
  // box's own Chinese reason when they do not), then the main stream's picture.
  function testStreams(box, x) {
    var main = Object.assign({}, x);
    // The answer's top level is the main stream's; its ok/reason also sum up the pair.
    if (x.codec) main.ok = true;
    else if (x.reason === "stream_pairing" || /^analysis stream:/.test(x.message || "")) main = { ok: true };
    box.appendChild(streamLine("camera-test-main", "main", main));
    box.appendChild(streamLine("camera-test-analysis", "analysis", x.analysis));
    var p = x.pairing;
    if (p && p.ok) box.appendChild(el("div", { class: "banner ok", role: "status", id: "camera-test-pairing", "data-code": "" }, [t("cams.pairing_ok")]));
    else if (p) {
      box.appendChild(el("div", { class: "banner error", role: "alert", id: "camera-test-pairing", "data-code": "stream_pairing" }, [
        t("cams.pairing_fail", { why: lang === "zh" ? p.zh : p.message }), details(p.message)
      ]));
    }
    if (x.snapshot) box.appendChild(el("img", { class: "camera-test-snapshot", src: x.snapshot, alt: t("cams.snapshot") }));
  }

  function cameraForm(cam, opts) {
    cameraList = false;
    clear(app);
    var form = el("form", { class: "card", id: "camera-form", novalidate: true });
    clearOnInput(form);
    app.appendChild(el("h1", { text: cam ? t("cams.edit_title", { id: cam.id }) : t("cams.add") }));
    // `v`-mode patterns (current Chromium): a literal "-" in a class must be escaped.
    field("cams.id", "id", { required: true, value: cam ? cam.id : "", disabled: !!cam, pattern: "[A-Za-z0-9_\\-]{1,64}", autocapitalize: "off" }).forEach(form.appendChild, form);
    field("cams.name", "name", { value: cam ? cam.name || "" : "" }).forEach(form.appendChild, form);
    field("cams.url", "url", { required: true, value: cam ? cam.url : "rtsp://", inputmode: "url", autocapitalize: "off", spellcheck: "false" }).forEach(form.appendChild, form);
    form.appendChild(el("p", { class: "hint", text: t("cams.url_hint") }));
    // The substream analysis decodes; the main stream above feeds evidence.
    field("cams.analysis_url", "analysis_url", { value: cam && cam.analysis_url ? cam.analysis_url : "", inputmode: "url", autocapitalize: "off", spellcheck: "false", placeholder: "rtsp://" }).forEach(form.appendChild, form);
    form.appendChild(el("p", { class: "hint", id: "analysis-url-hint", text: t("cams.analysis_url_hint") }));
    field("cams.username", "username", { value: cam && cam.username ? cam.username : "", autocomplete: "off", autocapitalize: "off" }).forEach(form.appendChild, form);
    field("cams.password", "password", { type: "password", autocomplete: "new-password", placeholder: cam && cam.password_set ? t("cams.password_keep") : "" }).forEach(form.appendChild, form);
    var transport = el("select", { name: "transport", id: "f-transport", "data-field": "transport" }, ["tcp", "udp", "auto"].map(function (v) {
      return el("option", { value: v, text: t("cams.transport_" + v), selected: cam ? cam.transport === v : v === "tcp" });
    }));
    form.appendChild(el("label", { for: "f-transport", text: t("cams.transport") }));
    form.appendChild(transport);
    var enabled = el("input", { type: "checkbox", name: "enabled", id: "f-enabled", "data-field": "enabled", checked: cam ? cam.enabled : true });
    form.appendChild(el("label", { for: "f-enabled", class: "check" }, [enabled, " " + t("cams.enabled")]));
    var testBtn = el("button", { class: "secondary", type: "button", id: "camera-test", text: t("cams.test") });
    var saveBtn = el("button", { class: "primary", type: "submit", id: "camera-save", text: t("cams.save") });
    var testResult = resultBox("camera-test-result");
    var saveResult = resultBox("camera-save-result");
    form.appendChild(el("div", { class: "row" }, [testBtn]));
    form.appendChild(testResult);
    form.appendChild(el("div", { class: "row" }, [
      saveBtn,
      el("button", { class: "secondary", type: "button", text: t("common.cancel"), onclick: function () { go("cameras"); } })
    ]));
    form.appendChild(saveResult);

    // Fields the edit sends; a camera's other settings (analysis, pre-roll) are kept.
    function body() {
      var b = Object.assign({}, cam || {});
      delete b.password_set;
      b.id = cam ? cam.id : form.id.value.trim();
      b.name = form.name.value.trim();
      b.url = form.url.value.trim();
      var sub = form.analysis_url.value.trim();
      if (sub && sub !== "rtsp://") b.analysis_url = sub; else delete b.analysis_url;
      b.username = form.username.value.trim() || null;
      b.transport = transport.value;
      b.enabled = enabled.checked;
      if (form.password.value) b.password = form.password.value; else delete b.password;
      return b;
    }

    // The browser's own check of the id, worded like the box's.
    function idProblem() {
      if (cam) return null;
      var id = form.id.value.trim();
      if (!id) return { path: "id", code: "value_missing" };
      if (!form.id.checkValidity()) return { path: "id", code: "camera_id_invalid", params: { value: id } };
      return null;
    }

    testBtn.addEventListener("click", function () {
      var b = body();
      var req = { url: b.url, transport: b.transport };
      if (b.analysis_url) req.analysis_url = b.analysis_url;
      if (b.username) req.username = b.username;
      if (b.password) req.password = b.password;
      if (cam) req.camera_id = cam.id;
      clearErrors(form);
      clear(saveResult);
      busy(testBtn, testResult, t("cams.testing"), function () { return api("POST", "/api/cameras/test", req); }).then(function (r) {
        if (r.status !== 200) return showProblems(form, r, testResult);
        var x = r.body;
        clear(testResult);
        testResult.setAttribute("data-state", x.ok ? "ok" : "error");
        if (x.analysis) {
          testStreams(testResult, x);
        } else if (x.ok) {
          testResult.appendChild(el("div", { class: "banner ok", role: "status", text: t("cams.test_ok", {
            codec: x.codec, width: x.width, height: x.height, fps: num(x.fps, 1),
            gop: x.gop_frames != null ? t("dash.gop_value", { frames: x.gop_frames, s: seconds1(x.gop_seconds) }) : t("dash.gop_unknown")
          }) }));
          if (x.snapshot) testResult.appendChild(el("img", { class: "camera-test-snapshot", src: x.snapshot, alt: t("cams.snapshot") }));
        } else {
          testResult.appendChild(el("div", { class: "banner error", role: "alert", "data-code": x.reason }, [
            tn("cams.test_fail", { message: reasonText(x.reason, x.message) }), details(x.message)
          ]));
        }
        reveal(testResult.firstChild);
      });
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      clear(testResult);
      var p = idProblem();
      if (p) return showProblems(form, { body: { problems: [p] } }, saveResult);
      var b = body();
      busy(saveBtn, saveResult, t("common.saving"), function () {
        return cam ? api("PUT", "/api/cameras/" + encodeURIComponent(cam.id), b) : api("POST", "/api/cameras", b);
      }).then(function (r) {
        if (r.status === 200 || r.status === 201) { cameraNotices = r.body && r.body.notices; go("cameras"); } else showProblems(form, r, saveResult);
      });
    });
    if (SW.cameraForm) SW.cameraForm(form, { cam: cam, before: testBtn.parentNode, discover: !!(opts && opts.discover) });
    app.appendChild(form);
  }

  // Pages that live in their own files (zones.js, live.js, …) register themselves as
  // SW.pages[view] = function () { … } and use these helpers; go() calls them.
  var SW = window.SW = window.SW || { pages: {} };
  SW.pages = SW.pages || {};
  SW.app = app;
  SW.t = t;
  SW.tn = tn;
  SW.has = has;
  SW.api = api;
  SW.call = call;
  SW.el = el;
  SW.clear = clear;
  SW.showProblems = showProblems;
  SW.clearErrors = clearErrors;
  SW.clearOnInput = clearOnInput;
  SW.noticeBanner = noticeBanner;
  SW.reasonText = reasonText;
  SW.problemText = problemText;
  SW.errorText = errorText;
  SW.details = details;
  SW.busy = busy;
  SW.ok = ok;
  SW.reveal = reveal;
  SW.resultBox = resultBox;
  SW.ask = ask;
  SW.fmtTime = fmtTime;
  SW.timeEl = timeEl;
  SW.boxDate = boxDate;
  SW.boxLocalToIso = boxLocalToIso;
  SW.duration = duration;
  SW.bytes = bytes;
  SW.num = num;
  SW.cameraLabel = cameraLabel;
  SW.view = function () { return view; };
  SW.clock = function () { return clock; };
  // The camera last chosen on any page, so Zones and Live open on the same one.
  SW.camera = null;
  SW.lang = function () { return lang; };
  SW.loggedIn = function () { return csrf !== null; };
  SW.field = field;
  SW.kv = kv;
  SW.go = function (v) { go(v); };
  // Cards another script adds to a page drawn here: SW.extensions.device = [render(node)].
  SW.extensions = SW.extensions || {};
  function extend(name, node) {
    (SW.extensions[name] || []).forEach(function (render) { render(node); });
  }

  // Show view `v`; a page with unsaved work asks first.
  function go(v) {
    var msg = SW.unsaved && SW.unsaved();
    if (msg && v !== view) {
      ask(msg, t("common.leave"), t("common.stay"), true).then(function (leave) {
        if (leave) { SW.unsaved = null; go(v); } else setNav(true);
      });
      return;
    }
    if (v !== view) SW.unsaved = null;
    view = v;
    setNav(true);
    window.scrollTo(0, 0);
    if (SW.pages[v]) SW.pages[v]();
    else if (v === "cameras") cameras(); else dashboard();
  }

  document.querySelectorAll("nav button").forEach(function (b) {
    b.addEventListener("click", function () { go(b.getAttribute("data-view")); });
  });
  // A phone turned (or a window resized): the current page's menu entry stays in sight.
  window.addEventListener("resize", function () {
    var a = document.querySelector("nav button.active");
    if (a && csrf) a.scrollIntoView({ block: "nearest", inline: "nearest" });
  });
  document.getElementById("lang").addEventListener("click", function () {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("sw.lang", lang);
    translateStatic();
    if (csrf) { var v = view; view = ""; SW.unsaved = null; go(v); } else api("GET", "/api/session");
  });
  document.getElementById("logout").addEventListener("click", function () {
    api("POST", "/api/logout").then(function () { csrf = null; showAuth(false); });
  });
  // Refresh the dashboard and the camera list every 5 s while they are shown (not
  // while a question is open, or a camera's result is being read).
  setInterval(function () {
    if (!csrf || document.hidden || document.getElementById("ask")) return;
    if (view === "dashboard") dashboard();
    else if (view === "cameras" && cameraList) refreshCameraStates();
  }, 5000);

  translateStatic();
  api("GET", "/api/session").then(function (r) {
    if (r.status === 200) { startSession(r.body); go("dashboard"); }
  });
})();
