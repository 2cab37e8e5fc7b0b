// Uplink & device additions to the Device page: the box's identity, public key and
// models, and the broker settings with TLS uploads and Test connection.
"use strict";
(function () {
  var SW = window.SW, el = SW.el, t = SW.t, clear = SW.clear;
  var TLS_FILES = ["ca", "client_cert", "client_key"];

  function banner(node, ok, text, detail) {
    clear(node);
    node.setAttribute("data-state", ok ? "ok" : "error");
    node.appendChild(el("div", { class: "banner " + (ok ? "ok" : "error"), role: "status", text: text }));
    if (detail) node.appendChild(el("div", { class: "hint", text: detail }));
  }

  function input(form, name) { return form.querySelector('[name="' + name + '"]'); }

  function add(form, key, name, attrs) { SW.field(key, name, attrs).forEach(form.appendChild, form); }

  // Device id, division code, timezone, location; the public key; loaded models.
  function deviceCard(card, models, d) {
    clear(card);
    card.appendChild(el("h2", { text: t("devx.identity") }));
    var form = el("form", { id: "device-form" });
    add(form, "devx.id", "id", { required: true, value: d.id, pattern: "[A-Za-z0-9_-]{1,64}", autocapitalize: "off" });
    add(form, "devx.division", "division_code", { value: d.division_code || "", inputmode: "numeric", pattern: "[0-9]{6}" });
    add(form, "devx.timezone", "timezone", { required: true, value: d.timezone, placeholder: "Asia/Shanghai", autocapitalize: "off" });
    add(form, "devx.location", "location", { value: d.location || "" });
    var result = el("div", { "aria-live": "polite" });
    form.appendChild(result);
    form.appendChild(el("div", { class: "row" }, [el("button", { class: "primary", type: "submit", text: t("devx.save") })]));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clear(result);
      SW.api("PUT", "/api/device", {
        id: input(form, "id").value.trim(),
        division_code: input(form, "division_code").value.trim() || null,
        timezone: input(form, "timezone").value.trim(),
        location: input(form, "location").value.trim()
      }).then(function (r) {
        if (r.status !== 200) return SW.showProblems(form, r);
        form.querySelectorAll(".error").forEach(function (e) { e.remove(); });
        banner(result, true, t("devx.saved"));
      });
    });
    card.appendChild(form);

    card.appendChild(el("h2", { text: t("devx.pubkey") }));
    card.appendChild(el("code", { id: "device-pubkey", class: "key", text: d.public_key || t("devx.no_key") }));
    if (d.key_id) card.appendChild(el("div", { class: "hint", text: t("devx.key_id") + " " + d.key_id }));

    models.appendChild(el("h2", { text: t("devx.models") }));
    var body = el("tbody");
    d.models.forEach(function (m) {
      body.appendChild(el("tr", { class: "model-row", "data-model-id": m.id }, [
        el("td", { text: m.id }), el("td", { text: m.version }),
        el("td", { class: "sha", text: m.sha256 }),
        el("td", { text: m.execution_providers.join(", ") || "–" })
      ]));
    });
    models.appendChild(el("div", { class: "scroll" }, [el("table", { id: "models-table" }, [
      el("thead", {}, [el("tr", {}, ["devx.model_id", "devx.model_version", "devx.model_sha", "devx.model_ep"].map(function (k) {
        return el("th", { text: t(k) });
      }))]),
      body
    ])]));
    if (!d.models.length) models.appendChild(el("p", { class: "hint", text: t("devx.no_models") }));
  }

  function uplinkCard(card, u) {
    clear(card);
    card.appendChild(el("h2", { text: t("uplink.title") }));
    var form = el("form", { id: "uplink-form" });
    add(form, "uplink.broker", "broker", { value: u.broker, placeholder: "mqtts://broker.example:8883", inputmode: "url", autocapitalize: "off" });
    add(form, "uplink.port", "port", { type: "number", min: 1, max: 65535, value: u.port == null ? "" : u.port });
    add(form, "uplink.client_id", "client_id", { value: u.client_id || "", placeholder: t("uplink.client_id_default"), autocapitalize: "off" });
    add(form, "uplink.username", "username", { value: u.username || "", autocomplete: "off", autocapitalize: "off" });
    add(form, "uplink.password", "password", { type: "password", autocomplete: "new-password", placeholder: u.password_set ? t("uplink.password_set") : "" });
    TLS_FILES.forEach(function (f) {
      var status = el("span", { class: "hint", id: "uplink-tls-" + f + "-state", text: u.tls[f] ? t("uplink.file_set") : t("uplink.file_unset") });
      var file = el("input", { type: "file", id: "uplink-tls-" + f, name: f, "data-field": f, accept: ".pem,.crt,.key,application/x-pem-file" });
      form.appendChild(el("label", { for: "uplink-tls-" + f }, [t("uplink.tls." + f) + " ", status]));
      form.appendChild(file);
      file.addEventListener("change", function () {
        var chosen = file.files[0];
        if (!chosen) return;
        chosen.text().then(function (text) {
          SW.call("POST", "/api/uplink/tls/" + f, text, "application/x-pem-file").then(function (r) {
            file.value = "";
            if (r.status !== 200) return SW.showProblems(form, r);
            form.querySelectorAll(".error").forEach(function (e) { e.remove(); });
            showTls(r.body.tls);
            clear(result);
            var n = SW.noticeBanner(r.body.notices);
            if (n) result.appendChild(n);
          });
        });
      });
    });
    function showTls(tls) {
      TLS_FILES.forEach(function (g) {
        document.getElementById("uplink-tls-" + g + "-state").textContent = tls[g] ? t("uplink.file_set") : t("uplink.file_unset");
      });
    }
    form.appendChild(el("div", { class: "row" }, [el("button", { id: "uplink-tls-remove", class: "danger", type: "button", text: t("uplink.tls_remove"), onclick: function () {
      SW.api("DELETE", "/api/uplink/tls").then(function (r) {
        if (r.status !== 200) return SW.showProblems(form, r);
        form.querySelectorAll(".error").forEach(function (e) { e.remove(); });
        showTls(r.body.tls);
      });
    } })]));
    var result = el("div", { id: "uplink-test-result", "aria-live": "polite" });
    var testBtn = el("button", { id: "uplink-test", class: "secondary", type: "button", text: t("uplink.test") });
    form.appendChild(result);
    form.appendChild(el("div", { class: "row" }, [el("button", { class: "primary", type: "submit", text: t("uplink.save") }), testBtn]));

    // The password is sent only when typed: empty keeps the stored one.
    function body() {
      var b = {
        broker: input(form, "broker").value.trim(),
        port: input(form, "port").value ? Number(input(form, "port").value) : null,
        client_id: input(form, "client_id").value.trim() || null,
        username: input(form, "username").value.trim() || null
      };
      if (input(form, "password").value) b.password = input(form, "password").value;
      return b;
    }

    testBtn.addEventListener("click", function () {
      testBtn.disabled = true;
      clear(result);
      result.setAttribute("data-state", "testing");
      result.appendChild(el("div", { class: "hint", text: t("uplink.testing") }));
      SW.api("POST", "/api/uplink/test", body()).then(function (r) {
        testBtn.disabled = false;
        if (r.status !== 200) { clear(result); result.setAttribute("data-state", "error"); return SW.showProblems(form, r); }
        if (r.body.ok) banner(result, true, t("uplink.test_ok"));
        else banner(result, false, t("uplink.reason." + r.body.reason), r.body.message);
      });
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clear(result);
      SW.api("PUT", "/api/uplink", body()).then(function (r) {
        if (r.status !== 200) return SW.showProblems(form, r);
        form.querySelectorAll(".error").forEach(function (e) { e.remove(); });
        input(form, "password").value = "";
        input(form, "password").placeholder = r.body.password_set ? t("uplink.password_set") : "";
        banner(result, true, t("uplink.saved"));
        var n = SW.noticeBanner(r.body.notices);
        if (n) result.appendChild(n);
      });
    });
    card.appendChild(form);
  }

  (SW.extensions.device = SW.extensions.device || []).push(function (app) {
    // Cards are placed now (in page order) and filled when their data arrives.
    var identity = el("div", { class: "card" }), models = el("div", { class: "card" }), uplink = el("div", { class: "card" });
    app.appendChild(identity);
    app.appendChild(models);
    app.appendChild(uplink);
    SW.api("GET", "/api/device").then(function (r) { if (r.status === 200) deviceCard(identity, models, r.body); });
    SW.api("GET", "/api/uplink").then(function (r) { if (r.status === 200) uplinkCard(uplink, r.body); });
  });
})();
