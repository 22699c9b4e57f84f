/* The dashboard page's side of the head-view and model-view frames (served by Dash from assets/).
 *
 * The views' data arrives once per input in the "views-data" store; postViews (a clientside callback)
 * hands it to each frame as a message (see ../views_frame.js): the model view once per input, the head
 * view again when the layer picker changes (no server round trip). A frame that has drawn an input gets
 * data-drawn-key / data-drawn-layer attributes.
 *
 * Posted at once, not when the page is idle: Chromium runs the frames out of process, so their drawing does
 * not hold up the graphs, while waiting for an idle page made the views the last panels to appear
 * (bench/bench_dashboard.py measured both). The model view is posted first: posted second, its data was
 * decoded only after the head view had drawn its lines, which made it the last panel to appear.
 */
(function () {
  "use strict";

  var PANELS = { overview: "model", headview: "head" };
  var state = window.__attnvizViews = { ready: {}, pending: {}, posted: {}, drawn: {}, sentAt: {} };

  function frameOf(panel) {
    return document.getElementById(panel + "-frame");
  }

  function send(panel) {
    var message = state.pending[panel];
    var frame = frameOf(panel);
    if (!message || !state.ready[panel] || !frame || !frame.contentWindow) return;
    state.pending[panel] = null;
    state.sentAt[panel] = performance.timeOrigin + performance.now();  // ms since 1970, for the benchmark
    frame.contentWindow.postMessage(message, "*");
  }

  window.addEventListener("message", function (event) {
    var message = event.data || {};
    var panel = message.panel;
    if (!(panel in PANELS)) return;
    var frame = frameOf(panel);
    if (!frame || event.source !== frame.contentWindow) return;
    if (message.type === "attnviz-views-ready") {  // (re)loaded: it has nothing drawn yet
      state.ready[panel] = true;
      if (!state.pending[panel] && state.last && state.last[panel]) state.pending[panel] = state.last[panel];
      send(panel);
    } else if (message.type === "attnviz-views-drawn") {
      state.drawn[panel] = message.key + ":" + message.layer;
      frame.setAttribute("data-drawn-key", message.key);
      frame.setAttribute("data-drawn-layer", String(message.layer));
    }
  });

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.attnviz = Object.assign({}, window.dash_clientside.attnviz, {
    postViews: function (data, layer) {
      if (!data || !data.views) return window.dash_clientside.no_update;
      state.last = state.last || {};
      Object.keys(PANELS).forEach(function (panel) {
        var settings = Object.assign({}, data[PANELS[panel]]);
        if (panel === "headview") {
          var layers = data.views[settings.view || 0].layers;
          var chosen = Number(layer);
          settings.layer = Number.isInteger(chosen) && chosen >= 0 && chosen < layers ? chosen : 0;
        }
        var id = data.key + ":" + settings.layer;
        if (state.posted[panel] === id) return;
        state.posted[panel] = id;
        var message = { type: "attnviz-views-data", key: data.key, text: data.text, settings: settings,
                        views: data.views };
        state.last[panel] = message;
        state.pending[panel] = message;
        send(panel);
      });
      return data.key;
    },
  });
})();
