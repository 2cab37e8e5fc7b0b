// Cameras page: the ONVIF Discover button. Lists the cameras that answer a
// WS-Discovery probe, with their streams (asked with the user name and password typed
// in the form); choosing a stream fills the form's RTSP URL and name.
"use strict";
(function () {
  var SW = window.SW;
  var t = SW.t, el = SW.el, clear = SW.clear;

  // A fixed text in the page's language when there is one, with the box's own
  // message (English, naming the address) underneath as the detail.
  function reason(e) {
    var key = "disc.reason." + e.reason;
    var s = SW.has(key) ? t(key) : t("disc.reason.error");
    return [el("div", { class: "error", role: "alert", "data-code": e.reason || "" }, [s, SW.details(e.message)])];
  }

  function field(form, name) { return form.querySelector('[name="' + name + '"]'); }

  SW.cameraForm = function (form, ctx) {
    var results = el("div", { id: "discover-results", class: "result", "aria-live": "polite" });
    var btn = el("button", { id: "camera-discover", class: "secondary", type: "button", text: t("cams.discover") });
    form.insertBefore(el("div", { class: "discover" }, [
      el("div", { class: "hint", text: t("disc.hint") }),
      el("div", { class: "row" }, [btn]),
      results
    ]), ctx.before);

    function choose(device, profile, item) {
      field(form, "url").value = profile.rtsp_url;
      var name = field(form, "name");
      if (!name.value.trim() && device.name) name.value = device.name;
      results.querySelectorAll(".discover-item").forEach(function (i) {
        i.classList.toggle("chosen", i === item);
        i.setAttribute("aria-pressed", i === item ? "true" : "false");
      });
      field(form, "url").dispatchEvent(new Event("input", { bubbles: true }));
    }

    function show(devices) {
      results.setAttribute("data-count", String(devices.length));
      if (!devices.length) {
        results.appendChild(el("div", { class: "banner error", role: "status", text: t("disc.none") }));
        return;
      }
      devices.forEach(function (d) {
        var card = el("div", { class: "discover-device" }, [
          el("div", { class: "name" }, [el("code", { text: (d.name || d.endpoint) + (d.hardware ? " · " + d.hardware : "") })]),
          el("div", { class: "hint" }, [el("code", { text: d.xaddr || "" })])
        ]);
        if (d.error) reason(d.error).forEach(function (n) { card.appendChild(n); });
        d.profiles.forEach(function (p) {
          if (!p.rtsp_url) return;
          var size = p.width ? " " + p.width + "×" + p.height : "";
          var item = el("button", {
            type: "button", class: "discover-item", "data-url": p.rtsp_url, "aria-pressed": "false"
          }, [
            el("span", { class: "profile" }, [el("code", { text: p.name + " · " + (p.encoding || "?") + size })]),
            el("code", { class: "url", text: p.rtsp_url })
          ]);
          item.addEventListener("click", function () { choose(d, p, item); });
          card.appendChild(item);
        });
        if (!d.error && !d.profiles.some(function (p) { return p.rtsp_url; })) {
          card.appendChild(el("div", { class: "hint", text: t("disc.no_streams") }));
        }
        results.appendChild(card);
      });
    }

    function run() {
      SW.clearErrors(form);
      var req = {};
      var user = field(form, "username").value.trim(), pass = field(form, "password").value;
      if (user) req.username = user;
      if (user && pass) req.password = pass;
      results.removeAttribute("data-count");
      SW.busy(btn, results, t("disc.searching"), function () { return SW.api("POST", "/api/cameras/discover", req); }).then(function (r) {
        clear(results);
        if (r.status !== 200) return SW.showProblems(form, r, results);
        show(r.body.devices);
        SW.reveal(results);
      });
    }

    btn.addEventListener("click", run);
    if (ctx.discover) run();
  };
})();
