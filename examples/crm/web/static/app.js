"use strict";
// The CRM's one script. The Content-Security-Policy allows no inline
// script, so every behaviour is attached here; nothing received is ever
// written as HTML (textContent only).
(function () {
  // A logo that cannot be loaded is hidden rather than shown broken.
  document.querySelectorAll("img[data-logo]").forEach(function (img) {
    var hide = function () { img.hidden = true; };
    if (img.complete && img.naturalWidth === 0) hide();
    img.addEventListener("error", hide);
  });

  // Uploads go to the API with the session cookie, showing their progress
  // and the API's error message when it refuses the file.
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    var bar = form.querySelector("progress");
    var out = form.querySelector("[data-error]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      out.textContent = "";
      bar.hidden = false;
      bar.value = 0;
      button.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
      });
      var fail = function (msg) {
        out.textContent = msg;
        bar.hidden = true;
        button.disabled = false;
      };
      xhr.addEventListener("load", function () {
        if (xhr.status === 201) { location.reload(); return; }
        var msg = "Upload failed (" + xhr.status + ").";
        try { msg = JSON.parse(xhr.responseText).error || msg; } catch (e) { /* not JSON */ }
        fail(msg);
      });
      xhr.addEventListener("error", function () { fail("Upload failed: the server could not be reached."); });
      xhr.send(new FormData(form));
    });
  });

  // New notifications of this tenant arrive over the WebSocket.
  var live = document.getElementById("live");
  var feed = document.getElementById("notifications");
  if (live && feed && "WebSocket" in window) {
    var connect = function (delay) {
      var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/notifications");
      ws.addEventListener("open", function () {
        delay = 1000;
        live.dataset.live = "connected";
        live.textContent = "Live";
      });
      ws.addEventListener("message", function (ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (!msg || msg.type !== "notification" || !msg.notification) return;
        var li = document.createElement("li");
        li.className = "unread";
        li.dataset.id = String(msg.notification.id);
        var span = document.createElement("span");
        span.className = "message";
        span.textContent = String(msg.notification.message);
        li.appendChild(span);
        feed.insertBefore(li, feed.firstChild);
      });
      ws.addEventListener("close", function () {
        live.dataset.live = "off";
        live.textContent = "Live updates off, reconnecting…";
        setTimeout(function () { connect(Math.min(delay * 2, 30000)); }, delay);
      });
    };
    connect(1000);
  }
})();
