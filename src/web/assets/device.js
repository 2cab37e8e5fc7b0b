// The Device page, in tabs: Device (identity, public key, models), Uplink (broker
// settings, TLS uploads, Test connection), Password, Config (export, import with a
// preview) and Audit (who changed what, readable).
"use strict";
(function () {
  var SW = window.SW, el = SW.el, t = SW.t, clear = SW.clear;
  var TLS_FILES = ["ca", "client_cert", "client_key"];
  var TABS = ["device", "uplink", "password", "config", "audit"];
  var tab = "device";

  function input(form, name) { return form.querySelector('[name="' + name + '"]'); }

  function add(form, key, name, attrs) { SW.field(key, name, attrs).forEach(form.appendChild, form); }

  // A file chooser worded in the page's language (the browser's own button is in the
  // browser's language): a label styled as a button, and the chosen file's name.
  function filePicker(attrs) {
    var input = el("input", Object.assign({ type: "file", class: "file-input" }, attrs));
    var name = el("span", { class: "hint file-name", text: t("common.no_file") });
    input.addEventListener("change", function () {
      clear(name);
      if (input.files[0]) name.appendChild(el("code", { text: input.files[0].name }));
      else name.textContent = t("common.no_file");
    });
    var node = el("div", { class: "file-pick" }, [
      input, el("label", { for: attrs.id, class: "button secondary file-button", text: t("common.choose_file") }), name
    ]);
    return { input: input, node: node };
  }

  // ---- Device -------------------------------------------------------------------

  function deviceTab(pane) {
    SW.api("GET", "/api/device").then(function (r) {
      if (r.status !== 200 || tab !== "device") return;
      var d = r.body;
      var form = el("form", { id: "device-form", class: "card", novalidate: true }, [el("h2", { text: t("devx.identity") })]);
      SW.clearOnInput(form);
      add(form, "devx.id", "id", { required: true, value: d.id, pattern: "[A-Za-z0-9_\\-]{1,64}", autocapitalize: "off" });
      add(form, "devx.division", "division_code", { value: d.division_code || "", inputmode: "numeric", pattern: "[0-9]{6}" });
      add(form, "devx.timezone", "timezone", { required: true, value: d.timezone, placeholder: "Asia/Shanghai", autocapitalize: "off" });
      add(form, "devx.location", "location", { value: d.location || "" });
      var save = el("button", { class: "primary", type: "submit", id: "device-save", text: t("devx.save") });
      var result = SW.resultBox("device-result");
      form.appendChild(el("div", { class: "row" }, [save]));
      form.appendChild(result);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        SW.clearErrors(form);
        SW.busy(save, result, t("common.saving"), function () {
          return SW.api("PUT", "/api/device", {
            id: input(form, "id").value.trim(),
            division_code: input(form, "division_code").value.trim() || null,
            timezone: input(form, "timezone").value.trim(),
            location: input(form, "location").value.trim()
          });
        }).then(function (r) {
          if (r.status !== 200) return SW.showProblems(form, r, result);
          SW.ok(result, t("devx.saved"));
        });
      });
      var key = el("div", { class: "card" }, [
        el("h2", { text: t("devx.pubkey") }),
        el("code", { id: "device-pubkey", class: "key", text: d.public_key || "" }),
        d.public_key ? null : el("p", { class: "hint", text: t("devx.no_key") }),
        d.key_id ? el("div", { class: "hint" }, [t("devx.key_id") + " ", el("code", { text: d.key_id })]) : null
      ]);
      var body = el("tbody");
      d.models.forEach(function (m) {
        body.appendChild(el("tr", { class: "model-row", "data-model-id": m.id }, [
          el("td", {}, [el("code", { class: "id", text: m.id })]), el("td", {}, [el("code", { text: m.version })]),
          el("td", { class: "sha" }, [el("code", { text: m.sha256 })]),
          el("td", {}, [el("code", { text: m.execution_providers.join(", ") || "–" })])
        ]));
      });
      var models = el("div", { class: "card" }, [
        el("h2", { text: t("devx.models") }),
        el("div", { class: "scroll" }, [el("table", { id: "models-table" }, [
          el("thead", {}, [el("tr", {}, ["devx.model_id", "devx.model_version", "devx.model_sha", "devx.model_ep"].map(function (k) {
            return el("th", { text: t(k) });
          }))]),
          body
        ])]),
        d.models.length ? null : el("p", { class: "hint", text: t("devx.no_models") })
      ]);
      [form, key, models].forEach(function (n) { pane.appendChild(n); });
    });
  }

  // ---- Uplink -------------------------------------------------------------------

  function uplinkTab(pane) {
    SW.api("GET", "/api/uplink").then(function (r) {
      if (r.status !== 200 || tab !== "uplink") return;
      var u = r.body;
      var form = el("form", { id: "uplink-form", class: "card", novalidate: true }, [
        el("h2", { text: t("uplink.title") }), el("p", { id: "uplink-sinks", class: "hint" })
      ]);
      showSinks(form, u.sinks);
      form.appendChild(el("h3", { text: t("uplink.mqtt") }));
      SW.clearOnInput(form);
      add(form, "uplink.broker", "broker", { value: u.broker, placeholder: "mqtts://broker.example:8883", inputmode: "url", autocapitalize: "off", spellcheck: "false" });
      add(form, "uplink.port", "port", { type: "number", min: 1, max: 65535, value: u.port == null ? "" : u.port });
      add(form, "uplink.client_id", "client_id", { value: u.client_id || "", placeholder: t("uplink.client_id_default"), autocapitalize: "off" });
      add(form, "uplink.username", "username", { value: u.username || "", autocomplete: "off", autocapitalize: "off" });
      add(form, "uplink.password", "password", { type: "password", autocomplete: "new-password", placeholder: u.password_set ? t("uplink.password_set") : "" });
      var tlsResult = SW.resultBox("uplink-tls-result");
      form.appendChild(el("h3", { text: t("uplink.tls") }));
      TLS_FILES.forEach(function (f) {
        var status = el("span", { class: "hint", id: "uplink-tls-" + f + "-state", text: u.tls[f] ? t("uplink.file_set") : t("uplink.file_unset") });
        var picker = filePicker({ id: "uplink-tls-" + f, name: f, "data-field": f, accept: ".pem,.crt,.key,application/x-pem-file" });
        var file = picker.input;
        form.appendChild(el("div", { class: "label" }, [t("uplink.tls." + f) + " ", status]));
        form.appendChild(picker.node);
        file.addEventListener("change", function () {
          var chosen = file.files[0];
          if (!chosen) return;
          SW.clearErrors(form);
          chosen.text().then(function (text) {
            SW.busy(file, tlsResult, t("uplink.uploading"), function () {
              return SW.call("POST", "/api/uplink/tls/" + f, text, "application/x-pem-file");
            }).then(function (r) {
              file.value = "";
              if (r.status !== 200) return SW.showProblems(form, r, tlsResult);
              showTls(r.body.tls);
              SW.ok(tlsResult, t("uplink.uploaded"));
              var n = SW.noticeBanner(r.body.notices);
              if (n) tlsResult.appendChild(n);
            });
          });
        });
      });
      function showTls(tls) {
        TLS_FILES.forEach(function (g) {
          document.getElementById("uplink-tls-" + g + "-state").textContent = tls[g] ? t("uplink.file_set") : t("uplink.file_unset");
        });
      }
      var remove = el("button", { id: "uplink-tls-remove", class: "danger", type: "button", text: t("uplink.tls_remove") });
      form.appendChild(el("div", { class: "row" }, [remove]));
      form.appendChild(tlsResult);
      remove.addEventListener("click", function () {
        SW.ask(t("uplink.confirm_tls_remove"), t("uplink.tls_remove"), t("common.cancel"), true).then(function (yes) {
          if (!yes) return;
          SW.clearErrors(form);
          SW.busy(remove, tlsResult, t("common.saving"), function () { return SW.api("DELETE", "/api/uplink/tls"); }).then(function (r) {
            if (r.status !== 200) return SW.showProblems(form, r, tlsResult);
            showTls(r.body.tls);
            SW.ok(tlsResult, t("uplink.tls_removed"));
          });
        });
      });
      var http = httpSection(form, u);
      var testBtn = el("button", { id: "uplink-test", class: "secondary", type: "button", text: t("uplink.test") });
      var saveBtn = el("button", { id: "uplink-save", class: "primary", type: "submit", text: t("uplink.save") });
      var result = SW.resultBox("uplink-test-result");
      form.appendChild(el("div", { class: "row" }, [saveBtn, testBtn]));
      form.appendChild(result);

      // The password is sent only when typed: empty keeps the stored one.
      function mqttBody() {
        var b = {
          broker: input(form, "broker").value.trim(),
          port: input(form, "port").value ? Number(input(form, "port").value) : null,
          client_id: input(form, "client_id").value.trim() || null,
          username: input(form, "username").value.trim() || null
        };
        if (input(form, "password").value) b.password = input(form, "password").value;
        return b;
      }
      function body() {
        var b = mqttBody();
        b.http = http.body();
        return b;
      }

      testBtn.addEventListener("click", function () {
        SW.clearErrors(form);
        SW.busy(testBtn, result, t("uplink.testing"), function () { return SW.api("POST", "/api/uplink/test", mqttBody()); }).then(function (r) {
          if (r.status !== 200) return SW.showProblems(form, r, result);
          if (r.body.ok) return SW.ok(result, t("uplink.test_ok"));
          clear(result);
          result.setAttribute("data-state", "error");
          result.appendChild(el("div", { class: "banner error", role: "alert", "data-code": r.body.reason }, [
            t("uplink.reason." + r.body.reason), SW.details(r.body.message)
          ]));
          SW.reveal(result);
        });
      });
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        SW.clearErrors(form);
        SW.busy(saveBtn, result, t("common.saving"), function () { return SW.api("PUT", "/api/uplink", body()); }).then(function (r) {
          if (r.status !== 200) return SW.showProblems(form, r, result);
          input(form, "password").value = "";
          input(form, "password").placeholder = r.body.password_set ? t("uplink.password_set") : "";
          http.saved(r.body);
          SW.ok(result, t("uplink.saved"));
          var n = SW.noticeBanner(r.body.notices);
          if (n) result.appendChild(n);
        });
      });
      pane.appendChild(form);
    });
  }

  // Which sinks deliver: MQTT, HTTP push, both or none (events wait in the outbox).
  function showSinks(form, sinks) {
    var p = form.querySelector("#uplink-sinks");
    var which = sinks.mqtt && sinks.http ? "both" : sinks.mqtt ? "mqtt" : sinks.http ? "http" : "none";
    p.setAttribute("data-sinks", which);
    p.textContent = t("uplink.sinks." + which);
  }

  // The HTTP push sink ([uplink.http]) inside the uplink form: on/off, its addresses,
  // write-only secrets (kept when left empty, cleared by the box when the address's
  // host changes), timeouts and its own TLS files (uploaded; the box picks the path).
  // Returns { body(): what PUT /api/uplink sends as `http`, saved(view) }.
  function httpSection(form, u) {
    var h = u.http || {};
    var on = el("input", { type: "checkbox", id: "f-http-on", checked: !!u.http });
    var fields = el("div", { id: "http-fields" });
    form.appendChild(el("h3", { text: t("uplink.http") }));
    form.appendChild(el("p", { class: "hint", text: t("uplink.http_hint") }));
    form.appendChild(el("label", { for: "f-http-on", class: "check" }, [on, " " + t("uplink.http_on")]));
    form.appendChild(fields);
    function f(key, name, field, attrs) {
      SW.field(key, name, Object.assign({ "data-field": field, autocapitalize: "off", spellcheck: "false" }, attrs)).forEach(fields.appendChild, fields);
    }
    var auth = el("p", { class: "hint", id: "http-auth" });
    fields.appendChild(auth);
    f("uplink.http_url", "http_url", "http.url", { value: h.url || "", placeholder: "http(s)://…", inputmode: "url" });
    f("uplink.http_media_url", "http_media_url", "http.media_url", { value: h.media_url || "", inputmode: "url" });
    f("uplink.http_put_template", "http_media_put_template", "http.media_put_template", { value: h.media_put_template || "", placeholder: "http(s)://…/{event_id}/{name}", inputmode: "url" });
    fields.appendChild(el("label", { for: "f-http_media_order", text: t("uplink.http_media_order") }));
    fields.appendChild(el("select", { name: "http_media_order", id: "f-http_media_order", "data-field": "http.media_order" }, ["upload_first", "event_first"].map(function (v) {
      return el("option", { value: v, text: t("uplink.http_order." + v), selected: (h.media_order || "upload_first") === v });
    })));
    var clears = {};
    [["hmac_secret", "uplink.http_hmac"], ["bearer_token", "uplink.http_bearer"]].forEach(function (x) {
      f(x[1], "http_" + x[0], "http." + x[0], { type: "password", autocomplete: "new-password" });
      var c = el("input", { type: "checkbox", id: "f-http_" + x[0] + "_clear" });
      clears[x[0]] = c;
      fields.appendChild(el("label", { for: c.id, class: "check", id: "http-" + x[0] + "-clear" }, [c, " " + t("uplink.http_clear." + x[0])]));
    });
    fields.appendChild(el("p", { class: "hint", text: t("uplink.http_secret_host") }));
    [["connect_timeout_s", 10], ["timeout_s", 60], ["backoff_max_s", 60]].forEach(function (x) {
      f("uplink.http_" + x[0], "http_" + x[0], "http." + x[0], { type: "number", min: 1, max: 3600, inputmode: "numeric", value: h[x[0]] == null ? x[1] : h[x[0]] });
    });
    // A real request to the push URL (HEAD, nothing posted) with these settings.
    var testBtn = el("button", { id: "http-test", class: "secondary", type: "button", text: t("uplink.test") });
    var testResult = SW.resultBox("http-test-result");
    fields.appendChild(el("div", { class: "row" }, [testBtn]));
    fields.appendChild(testResult);
    testBtn.addEventListener("click", function () {
      SW.clearErrors(form);
      SW.busy(testBtn, testResult, t("uplink.http_testing"), function () { return SW.api("POST", "/api/uplink/http/test", api.body()); }).then(function (r) {
        if (r.status !== 200) return SW.showProblems(form, r, testResult);
        if (r.body.ok) return SW.ok(testResult, t("uplink.http_test_ok", { status: r.body.status }));
        clear(testResult);
        testResult.setAttribute("data-state", "error");
        testResult.appendChild(el("div", { class: "banner error", role: "alert", "data-code": r.body.reason }, [
          t("uplink.reason." + r.body.reason), SW.details(r.body.message)
        ]));
        SW.reveal(testResult);
      });
    });
    // Its own TLS files: only once the sink is saved (the box stores them with it).
    var tlsResult = SW.resultBox("http-tls-result");
    fields.appendChild(el("h4", { text: t("uplink.http_tls") }));
    fields.appendChild(el("p", { class: "hint", text: t("uplink.http_tls_hint") }));
    TLS_FILES.forEach(function (k) {
      var status = el("span", { class: "hint", id: "http-tls-" + k + "-state" });
      var picker = filePicker({ id: "http-tls-" + k, name: "http_tls_" + k, "data-field": "http.tls." + k, accept: ".pem,.crt,.key,application/x-pem-file" });
      var file = picker.input;
      fields.appendChild(el("div", { class: "label" }, [t("uplink.tls." + k) + " ", status]));
      fields.appendChild(picker.node);
      file.addEventListener("change", function () {
        var chosen = file.files[0];
        if (!chosen) return;
        SW.clearErrors(form);
        chosen.text().then(function (text) {
          SW.busy(file, tlsResult, t("uplink.uploading"), function () {
            return SW.call("POST", "/api/uplink/tls/" + k + "?sink=http", text, "application/x-pem-file");
          }).then(function (r) {
            file.value = "";
            if (r.status !== 200) return SW.showProblems(form, r, tlsResult);
            show(r.body);
            SW.ok(tlsResult, t("uplink.uploaded"));
            var n = SW.noticeBanner(r.body.notices);
            if (n) tlsResult.appendChild(n);
          });
        });
      });
    });
    var remove = el("button", { id: "http-tls-remove", class: "danger", type: "button", text: t("uplink.tls_remove") });
    fields.appendChild(el("div", { class: "row" }, [remove]));
    fields.appendChild(tlsResult);
    remove.addEventListener("click", function () {
      SW.ask(t("uplink.confirm_tls_remove"), t("uplink.tls_remove"), t("common.cancel"), true).then(function (yes) {
        if (!yes) return;
        SW.clearErrors(form);
        SW.busy(remove, tlsResult, t("common.saving"), function () { return SW.api("DELETE", "/api/uplink/tls?sink=http"); }).then(function (r) {
          if (r.status !== 200) return SW.showProblems(form, r, tlsResult);
          show(r.body);
          SW.ok(tlsResult, t("uplink.tls_removed"));
        });
      });
    });

    // What the saved sink has: secrets set, TLS files, the auth in use (the form may
    // not be in the document yet: looked up inside it).
    function show(view) {
      var s = view.http || {};
      ["hmac_secret", "bearer_token"].forEach(function (k) {
        var i = form.querySelector('[name="http_' + k + '"]');
        i.value = "";
        i.placeholder = s[k + "_set"] ? t("uplink.password_set") : "";
        clears[k].checked = false;
        form.querySelector("#http-" + k + "-clear").hidden = !s[k + "_set"];
      });
      var tls = s.tls || {};
      TLS_FILES.forEach(function (k) {
        form.querySelector("#http-tls-" + k + "-state").textContent = tls[k] ? t("uplink.file_set") : t("uplink.file_unset");
      });
      var kinds = (s.auth || []).map(function (k) { return t("uplink.http_auth." + k); });
      auth.textContent = t("uplink.http_auth", { kinds: kinds.length ? kinds.join("、") : t("uplink.http_auth.none") });
      auth.hidden = !view.http;
      showSinks(form, view.sinks);
    }
    function toggle() { fields.hidden = !on.checked; }
    on.addEventListener("change", toggle);
    show(u);
    toggle();

    function value(name) { return form.querySelector('[name="' + name + '"]').value.trim(); }
    function number(name) { var v = value(name); return v === "" ? null : Number(v); }
    var api = {
      // null removes the sink (MQTT only); a secret is sent only when typed or cleared.
      body: function () {
        if (!on.checked) return null;
        var b = {
          url: value("http_url"),
          media_url: value("http_media_url") || null,
          media_put_template: value("http_media_put_template") || null,
          media_order: value("http_media_order"),
          connect_timeout_s: number("http_connect_timeout_s"),
          timeout_s: number("http_timeout_s"),
          backoff_max_s: number("http_backoff_max_s")
        };
        ["hmac_secret", "bearer_token"].forEach(function (k) {
          var typed = form.querySelector('[name="http_' + k + '"]').value;
          if (typed) b[k] = typed;
          else if (clears[k].checked) b[k] = "";
        });
        return b;
      },
      saved: show
    };
    return api;
  }

  // ---- Password -----------------------------------------------------------------

  function passwordTab(pane) {
    var pw = el("form", { class: "card", id: "password-form", novalidate: true }, [el("h2", { text: t("dev.password") })]);
    SW.clearOnInput(pw);
    SW.field("dev.current", "current_password", { type: "password", autocomplete: "current-password", required: true }).forEach(pw.appendChild, pw);
    SW.field("dev.new", "new_password", { type: "password", autocomplete: "new-password", minlength: 10, required: true }).forEach(pw.appendChild, pw);
    SW.field("setup.confirm", "confirm", { type: "password", autocomplete: "new-password", required: true }).forEach(pw.appendChild, pw);
    var btn = el("button", { class: "primary", type: "submit", id: "password-change", text: t("dev.change") });
    var result = SW.resultBox("password-result");
    pw.appendChild(el("div", { class: "row" }, [btn]));
    pw.appendChild(result);
    pw.addEventListener("submit", function (ev) {
      ev.preventDefault();
      SW.clearErrors(pw);
      if (pw.new_password.value !== pw.confirm.value) {
        return SW.showProblems(pw, { body: { problems: [{ path: "confirm", code: "password_mismatch" }] } }, result);
      }
      SW.busy(btn, result, t("common.saving"), function () {
        return SW.api("POST", "/api/password", { current_password: pw.current_password.value, new_password: pw.new_password.value });
      }).then(function (r) {
        if (r.status !== 200) return SW.showProblems(pw, r, result);
        pw.reset();
        SW.ok(result, t("dev.changed"));
      });
    });
    pane.appendChild(pw);
  }

  // ---- Config -------------------------------------------------------------------

  // A config value as people read it: numbers without float noise, yes/no, lists counted.
  function value(v) {
    if (v === undefined || v === null) return el("span", { class: "hint", text: t("audit.none") });
    if (typeof v === "number") return el("code", { text: SW.num(v, 4) });
    if (typeof v === "boolean") return document.createTextNode(v ? t("common.yes") : t("common.no"));
    if (v === "***") return document.createTextNode(t("audit.secret"));
    if (typeof v === "string") return el("code", { text: v });
    if (Array.isArray(v) && v.length && Array.isArray(v[0])) return document.createTextNode(t("zones.points", { n: v.length }));
    return el("code", { text: JSON.stringify(v, function (k, x) { return typeof x === "number" ? Math.round(x * 10000) / 10000 : x; }) });
  }

  // A change of a whole section (a camera added) as one line per setting.
  function flatten(changes) {
    var out = [];
    function leaf(v) { return v === null || typeof v !== "object" || Array.isArray(v); }
    function walk(path, a, b) {
      if (leaf(a) && leaf(b)) {
        if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path: path, old: a, new: b });
        return;
      }
      var keys = {};
      [a, b].forEach(function (o) { if (o && typeof o === "object" && !Array.isArray(o)) Object.keys(o).forEach(function (k) { keys[k] = 1; }); });
      Object.keys(keys).sort().forEach(function (k) {
        walk(path + "." + k, a && !leaf(a) ? a[k] : undefined, b && !leaf(b) ? b[k] : undefined);
      });
    }
    changes.forEach(function (c) { walk(c.path, c.old, c.new); });
    return out;
  }

  function changesList(changes) {
    var lines = flatten(changes);
    if (!lines.length) return el("p", { class: "hint", text: t("dev.no_changes") });
    return el("ul", { class: "changes" }, lines.map(function (c) {
      return el("li", {}, [el("code", { class: "path", text: c.path }), " ", value(c.old), " → ", value(c.new)]);
    }));
  }

  function configTab(pane) {
    var cfg = el("form", { class: "card", id: "config-form" }, [
      el("h2", { text: t("dev.config") }),
      el("p", {}, [el("a", { class: "button secondary", href: "/api/config/export", download: "streetwatch.toml", text: t("dev.export") })])
    ]);
    var picker = filePicker({ accept: ".toml,text/plain", id: "f-import", "data-field": "file" });
    var file = picker.input;
    cfg.appendChild(el("div", { class: "label", text: t("dev.import_file") }));
    cfg.appendChild(picker.node);
    var previewBtn = el("button", { class: "secondary", type: "submit", id: "config-preview", text: t("dev.preview") });
    var applyBtn = el("button", { class: "primary", type: "button", id: "config-apply", text: t("dev.apply"), disabled: true });
    var result = SW.resultBox("config-result");
    cfg.appendChild(el("div", { class: "row" }, [previewBtn, applyBtn]));
    cfg.appendChild(result);
    function importFile(dryRun, btn) {
      SW.clearErrors(cfg);
      var f = file.files[0];
      if (!f) return SW.showProblems(cfg, { body: { problems: [{ path: "", code: "file_missing" }] } }, result);
      f.text().then(function (text) {
        SW.busy(btn, result, dryRun ? t("dev.previewing") : t("common.saving"), function () {
          return SW.call("POST", "/api/config/import" + (dryRun ? "?dry_run=true" : ""), text, "application/toml");
        }).then(function (r) {
          if (r.status !== 200) { applyBtn.disabled = true; return SW.showProblems(cfg, r, result); }
          clear(result);
          result.setAttribute("data-state", "ok");
          if (!dryRun) {
            // Import answers after the daemon applied it: what failed (retried) and
            // what needs a restart of the service.
            var rl = r.body.reload || {};
            if (rl.failed && rl.failed.length) result.appendChild(el("div", { class: "banner error", role: "alert", text: t("dev.not_applied", { items: rl.failed.join("；") }) }));
            else result.appendChild(el("div", { class: "banner ok", role: "status", text: t("dev.applied") }));
            if (rl.restart_required && rl.restart_required.length) result.appendChild(el("div", { class: "banner", role: "status", text: t("dev.restart_required", { items: rl.restart_required.join("、") }) }));
          }
          [["dev.ignored", r.body.ignored], ["dev.passwords_cleared", r.body.passwords_cleared]].forEach(function (x) {
            if (!x[1] || !x[1].length) return;
            result.appendChild(el("p", { class: "hint", text: t(x[0]) }));
            result.appendChild(SW.noticeBanner(x[1]));
          });
          result.appendChild(changesList(r.body.changes));
          applyBtn.disabled = !dryRun || !r.body.changes.length;
          SW.reveal(result);
        });
      });
    }
    cfg.addEventListener("submit", function (ev) { ev.preventDefault(); importFile(true, previewBtn); });
    applyBtn.addEventListener("click", function () { importFile(false, applyBtn); });
    file.addEventListener("change", function () { applyBtn.disabled = true; clear(result); });
    pane.appendChild(cfg);
  }

  // ---- Audit --------------------------------------------------------------------

  function auditTab(pane) {
    var audit = el("div", { class: "card", id: "audit" }, [el("h2", { text: t("dev.audit") })]);
    pane.appendChild(audit);
    SW.api("GET", "/api/audit?limit=50").then(function (r) {
      if (r.status !== 200) return;
      if (!r.body.entries.length) audit.appendChild(el("p", { class: "hint", text: t("dev.audit_none") }));
      r.body.entries.forEach(function (e) {
        var action = SW.has("audit." + e.action) ? t("audit." + e.action) : t("audit.other");
        audit.appendChild(el("div", { class: "audit", "data-action": e.action }, [
          el("div", { class: "audit-head" }, [
            el("strong", { text: action }), " · ", SW.timeEl(e.time), " · ",
            t("audit.by") + " ", el("code", { text: e.user }), " " + t("audit.from") + " ", el("code", { text: e.client })
          ]),
          e.changes.length ? changesList(e.changes) : null
        ]));
      });
    });
  }

  var RENDER = { device: deviceTab, uplink: uplinkTab, password: passwordTab, config: configTab, audit: auditTab };

  function render() {
    var app = SW.app;
    clear(app);
    app.appendChild(el("h1", { text: t("dev.title") }));
    var bar = el("div", { class: "tabs", role: "tablist" }, TABS.map(function (k) {
      return el("button", {
        type: "button", role: "tab", id: "tab-" + k, class: k === tab ? "active" : "", "aria-selected": k === tab ? "true" : "false",
        text: t("dev.tab." + k), onclick: function () { tab = k; render(); }
      });
    }));
    app.appendChild(bar);
    var pane = el("div", { id: "tab-pane", role: "tabpanel", "data-tab": tab });
    app.appendChild(pane);
    RENDER[tab](pane);
  }

  SW.pages.device = function () { render(); };
  // Other pages can open a tab directly (the dashboard's uplink card).
  SW.deviceTab = function (k) { tab = k; SW.go("device"); };
})();
