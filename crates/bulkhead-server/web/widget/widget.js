// Bulkhead's widget library, for the host application's page.
//
// A classic script (a host page on another origin loads it with a plain <script src>), so it
// defines one global, `BulkheadWidget`, and nothing else:
//
//   const handle = BulkheadWidget.open({ token, onEvent: (event) => { ... } });
//   handle.updateToken(freshToken);   // before the old one expires (`token_expiring`)
//   handle.close();
//
// `token` is the answer of `POST /api/v1/embedded/widget-token`: base64 of
// {"token": <scoped token>, "widgetUrl": <the widget's page>}. The page opens in an <iframe>
// inside a modal <dialog>; the scoped token never goes into a URL: the frame says `ready` and
// this script hands it the token by postMessage, addressed to the frame's origin only. Messages
// from the frame are taken only from that origin and that window. The frame's URL carries this
// page's origin (`?host=`, not a secret), the one page the widget's server lets frame it.
//
// Styles are set through the CSSOM (`element.style.x = ...`), which a host page's
// Content-Security-Policy allows without 'unsafe-inline': no <style> element, no style
// attribute.
(function () {
  "use strict";

  // What the frame may tell its host; anything else is dropped.
  var EVENTS = [
    "source_created", "source_updated", "source_deleted",
    "source_created_error", "source_updated_error", "source_deleted_error",
    "token_expiring", "close",
  ];
  // Every message of the protocol carries this tag, so stray messages are easy to tell apart.
  var TAG = "bulkhead-widget";

  // Where this script was loaded from: a relative `widgetUrl` (a server without a public URL)
  // is resolved against it, never against the host page.
  var scriptUrl = (document.currentScript && document.currentScript.src) || location.href;

  function decode(wrapped) {
    if (typeof wrapped !== "string" || wrapped === "") {
      throw new TypeError("BulkheadWidget: `token` must be the widget token string");
    }
    var json;
    try {
      var binary = atob(wrapped);
      var bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new TypeError("BulkheadWidget: `token` is not a widget token (base64 JSON)");
    }
    if (!json || typeof json.token !== "string" || typeof json.widgetUrl !== "string") {
      throw new TypeError("BulkheadWidget: the widget token lacks `token` or `widgetUrl`");
    }
    var url = new URL(json.widgetUrl, scriptUrl);
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new TypeError("BulkheadWidget: `widgetUrl` is not a web address");
    }
    // The token travels by postMessage only: drop anything a URL could carry besides the page,
    // and name this page's origin (not a secret): the only one the widget's page lets frame it.
    url.search = "";
    url.hash = "";
    url.searchParams.set("host", location.origin);
    return { scoped: json.token, url: url };
  }

  function style(element, properties) {
    for (var name in properties) element.style[name] = properties[name];
    return element;
  }

  function open(options) {
    options = options || {};
    var onEvent = typeof options.onEvent === "function" ? options.onEvent : function () {};
    var first = decode(options.token);
    var widgetOrigin = first.url.origin;
    var token = first.scoped;
    var ready = false;
    var closed = false;

    var dialog = style(document.createElement("dialog"), {
      padding: "0", border: "0", borderRadius: "12px", overflow: "hidden",
      width: "min(760px, calc(100vw - 16px))", height: "min(700px, calc(100vh - 16px))",
      maxWidth: "100vw", maxHeight: "100vh", boxShadow: "0 12px 40px rgba(0, 0, 0, 0.35)",
      background: "#fff",
    });
    dialog.setAttribute("aria-label", "Connect your data");
    dialog.className = "bulkhead-widget";

    var close = style(document.createElement("button"), {
      position: "absolute", top: "8px", right: "8px", zIndex: "1",
      width: "36px", height: "36px", border: "1px solid #c7ccd4", borderRadius: "18px",
      background: "#fff", color: "#1f2933", font: "20px/1 system-ui, sans-serif",
      cursor: "pointer",
    });
    close.type = "button";
    close.textContent = "\u00d7";
    close.setAttribute("aria-label", "Close");
    close.className = "bulkhead-widget-close";

    var frame = style(document.createElement("iframe"), {
      display: "block", width: "100%", height: "100%", border: "0",
    });
    frame.title = "Connect your data";
    frame.src = first.url.href;
    frame.setAttribute("referrerpolicy", "no-referrer");

    function send() {
      if (!ready || closed || !frame.contentWindow) return;
      // Addressed to the widget's origin: if the frame was navigated elsewhere, nothing is
      // delivered.
      frame.contentWindow.postMessage({ bulkhead: TAG, type: "token", token: token }, widgetOrigin);
    }

    function emit(type, data) {
      try {
        onEvent({ type: type, data: data === undefined ? null : data });
      } catch (e) {
        // The host's handler failing must not break the widget.
        setTimeout(function () { throw e; });
      }
    }

    function onMessage(event) {
      if (event.origin !== widgetOrigin || event.source !== frame.contentWindow) return;
      var message = event.data;
      if (!message || message.bulkhead !== TAG || typeof message.type !== "string") return;
      if (message.type === "ready") {
        ready = true;
        // The focus given to the frame before its page loaded does not reach that page in
        // every browser (Chromium 148 leaves the widget's document unfocused), so a keyboard
        // user would start outside the widget: hand it the focus again, now that it is there.
        if (dialog.open && document.activeElement === frame) frame.contentWindow.focus();
        send();
        return;
      }
      if (EVENTS.indexOf(message.type) < 0) return;
      if (message.type === "close") {
        shut();
        return;
      }
      emit(message.type, message.data);
    }

    function shut() {
      if (closed) return;
      closed = true;
      window.removeEventListener("message", onMessage);
      if (dialog.open) dialog.close();
      dialog.remove();
      emit("close", null);
    }

    // Escape on the host's side of the dialog (focus on the close button); the frame
    // reports Escape pressed inside it as a `close` message.
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      shut();
    });
    close.addEventListener("click", shut);

    window.addEventListener("message", onMessage);
    dialog.appendChild(close);
    dialog.appendChild(frame);
    document.body.appendChild(dialog);
    // Modal: the rest of the page is inert, so focus stays in the dialog.
    dialog.showModal();
    frame.focus();

    return {
      updateToken: function (fresh) {
        var next = decode(fresh);
        if (next.url.origin !== widgetOrigin) {
          throw new TypeError("BulkheadWidget: the new token is for another widget server");
        }
        token = next.scoped;
        send();
      },
      close: shut,
    };
  }

  window.BulkheadWidget = Object.freeze({ open: open });
})();
