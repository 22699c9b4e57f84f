/* Head view and model view of attention, drawn on <canvas>.
 *
 * Part of the attention-visualization course (03_advanced/bertviz_style.py inlines this file into every
 * page it writes, so the page needs no network). The page holds its data in
 * <script type="application/json" id="attnviz-data">; see bertviz_style.py for the format:
 * per attention kind, a sparse (CSR) list of the strongest links of every row, keys as uint8/uint16,
 * weights as uint8 (weight = byte / 255), all base64.
 *
 * Canvas, not SVG: a 512-token head is up to 512 x 128 lines (at most 128 stored links per row); as SVG each line would be a DOM node
 * (hundreds of thousands for a few heads), as canvas they are pixels, batched into one stroke per
 * head and opacity level.
 *
 * Test hooks: window.__firstDrawMs (performance.now() after the first full drawing) and
 * window.__attnviz (state, number of draws, number of lines in the last drawing).
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("attnviz-data").textContent);
  var ALPHA_LEVELS = 32;
  // Software rasterising costs in proportion to line length: a 512-token head view with 12 heads holds
  // ~600k links, each ~3000 px long. Without hover, only the strongest LINE_BUDGET links are drawn (the
  // page says from which weight on); hovering a token draws every stored link of that token.
  var LINE_BUDGET = 8000;
  var hooks = { draws: 0, lines: 0, mode: DATA.mode, state: null, hover: null, selected: null };
  window.__attnviz = hooks;

  // ------------------------------------------------------------------------------------- decoding
  function bytesFromBase64(text) {
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // The arrays are deflate (zlib) compressed; the browser inflates them itself (DecompressionStream).
  function inflate(text) {
    var stream = new Blob([bytesFromBase64(text)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  function decodeView(v) {
    return Promise.all([inflate(v.counts), inflate(v.keys), inflate(v.weights)]).then(function (parts) {
      var counts = parts[0]; // (L * H * Q) links per row
      var keyBytes = parts[1];
      v.keyIndex = v.keyWidth === 2 ? new Uint16Array(keyBytes.buffer, keyBytes.byteOffset, keyBytes.length / 2) : keyBytes;
      v.weightBytes = parts[2]; // weight = byte / 255
      var offsets = new Uint32Array(counts.length + 1); // row r's links are offsets[r] .. offsets[r + 1]
      for (var r = 0; r < counts.length; r++) offsets[r + 1] = offsets[r] + counts[r];
      v.offsets = offsets;
      var all = [];
      v.keptMass.forEach(function (row) { all = all.concat(row); });
      v.keptMassMean = all.reduce(function (a, b) { return a + b; }, 0) / all.length;
      v.keptMassMin = Math.min.apply(null, all);
      return v;
    });
  }

  var VIEWS = [];
  var VIRIDIS = bytesFromBase64(DATA.viridis); // 256 x RGB

  function rowIndex(v, layer, head, q) {
    return (layer * v.heads + head) * v.q + q;
  }

  // ------------------------------------------------------------------------------------- helpers
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setupCanvas(canvas, width, height) {
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  function hexToRgb(hex) {
    var n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function rgba(hex, alpha) {
    var c = hexToRgb(hex);
    return "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + alpha.toFixed(3) + ")";
  }

  // Opacity of a hover shade for weight w (0-1): the square root lifts small weights into view.
  function shade(w) {
    return Math.min(0.85, 0.06 + 0.85 * Math.sqrt(w));
  }

  function fmt(w) {
    return w.toFixed(3);
  }

  function markFirstDraw() {
    if (window.__firstDrawMs === undefined) {
      window.__firstDrawMs = performance.now();
      document.body.setAttribute("data-ready", "1");
    }
  }

  // ------------------------------------------------------------------------ the line drawing (head)
  // Geometry of two token columns joined by lines: queries on the left, keys on the right.
  function lineGeometry(ctx, v, font) {
    ctx.font = font.size + "px " + font.family;
    var widest = 0;
    var all = v.qTokens.concat(v.kTokens);
    var step = Math.max(1, Math.floor(all.length / 400)); // measuring every token of 1000 is wasteful
    for (var i = 0; i < all.length; i += step) widest = Math.max(widest, ctx.measureText(all[i]).width);
    var col = Math.min(170, Math.max(60, Math.ceil(widest) + 14));
    ctx.font = "12px " + font.family;
    col = Math.max(col, Math.ceil(Math.max(ctx.measureText(v.qLabel).width, ctx.measureText(v.kLabel).width)) + 8);
    var n = Math.max(v.q, v.k);
    var rowH = n <= 40 ? 22 : n <= 128 ? 16 : 13;
    if (n * rowH > 30000) rowH = Math.max(3, Math.floor(30000 / n));
    var gap = 260;
    return {
      top: 30, rowH: rowH, col: col, gap: gap,
      xLeftText: col - 6, xLeftEdge: col, xRightEdge: col + gap, xRightText: col + gap + 6,
      width: 2 * col + gap, height: 30 + n * rowH + 6, font: font,
    };
  }

  function rowY(g, i) {
    return g.top + (i + 0.5) * g.rowH;
  }

  // Collect the links to draw: [head][alphaLevel] -> flat list of (q, k) pairs, plus, when a token is
  // hovered, the weights of the other column's tokens: per head (perHead[h][i]) and their MEAN over the
  // selected heads (emphasis[i]) — the same mean the status line prints (describeHover).
  function collectLinks(v, layer, heads, hover, minByte) {
    var byHead = [];
    var count = 0;
    var emphasis = null, perHead = null;
    if (hover) {
      emphasis = new Float32Array(hover.side === "q" ? v.k : v.q);
      perHead = {};
      heads.forEach(function (h) { perHead[h] = new Float32Array(emphasis.length); });
    }
    heads.forEach(function (h) {
      var levels = [];
      for (var a = 0; a < ALPHA_LEVELS; a++) levels.push([]);
      var q0 = 0, q1 = v.q;
      if (hover && hover.side === "q") { q0 = hover.index; q1 = hover.index + 1; }
      for (var q = q0; q < q1; q++) {
        var r = rowIndex(v, layer, h, q);
        for (var j = v.offsets[r]; j < v.offsets[r + 1]; j++) {
          var k = v.keyIndex[j];
          if (hover && hover.side === "k" && k !== hover.index) continue;
          if (!hover && v.weightBytes[j] < minByte) continue;
          var w = v.weightBytes[j] / 255;
          var level = Math.min(ALPHA_LEVELS - 1, Math.floor(w * ALPHA_LEVELS));
          levels[level].push(q, k);
          count++;
          if (emphasis) {
            var other = hover.side === "q" ? k : q;
            emphasis[other] += w / heads.length; // mean over the selected heads (a head without the link adds 0)
            perHead[h][other] = w;
          }
        }
      }
      byHead.push({ head: h, levels: levels });
    });
    return { byHead: byHead, count: count, emphasis: emphasis, perHead: perHead };
  }

  // The smallest weight byte such that at most LINE_BUDGET links of these heads reach it.
  function overviewFloor(v, layer, heads) {
    var hist = new Uint32Array(256);
    heads.forEach(function (h) {
      var r0 = rowIndex(v, layer, h, 0);
      for (var j = v.offsets[r0]; j < v.offsets[r0 + v.q]; j++) hist[v.weightBytes[j]]++;
    });
    var total = 0;
    for (var b = 255; b >= 1; b--) {
      total += hist[b];
      if (total > LINE_BUDGET) return b + 1;
    }
    return 1;
  }

  function drawLines(ctx, g, v, layer, heads, hover) {
    ctx.clearRect(0, 0, g.width, g.height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, g.width, g.height);
    var minByte = overviewFloor(v, layer, heads);
    var links = collectLinks(v, layer, heads, hover, minByte);
    links.minByte = minByte;
    // Column headers.
    ctx.fillStyle = "#555";
    ctx.font = "12px " + g.font.family;
    ctx.textAlign = "right";
    ctx.fillText(v.qLabel, g.xLeftText, 16);
    ctx.textAlign = "left";
    ctx.fillText(v.kLabel, g.xRightText, 16);
    // Hover emphasis: the hovered token, and the other side's tokens tinted by their weight.
    if (hover) {
      ctx.fillStyle = "#ffe08a";
      if (hover.side === "q") ctx.fillRect(0, g.top + hover.index * g.rowH, g.col, g.rowH);
      else ctx.fillRect(g.xRightEdge, g.top + hover.index * g.rowH, g.col, g.rowH);
      // The shade is the mean weight over the selected heads (one head: its colour; several: grey), the
      // number the status line prints; below it a strip shows each selected head's own weight in its colour.
      var tint = heads.length === 1 ? DATA.headColors[heads[0]] : "#444444";
      var x0 = hover.side === "q" ? g.xRightEdge : 0;
      var strip = heads.length > 1 ? Math.max(3, Math.floor(g.rowH / 4)) : 0;
      var segment = heads.length ? g.col / heads.length : 0;
      for (var i = 0; i < links.emphasis.length; i++) {
        var w = links.emphasis[i];
        if (w <= 0) continue;
        var y0 = g.top + i * g.rowH + 1;
        ctx.fillStyle = rgba(tint, shade(w));
        ctx.fillRect(x0, y0, g.col, g.rowH - 2 - strip);
        if (!strip) continue;
        heads.forEach(function (h, n) {
          var wh = links.perHead[h][i];
          if (wh <= 0) return;
          ctx.fillStyle = rgba(DATA.headColors[h], Math.min(1, 0.15 + 0.85 * Math.sqrt(wh)));
          ctx.fillRect(x0 + n * segment, y0 + g.rowH - 2 - strip, segment, strip);
        });
      }
    }
    // Lines: one stroke per head and opacity level (opacity = weight, on a fixed 0-1 scale).
    ctx.lineWidth = g.rowH >= 16 ? 2 : 1; // width 1 rasterises ~10x faster than 1.2 in software
    links.byHead.forEach(function (entry) {
      var colour = hexToRgb(DATA.headColors[entry.head]);
      for (var a = 0; a < ALPHA_LEVELS; a++) {
        var pairs = entry.levels[a];
        if (!pairs.length) continue;
        var alpha = (a + 0.5) / ALPHA_LEVELS;
        ctx.strokeStyle = "rgba(" + colour[0] + "," + colour[1] + "," + colour[2] + "," + alpha.toFixed(3) + ")";
        ctx.beginPath();
        for (var p = 0; p < pairs.length; p += 2) {
          ctx.moveTo(g.xLeftEdge, rowY(g, pairs[p]));
          ctx.lineTo(g.xRightEdge, rowY(g, pairs[p + 1]));
        }
        ctx.stroke();
      }
    });
    // Token labels.
    if (g.rowH >= 8) {
      ctx.font = Math.min(g.font.size, g.rowH - 2) + "px " + g.font.family;
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#111";
      ctx.textAlign = "right";
      for (var q = 0; q < v.q; q++) ctx.fillText(v.qTokens[q], g.xLeftText, rowY(g, q), g.col - 8);
      ctx.textAlign = "left";
      for (var k = 0; k < v.k; k++) ctx.fillText(v.kTokens[k], g.xRightText, rowY(g, k), g.col - 8);
      ctx.textBaseline = "alphabetic";
    }
    hooks.draws++;
    hooks.lines = links.count;
    hooks.emphasis = links.emphasis ? Array.from(links.emphasis) : null;
    if (links.perHead) {
      hooks.perHead = {};
      Object.keys(links.perHead).forEach(function (h) { hooks.perHead[h] = Array.from(links.perHead[h]); });
    } else hooks.perHead = null;
    return links;
  }

  function hoverAt(g, v, event, canvas) {
    var rect = canvas.getBoundingClientRect();
    var x = event.clientX - rect.left, y = event.clientY - rect.top;
    var i = Math.floor((y - g.top) / g.rowH);
    if (x < g.xLeftEdge + 4 && i >= 0 && i < v.q) return { side: "q", index: i };
    if (x > g.xRightEdge - 4 && i >= 0 && i < v.k) return { side: "k", index: i };
    return null;
  }

  // Mean over the chosen heads of the kept weights of one row (hover side q) or column (side k).
  function describeHover(v, layer, heads, hover) {
    var n = hover.side === "q" ? v.k : v.q;
    var total = new Float32Array(n);
    heads.forEach(function (h) {
      for (var q = 0; q < v.q; q++) {
        if (hover.side === "q" && q !== hover.index) continue;
        var r = rowIndex(v, layer, h, q);
        for (var j = v.offsets[r]; j < v.offsets[r + 1]; j++) {
          var k = v.keyIndex[j];
          if (hover.side === "k" && k !== hover.index) continue;
          total[hover.side === "q" ? k : q] += v.weightBytes[j] / 255 / heads.length;
        }
      }
    });
    var order = Array.from(total.keys()).filter(function (i) { return total[i] > 0; });
    order.sort(function (a, b) { return total[b] - total[a]; });
    var names = hover.side === "q" ? v.kTokens : v.qTokens;
    var own = hover.side === "q" ? v.qTokens[hover.index] : v.kTokens[hover.index];
    var verb = hover.side === "q" ? "attends to" : "is attended by";
    var parts = order.slice(0, 6).map(function (i) { return "\u201c" + names[i] + "\u201d " + fmt(total[i]); });
    var scope = heads.length === 1 ? "head " + heads[0] : "mean of " + heads.length + " heads";
    return "\u201c" + own + "\u201d (" + (hover.side === "q" ? "query " : "key ") + hover.index + ") " + verb + ": " +
      (parts.length ? parts.join(", ") : "nothing above the threshold") + " \u2014 " + scope + ", layer " + layer;
  }

  // ------------------------------------------------------------------------- the heatmap (model)
  // A (Q, K) matrix binned to at most size x size pixels; each pixel shows the largest kept weight of
  // its block (scale "fixed") or of the block divided by its row's largest weight (scale "row").
  function heatmapImage(v, layer, head, size, scale) {
    var gq = Math.min(v.q, size), gk = Math.min(v.k, size);
    var cells = new Float32Array(gq * gk);
    for (var q = 0; q < v.q; q++) {
      var r = rowIndex(v, layer, head, q);
      var start = v.offsets[r], stop = v.offsets[r + 1];
      var rowMax = 0;
      if (scale === "row") for (var j = start; j < stop; j++) rowMax = Math.max(rowMax, v.weightBytes[j]);
      var pq = Math.floor(q * gq / v.q) * gk;
      for (var j2 = start; j2 < stop; j2++) {
        var w = scale === "row" ? v.weightBytes[j2] / rowMax : v.weightBytes[j2] / 255;
        var cell = pq + Math.floor(v.keyIndex[j2] * gk / v.k);
        if (w > cells[cell]) cells[cell] = w;
      }
    }
    var image = new ImageData(gk, gq);
    for (var c = 0; c < cells.length; c++) {
      var idx = Math.min(255, Math.round(cells[c] * 255)) * 3;
      image.data[4 * c] = VIRIDIS[idx];
      image.data[4 * c + 1] = VIRIDIS[idx + 1];
      image.data[4 * c + 2] = VIRIDIS[idx + 2];
      image.data[4 * c + 3] = 255;
    }
    return image;
  }

  var scratch = document.createElement("canvas");
  function paintImage(ctx, image, x, y, w, h) {
    scratch.width = image.width;
    scratch.height = image.height;
    scratch.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(scratch, x, y, w, h);
  }

  function colourBar(container, label) {
    var wrap = el("div", { "class": "colourbar" });
    var c = el("canvas");
    var ctx = setupCanvas(c, 160, 12);
    var img = new ImageData(256, 1);
    for (var i = 0; i < 256; i++) {
      img.data[4 * i] = VIRIDIS[3 * i]; img.data[4 * i + 1] = VIRIDIS[3 * i + 1];
      img.data[4 * i + 2] = VIRIDIS[3 * i + 2]; img.data[4 * i + 3] = 255;
    }
    paintImage(ctx, img, 0, 0, 160, 12);
    wrap.appendChild(el("span", null, "0"));
    wrap.appendChild(c);
    wrap.appendChild(el("span", null, "1"));
    var caption = el("span", { "class": "cb-label" }, label);
    wrap.appendChild(caption);
    container.appendChild(wrap);
    return caption;
  }

  // ------------------------------------------------------------------------------------- controls
  function header(root) {
    root.appendChild(el("h1", null, DATA.title));
    if (DATA.subtitle) root.appendChild(el("p", { "class": "subtitle" }, DATA.subtitle));
    var bar = el("div", { "class": "controls" });
    root.appendChild(bar);
    return bar;
  }

  function viewSelect(bar, onChange) {
    var label = el("label", null, "Attention ");
    var select = el("select", { id: "view-select" });
    VIEWS.forEach(function (v, i) { select.appendChild(el("option", { value: String(i) }, v.name)); });
    select.value = String(DATA.view || 0);
    if (VIEWS.length < 2) select.disabled = true;
    select.addEventListener("change", function () { onChange(Number(select.value)); });
    label.appendChild(select);
    bar.appendChild(label);
    return select;
  }

  function pct(x) {
    return (100 * x).toFixed(1) + "%";
  }

  // What was left out, said on the page: the threshold, the cap, and the attention mass kept.
  function note(v, layer, heads) {
    var text = "Stored and drawn: links with weight \u2265 " + DATA.threshold + ", at most " + DATA.maxLinks +
      " per token, weights in 8 bits. ";
    if (layer === undefined) {
      return text + "They carry " + pct(v.keptMassMean) + " of the attention on average (" + pct(v.keptMassMin) +
        " in the head that spreads it most).";
    }
    if (!heads.length) return text;
    var sum = 0;
    heads.forEach(function (h) { sum += v.keptMass[layer][h]; });
    return text + "In layer " + layer + ", the links of the " + (heads.length === 1 ? "selected head" :
      heads.length + " selected heads") + " carry " + pct(sum / heads.length) + " of their attention.";
  }

  // ---------------------------------------------------------------------------------- head view
  function headView(root) {
    var state = { view: DATA.view || 0, layer: DATA.layer || 0, heads: DATA.heads.slice(), hover: null };
    hooks.state = state;
    var bar = header(root);
    var layerSelect = el("select", { id: "layer-select" });
    var swatches = el("div", { "class": "heads", id: "head-swatches" });
    var info = el("p", { "class": "note", id: "threshold-note" });
    var overview = el("p", { "class": "note", id: "overview-note" });
    var status = el("p", { "class": "status", id: "status" }, "Hover a token to isolate its attention.");
    var canvas = el("canvas", { id: "head-canvas" });
    viewSelect(bar, function (i) { state.view = i; state.hover = null; rebuild(); });
    var layerLabel = el("label", null, " Layer ");
    layerLabel.appendChild(layerSelect);
    bar.appendChild(layerLabel);
    layerSelect.addEventListener("change", function () { state.layer = Number(layerSelect.value); draw(); });
    bar.appendChild(el("span", { "class": "label" }, " Heads "));
    bar.appendChild(swatches);
    var allButton = el("button", { id: "heads-all" }, "all");
    var noneButton = el("button", { id: "heads-none" }, "none");
    bar.appendChild(allButton);
    bar.appendChild(noneButton);
    root.appendChild(info);
    root.appendChild(overview);
    root.appendChild(el("p", { "class": "help" },
      "Click a head's square to show or hide it, double-click to show it alone. Line opacity is the weight " +
      "(fixed 0\u20131 scale); rows on the left are queries (attending), on the right keys (attended to). " +
      "Hover a token: the other column is shaded by the MEAN weight over the selected heads (the number " +
      "printed below), and a strip under each token shows every selected head's own weight in its colour."));
    root.appendChild(status);
    var scroller = el("div", { "class": "scroller" });
    scroller.appendChild(canvas);
    root.appendChild(scroller);
    var g = null, ctx = null, pending = false;

    function rebuild() {
      var v = VIEWS[state.view];
      layerSelect.innerHTML = "";
      for (var l = 0; l < v.layers; l++) layerSelect.appendChild(el("option", { value: String(l) }, String(l)));
      state.layer = Math.min(state.layer, v.layers - 1);
      layerSelect.value = String(state.layer);
      state.heads = state.heads.filter(function (h) { return h < v.heads; });
      swatches.innerHTML = "";
      for (var h = 0; h < v.heads; h++) {
        var s = el("button", { "class": "swatch", "data-head": String(h), title: "head " + h }, String(h));
        s.style.setProperty("--c", DATA.headColors[h]);
        swatches.appendChild(s);
      }
      var probe = canvas.getContext("2d");
      g = lineGeometry(probe, v, { size: 12, family: "system-ui, sans-serif" });
      hooks.geometry = g;
      ctx = setupCanvas(canvas, g.width, g.height);
      draw();
    }

    function draw() {
      var v = VIEWS[state.view];
      Array.prototype.forEach.call(swatches.children, function (s) {
        s.classList.toggle("off", state.heads.indexOf(Number(s.getAttribute("data-head"))) < 0);
      });
      var drawn = drawLines(ctx, g, v, state.layer, state.heads, state.hover);
      info.textContent = note(v, state.layer, state.heads);
      overview.textContent = drawn.minByte > 1 ? "To keep the drawing fast, the overview draws only the " +
        LINE_BUDGET + " strongest links (weights \u2265 " + fmt(drawn.minByte / 255) + "); hover a token to see " +
        "all its stored links." : "";
      if (state.hover) status.textContent = describeHover(v, state.layer, state.heads, state.hover);
      else status.textContent = "Hover a token to isolate its attention.";
      hooks.hover = state.hover;
      markFirstDraw();
    }

    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; draw(); });
    }

    swatches.addEventListener("click", function (event) {
      var h = event.target.getAttribute && event.target.getAttribute("data-head");
      if (h === null || h === undefined) return;
      h = Number(h);
      var at = state.heads.indexOf(h);
      if (at >= 0) state.heads.splice(at, 1); else state.heads.push(h);
      state.heads.sort(function (a, b) { return a - b; });
      draw();
    });
    swatches.addEventListener("dblclick", function (event) {
      var h = event.target.getAttribute && event.target.getAttribute("data-head");
      if (h === null || h === undefined) return;
      state.heads = [Number(h)];
      draw();
    });
    allButton.addEventListener("click", function () {
      state.heads = []; for (var h = 0; h < VIEWS[state.view].heads; h++) state.heads.push(h); draw();
    });
    noneButton.addEventListener("click", function () { state.heads = []; draw(); });
    canvas.addEventListener("mousemove", function (event) {
      var hover = hoverAt(g, VIEWS[state.view], event, canvas);
      var same = (hover === null && state.hover === null) ||
        (hover && state.hover && hover.side === state.hover.side && hover.index === state.hover.index);
      if (!same) { state.hover = hover; schedule(); }
    });
    canvas.addEventListener("mouseleave", function () { if (state.hover) { state.hover = null; schedule(); } });
    rebuild();
  }

  // --------------------------------------------------------------------------------- model view
  function modelView(root) {
    var state = { view: DATA.view || 0, scale: "fixed", selected: null, hoverCell: null };
    hooks.state = state;
    var bar = header(root);
    viewSelect(bar, function (i) { state.view = i; state.selected = null; rebuild(); });
    var scaleLabel = el("label", null, " Colour scale ");
    var scaleSelect = el("select", { id: "scale-select" });
    scaleSelect.appendChild(el("option", { value: "fixed" }, "weight, fixed 0\u20131"));
    scaleSelect.appendChild(el("option", { value: "row" }, "per row (fraction of its maximum)"));
    scaleLabel.appendChild(scaleSelect);
    bar.appendChild(scaleLabel);
    var cbLabel = colourBar(bar, "attention weight");
    var info = el("p", { "class": "note", id: "threshold-note" });
    root.appendChild(info);
    root.appendChild(el("p", { "class": "help" },
      "Layers \u00d7 heads: each thumbnail is one head's matrix, rows = queries, columns = keys. When a matrix " +
      "is larger than its thumbnail, a pixel shows the largest weight of its block. Click a thumbnail to enlarge it."));
    var grid = el("div", { "class": "grid", id: "grid" });
    root.appendChild(grid);
    // The enlarged head: a dialog over the grid, closed with its button, Escape or a click outside.
    var backdrop = el("div", { "class": "backdrop", id: "backdrop" });
    var detail = el("div", { "class": "detail", id: "detail", role: "dialog", "aria-modal": "true" });
    var closeButton = el("button", { "class": "close", id: "detail-close", title: "close (Esc)" }, "\u00d7");
    var detailTitle = el("h2", { id: "detail-title" }, "");
    var detailStatus = el("p", { "class": "status", id: "status" }, "Hover the heatmap to read a weight.");
    var heatCanvas = el("canvas", { id: "detail-heatmap" });
    var linesCanvas = el("canvas", { id: "detail-lines" });
    var linesBox = el("div", { "class": "scroller small" });
    var body = el("div", { "class": "detail-body" });
    linesBox.appendChild(linesCanvas);
    body.appendChild(heatCanvas);
    body.appendChild(linesBox);
    detail.appendChild(closeButton);
    detail.appendChild(detailTitle);
    detail.appendChild(detailStatus);
    var detailBar = el("div", { "class": "detail-bar", id: "detail-colourbar" });
    detail.appendChild(detailBar);
    var detailCbLabel = colourBar(detailBar, "heatmap colour: attention weight");
    detail.appendChild(body);
    root.appendChild(backdrop);
    root.appendChild(detail);
    function close() {
      if (!state.selected) return;
      state.selected = null;
      drawThumbs();
      drawDetail();
    }
    closeButton.addEventListener("click", close);
    backdrop.addEventListener("click", close);
    document.addEventListener("keydown", function (event) { if (event.key === "Escape") close(); });
    var thumbs = [];
    var THUMB = 72;
    var heat = null;

    scaleSelect.addEventListener("change", function () {
      state.scale = scaleSelect.value;
      cbLabel.textContent = state.scale === "fixed" ? "attention weight" : "fraction of the row's maximum";
      detailCbLabel.textContent = "heatmap colour: " + cbLabel.textContent;
      drawThumbs();
      drawDetail();
    });

    function rebuild() {
      var v = VIEWS[state.view];
      info.textContent = note(v);
      grid.innerHTML = "";
      thumbs = [];
      grid.style.gridTemplateColumns = "3.2em repeat(" + v.heads + ", " + (THUMB + 4) + "px)";
      grid.appendChild(el("div"));
      for (var h = 0; h < v.heads; h++) grid.appendChild(el("div", { "class": "col-label" }, "head " + h));
      for (var l = 0; l < v.layers; l++) {
        grid.appendChild(el("div", { "class": "row-label" }, "layer " + l));
        for (var h2 = 0; h2 < v.heads; h2++) {
          var c = el("canvas", { "class": "thumb", tabindex: "0", role: "button", "data-layer": String(l),
            "data-head": String(h2), title: "layer " + l + ", head " + h2 + " (click to enlarge)" });
          grid.appendChild(c);
          thumbs.push({ canvas: c, layer: l, head: h2, ctx: setupCanvas(c, THUMB, THUMB) });
        }
      }
      drawThumbs();
      drawDetail();
    }

    function drawThumbs() {
      var v = VIEWS[state.view];
      thumbs.forEach(function (t) {
        paintImage(t.ctx, heatmapImage(v, t.layer, t.head, THUMB, state.scale), 0, 0, THUMB, THUMB);
        var on = state.selected && state.selected.layer === t.layer && state.selected.head === t.head;
        t.canvas.classList.toggle("selected", !!on);
      });
      hooks.draws++;
      markFirstDraw();
    }

    function drawDetail() {
      var v = VIEWS[state.view];
      hooks.selected = state.selected;
      detail.classList.toggle("open", !!state.selected);
      backdrop.classList.toggle("open", !!state.selected);
      if (!state.selected) return;
      var l = state.selected.layer, h = state.selected.head;
      detailTitle.textContent = v.name + " \u2014 layer " + l + ", head " + h + " (links kept: " +
        pct(v.keptMass[l][h]) + " of its attention)";
      // Heatmap: up to 480 px, one cell per token when it fits, token labels when cells are big enough.
      var n = Math.max(v.q, v.k);
      var cell = Math.max(1, Math.min(28, Math.floor(480 / n)));
      var showLabels = cell >= 10;
      var margin = showLabels ? 90 : 8;
      var w = cell * Math.min(v.k, 480), hgt = cell * Math.min(v.q, 480);
      var ctx = setupCanvas(heatCanvas, margin + w + 8, margin + hgt + 8);
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, margin + w + 8, margin + hgt + 8);
      paintImage(ctx, heatmapImage(v, l, h, 480, state.scale), margin, margin, w, hgt);
      if (showLabels) {
        ctx.fillStyle = "#111";
        ctx.font = Math.min(12, cell - 1) + "px system-ui, sans-serif";
        ctx.textAlign = "right";
        ctx.textBaseline = "middle";
        for (var q = 0; q < v.q; q++) ctx.fillText(v.qTokens[q], margin - 4, margin + (q + 0.5) * cell, margin - 6);
        for (var k = 0; k < v.k; k++) {
          ctx.save();
          ctx.translate(margin + (k + 0.5) * cell, margin - 4);
          ctx.rotate(-Math.PI / 2);
          ctx.textAlign = "left";
          ctx.fillText(v.kTokens[k], 0, 0, margin - 6);
          ctx.restore();
        }
      }
      heat = { margin: margin, cell: cell, w: w, h: hgt };
      var lctx = linesCanvas.getContext("2d");
      var g = lineGeometry(lctx, v, { size: 12, family: "system-ui, sans-serif" });
      lctx = setupCanvas(linesCanvas, g.width, g.height);
      drawLines(lctx, g, v, l, [h], null);
      hooks.draws++;
    }

    function weightAt(v, l, h, q, k) {
      var r = rowIndex(v, l, h, q);
      for (var j = v.offsets[r]; j < v.offsets[r + 1]; j++) if (v.keyIndex[j] === k) return v.weightBytes[j] / 255;
      return 0;
    }

    heatCanvas.addEventListener("mousemove", function (event) {
      if (!state.selected || !heat) return;
      var v = VIEWS[state.view];
      var rect = heatCanvas.getBoundingClientRect();
      var x = event.clientX - rect.left - heat.margin, y = event.clientY - rect.top - heat.margin;
      if (x < 0 || y < 0 || x >= heat.w || y >= heat.h) { detailStatus.textContent = ""; return; }
      var k = Math.floor(x / heat.w * v.k), q = Math.floor(y / heat.h * v.q);
      var w = weightAt(v, state.selected.layer, state.selected.head, q, k);
      detailStatus.textContent = "query " + q + " \u201c" + v.qTokens[q] + "\u201d \u2192 key " + k + " \u201c" +
        v.kTokens[k] + "\u201d: " + (w > 0 ? fmt(w) : "below the threshold (< " + DATA.threshold + ")");
    });

    function choose(target) {
      if (!target || !target.classList || !target.classList.contains("thumb")) return;
      state.selected = { layer: Number(target.getAttribute("data-layer")), head: Number(target.getAttribute("data-head")) };
      drawThumbs();
      drawDetail();
    }
    grid.addEventListener("click", function (event) { choose(event.target); });
    grid.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(event.target); }
    });
    rebuild();
  }

  var root = document.getElementById("attnviz-root");
  Promise.all(DATA.views.map(decodeView)).then(function (views) {
    VIEWS = views;
    if (DATA.mode === "model") modelView(root); else headView(root);
  }).catch(function (err) {
    root.appendChild(el("p", { "class": "error" }, "Could not read the attention data: " + err +
      " (this page needs a browser with DecompressionStream: Chrome 80+, Firefox 113+, Safari 16.4+)."));
    throw err;
  });
})();
