/* The dashboard's head-view and model-view frames: one page each that stays loaded, and draws again with
 * the lesson's own views.js whenever the dashboard posts it a new input (or, for the head view, a layer).
 *
 * Why: sending each input as a whole new page (a ~400 KB srcdoc, views.js and the data inlined twice)
 * made the browser parse two documents per sentence while the graphs waited. Here the data crosses once,
 * as a message; views.js runs again on it in this same document: a fresh #attnviz-root, the data in
 * #attnviz-data, the script re-executed (it reads both when it starts).
 *
 * Messages: in {type: "attnviz-views-data", key, text, settings, views}; out to the parent
 * {type: "attnviz-views-ready", panel} once loaded, and {type: "attnviz-views-drawn", panel, key, text,
 * layer, ok, received, at} after each drawing (``received`` and ``at``: when the data arrived and when it was
 * drawn, in ms since 1970, for the benchmark). One drawing at a time: a message that arrives during one
 * waits, and only the newest waiting message is drawn.
 */
(function () {
  "use strict";

  var PANEL = document.body.getAttribute("data-panel");
  var SOURCE = document.getElementById("attnviz-views-source").textContent;
  var busy = false;
  var waiting = null;

  function tell(message) {
    message.panel = PANEL;
    window.parent.postMessage(message, "*");
  }

  function now() {  // ms since 1970, comparable with the page's clock
    return performance.timeOrigin + performance.now();
  }

  function draw(message) {
    busy = true;
    var data = Object.assign({}, message.settings, { views: message.views });
    var fresh = document.createElement("div");
    fresh.id = "attnviz-root";
    document.getElementById("attnviz-root").replaceWith(fresh);
    document.getElementById("attnviz-data").textContent = JSON.stringify(data);
    document.body.removeAttribute("data-ready");
    // views.js inflates its arrays asynchronously, then draws and sets window.__firstDrawMs: a setter on it
    // tells the page at once (polling with a timer would wait: the browser slows the timers of a frame
    // scrolled out of view to one a second).
    var firstDraw;
    Object.defineProperty(window, "__firstDrawMs", {
      configurable: true,
      get: function () { return firstDraw; },
      set: function (value) { firstDraw = value; finished(true); },
    });
    var script = document.createElement("script");
    script.textContent = SOURCE;
    document.body.appendChild(script);
    script.remove();
    var reported = false;
    var failure = setTimeout(function () { finished(false); }, 30000);  // e.g. data views.js cannot read

    function finished(ok) {
      if (reported) return;
      reported = true;
      clearTimeout(failure);
      tell({ type: "attnviz-views-drawn", key: message.key, text: message.text, layer: data.layer, ok: ok,
             received: message.received, at: now() });
      busy = false;
      if (waiting) { var next = waiting; waiting = null; Promise.resolve().then(function () { draw(next); }); }
    }
  }

  window.addEventListener("message", function (event) {
    var message = event.data || {};
    if (event.source !== window.parent || message.type !== "attnviz-views-data") return;
    message.received = now();
    if (busy) waiting = message; else draw(message);
  });
  tell({ type: "attnviz-views-ready" });
})();
