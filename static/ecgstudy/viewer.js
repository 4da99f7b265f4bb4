/* ECG sheet viewer for the blinded reading page: zoom, pan, gain switch, layouts and
   calipers that measure time and voltage with markers that can be dragged. */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var ZOOM_STEP = 1.25;
  var MAX_ZOOM = 8;
  // Below this much pointer travel a press is a click (caliper), above it a drag (pan).
  var CLICK_SLOP_PX = 4;
  // One zoom step per mouse-wheel notch; trackpads send many small deltas, which
  // are summed so that a gentle swipe does not race through the whole zoom range.
  var WHEEL_STEP_PX = 50;
  var WHEEL_IDLE_MS = 250;
  var CALIPER_COLOUR = "#1f6feb";
  var EPSILON = 1e-9;
  // Lead labels are drawn at least this many screen pixels tall.
  var MIN_LABEL_PX = 12;
  var HANDLE_PX = 7; // radius of a caliper marker's drag handle

  function clamp(value, low, high) {
    return Math.min(Math.max(value, low), high);
  }

  function isNumber(value) {
    return typeof value === "number" && isFinite(value);
  }

  function isPositive(value) {
    return isNumber(value) && value > 0;
  }

  function mm(value) {
    return value.toFixed(2);
  }

  function shortNumber(value) {
    // Enough precision for sub-pixel accuracy at 8x without 17-digit attributes.
    return String(Number(value.toFixed(4)));
  }

  function parseConfig(raw, traceCount) {
    if (raw === null || raw === "") {
      throw new Error("the data-viewer attribute is missing");
    }
    var config = JSON.parse(raw);
    if (!config || typeof config !== "object") {
      throw new Error("data-viewer is not a JSON object");
    }
    if (!isPositive(config.speed_mm_s)) {
      throw new Error("speed_mm_s must be a positive number");
    }
    if (!isPositive(config.gain_mm_mv)) {
      throw new Error("gain_mm_mv must be a positive number");
    }
    var gains = config.gains;
    if (!Array.isArray(gains) || !gains.length || !gains.every(isPositive)) {
      throw new Error("gains must be a non-empty list of positive numbers");
    }
    var baselines = config.baselines_mm;
    if (!Array.isArray(baselines) || !baselines.length || !baselines.every(isNumber)) {
      throw new Error("baselines_mm must be a non-empty list of numbers");
    }
    var rows = config.trace_rows;
    var rowOk = function (row) {
      return Number.isInteger(row) && row >= 0 && row < baselines.length;
    };
    if (!Array.isArray(rows) || !rows.every(rowOk)) {
      throw new Error("trace_rows must list a row index per trace");
    }
    if (rows.length !== traceCount) {
      throw new Error(
        "trace_rows has " + rows.length + " entries but the sheet has " +
          traceCount + " traces"
      );
    }
    var cal = config.calibration;
    var calKeys = ["start_mm", "rise_mm", "fall_mm", "end_mm", "mv"];
    if (!cal || typeof cal !== "object" || !calKeys.every(function (key) {
      return isNumber(cal[key]);
    })) {
      throw new Error("calibration needs numeric " + calKeys.join(", "));
    }
    var layouts = Array.isArray(config.layouts) ? config.layouts.slice() : ["3x4"];
    var layout = typeof config.layout === "string" ? config.layout : layouts[0];
    if (layouts.indexOf(layout) < 0) {
      throw new Error("layout must be one of layouts");
    }
    return {
      layout: layout,
      layouts: layouts,
      speed: config.speed_mm_s,
      gain: config.gain_mm_mv,
      gains: gains.slice(),
      baselines: baselines.slice(),
      traceRows: rows.slice(),
      calibration: cal,
    };
  }

  /*
   * Layouts are drawn from the waveform the page carries (data-waveform): every
   * lead's 10 s in microvolts, three base64url digits a sample. For display the
   * samples are interpolated by a windowed sinc (Lanczos, a = 4) to four points per
   * sample: band-limited, so a QRS is drawn as the signal it samples rather than
   * as a jagged polyline, and the same arithmetic for every ECG.
   */
  var LEAD_NAMES = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"];
  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var WAVEFORM_OFFSET = 131072;
  var UPSAMPLE = 4;
  var LANCZOS_A = 4;
  var LAYOUT_NAMES = { "3x4": "3\u00d74", "6x2": "6\u00d72", "12x1": "12\u00d71" };

  function decodeWaveform(text, fs) {
    var perLead = 3 * LEAD_NAMES.length;
    if (!text || !isPositive(fs) || text.length % perLead !== 0) {
      return null;
    }
    var n = text.length / perLead;
    var leads = [];
    for (var lead = 0; lead < LEAD_NAMES.length; lead++) {
      var values = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        var at = 3 * (lead * n + i);
        var a = B64.indexOf(text[at]);
        var b = B64.indexOf(text[at + 1]);
        var c = B64.indexOf(text[at + 2]);
        if (a < 0 || b < 0 || c < 0) {
          return null;
        }
        values[i] = ((a << 12) | (b << 6) | c) - WAVEFORM_OFFSET; // microvolts
      }
      leads.push(values);
    }
    return { fs: fs, n: n, leads: leads };
  }

  function sinc(x) {
    if (Math.abs(x) < 1e-12) {
      return 1;
    }
    return Math.sin(Math.PI * x) / (Math.PI * x);
  }

  // Weights of the taps i - A + 1 .. i + A for a point k / UPSAMPLE past sample i,
  // normalised so that a flat line stays flat.
  var LANCZOS_WEIGHTS = (function () {
    var table = [];
    for (var k = 0; k < UPSAMPLE; k++) {
      var weights = [];
      var sum = 0;
      for (var j = -LANCZOS_A + 1; j <= LANCZOS_A; j++) {
        var x = k / UPSAMPLE - j;
        var w = sinc(x) * sinc(x / LANCZOS_A);
        weights.push(w);
        sum += w;
      }
      table.push(weights.map(function (w) { return w / sum; }));
    }
    return table;
  })();

  // Microvolts at the point k / UPSAMPLE past sample i (edges repeat their sample).
  function interpolated(values, i, k) {
    if (k === 0) {
      return values[i];
    }
    var weights = LANCZOS_WEIGHTS[k];
    var total = 0;
    for (var t = 0; t < weights.length; t++) {
      var index = clamp(i - LANCZOS_A + 1 + t, 0, values.length - 1);
      total += weights[t] * values[index];
    }
    return total;
  }

  // Rows of [lead, first second, last second] and the pitch between rows in mm.
  function layoutSpec(name) {
    var limb = LEAD_NAMES.slice(0, 6);
    var chest = LEAD_NAMES.slice(6);
    if (name === "6x2") {
      return {
        pitch: 30,
        rows: limb.map(function (lead, i) {
          return [[lead, 0, 5], [chest[i], 5, 10]];
        }),
      };
    }
    if (name === "12x1") {
      return {
        pitch: 20,
        rows: LEAD_NAMES.map(function (lead) { return [[lead, 0, 10]]; }),
      };
    }
    var columns = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]];
    return {
      pitch: 40,
      rows: columns
        .map(function (leads) {
          return leads.map(function (lead, c) { return [lead, 2.5 * c, 2.5 * (c + 1)]; });
        })
        .concat([[["II", 0, 10]]]),
    };
  }

  function gridPath(width, height, step, skip) {
    var parts = [];
    var count;
    for (count = 0; count * step <= width + 1e-9; count++) {
      if (!skip || Math.abs((count * step) / skip - Math.round((count * step) / skip)) > 1e-9) {
        parts.push("M" + mm(count * step) + ",0V" + mm(height));
      }
    }
    for (count = 0; count * step <= height + 1e-9; count++) {
      if (!skip || Math.abs((count * step) / skip - Math.round((count * step) / skip)) > 1e-9) {
        parts.push("M0," + mm(count * step) + "H" + mm(width));
      }
    }
    return parts.join("");
  }

  function parseViewBox(value) {
    var parts = String(value || "").trim().split(/[\s,]+/).map(Number);
    if (parts.length !== 4 || !parts.every(isNumber) || parts[2] <= 0 || parts[3] <= 0) {
      return null;
    }
    return { x: parts[0], y: parts[1], w: parts[2], h: parts[3] };
  }

  /*
   * The renderer draws each trace as absolute "M x,y L x,y x,y ..." polylines.
   * Scaling those y values about the baseline, rather than applying a scale
   * transform, keeps the pen width the same on flat and steep parts of the
   * trace and lets it grow with zoom exactly like the grid. Anything else falls
   * back to a transform.
   */
  function parsePolyline(d) {
    var tokens = d.match(/[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g);
    if (!tokens) {
      return null;
    }
    var groups = [];
    var current = null;
    for (var i = 0; i < tokens.length; i++) {
      var token = tokens[i];
      if (/^[A-Za-z]$/.test(token)) {
        if (token !== "M" && token !== "L") {
          return null;
        }
        current = { command: token, xs: [], ys: [] };
        groups.push(current);
      } else if (!current) {
        return null;
      } else if (current.xs.length === current.ys.length) {
        current.xs.push(token);
      } else {
        current.ys.push(parseFloat(token));
      }
    }
    for (var g = 0; g < groups.length; g++) {
      if (!groups[g].xs.length || groups[g].xs.length !== groups[g].ys.length) {
        return null;
      }
    }
    return groups.length ? groups : null;
  }

  function scaledPolyline(groups, baseline, factor) {
    return groups
      .map(function (group) {
        var points = group.xs.map(function (x, i) {
          return x + "," + mm(baseline + factor * (group.ys[i] - baseline));
        });
        return group.command + points.join(" ");
      })
      .join("");
  }

  function calibrationPath(cal, baselines, height) {
    return baselines
      .map(function (b) {
        return (
          "M" + mm(cal.start_mm) + "," + mm(b) + "H" + mm(cal.rise_mm) +
          "V" + mm(b - height) + "H" + mm(cal.fall_mm) + "V" + mm(b) +
          "H" + mm(cal.end_mm)
        );
      })
      .join("");
  }

  function isEditable(target) {
    if (!target || target.nodeType !== 1) {
      return false;
    }
    var tag = target.tagName;
    return (
      tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" ||
      target.isContentEditable === true
    );
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function button(label, title, text) {
    var node = element("button", "ecg-btn", text);
    node.type = "button";
    node.setAttribute("aria-label", label);
    node.title = title;
    return node;
  }

  function svgLine(className, width) {
    var line = document.createElementNS(SVG_NS, "line");
    line.setAttribute("class", className);
    line.setAttribute("stroke", CALIPER_COLOUR);
    line.setAttribute("stroke-width", String(width));
    line.setAttribute("vector-effect", "non-scaling-stroke");
    return line;
  }

  function createViewer(root) {
    var svg = root.querySelector("svg");
    if (!svg) {
      console.error("ECG viewer: no SVG sheet inside .ecg-viewer; nothing to attach to.");
      return;
    }
    var traces = Array.prototype.slice.call(svg.querySelectorAll(".ecg-traces > path"));
    var config;
    var full = parseViewBox(svg.getAttribute("viewBox"));
    try {
      config = parseConfig(root.getAttribute("data-viewer"), traces.length);
      if (!full) {
        throw new Error("the SVG sheet has no usable viewBox");
      }
    } catch (error) {
      console.error(
        "ECG viewer: invalid data-viewer configuration, the sheet stays static: " +
          (error && error.message ? error.message : error)
      );
      return;
    }

    var originalViewBox = svg.getAttribute("viewBox");
    var calibration = svg.querySelector("path.ecg-calibration");
    var originalCalibration = calibration ? calibration.getAttribute("d") : null;
    var originalTraces = traces.map(function (path) {
      return { d: path.getAttribute("d") || "", transform: path.getAttribute("transform") };
    });
    var polylines = []; // parsed lazily: a reader who never changes gain pays nothing

    var gain = config.gain;
    var waveform = decodeWaveform(
      root.getAttribute("data-waveform"),
      Number(root.getAttribute("data-waveform-fs"))
    );
    // Without a waveform the server's sheet stays, and it is the standard layout.
    var layout = waveform ? config.layout : "3x4";
    var zoom = 1;
    var view = { x: full.x, y: full.y, w: full.w, h: full.h };
    var markers = []; // {x, y} in sheet millimetres
    var calipersUsed = false; // for the answer's record of how the sheet was read
    var voltageUsed = false;
    var drag = null;
    var markerDrag = null; // {id, index} while a marker is dragged
    var wheelSum = 0;
    var wheelTime = -Infinity;

    var toolbar = element("div", "ecg-toolbar");
    toolbar.setAttribute("role", "toolbar");
    toolbar.setAttribute("aria-label", "ECG sheet controls");

    var zoomGroup = element("div", "ecg-group");
    var zoomIn = button("Zoom in", "Zoom in (+)", "+");
    var zoomOut = button("Zoom out", "Zoom out (\u2212)", "\u2212");
    var fit = button("Fit the whole sheet", "Fit the whole sheet (0)", "Fit");
    zoomGroup.appendChild(zoomIn);
    zoomGroup.appendChild(zoomOut);
    zoomGroup.appendChild(fit);
    var zoomLevel = element("span", "ecg-zoom-level");
    zoomLevel.title = "Zoom level";

    var gainGroup = element("div", "ecg-group ecg-gain");
    gainGroup.setAttribute("role", "group");
    gainGroup.setAttribute("aria-label", "Gain");
    var gainLabel = element("span", "ecg-label", "Gain");
    gainLabel.setAttribute("aria-hidden", "true");
    var gainButtons = config.gains.map(function (value) {
      var node = button(
        "Gain " + value + " mm/mV",
        "Gain " + value + " mm/mV",
        String(value)
      );
      node.setAttribute("data-gain", String(value));
      node.addEventListener("click", function () {
        setGain(value);
      });
      return node;
    });
    var buttonsBox = element("div", "ecg-segmented");
    gainButtons.forEach(function (node) {
      buttonsBox.appendChild(node);
    });
    var unit = element("span", "ecg-unit", "mm/mV");
    unit.setAttribute("aria-hidden", "true");
    gainGroup.appendChild(gainLabel);
    gainGroup.appendChild(buttonsBox);
    gainGroup.appendChild(unit);

    var readout = element("div", "ecg-readout");
    readout.setAttribute("aria-live", "polite");
    var hint = element(
      "span",
      "ecg-hint",
      "Click two points to measure ms and mV; drag a dot to move it; Esc clears"
    );

    var layoutButtons = [];
    if (waveform && config.layouts.length > 1) {
      var layoutGroup = element("div", "ecg-group ecg-layout");
      layoutGroup.setAttribute("role", "group");
      layoutGroup.setAttribute("aria-label", "Layout");
      var layoutBox = element("div", "ecg-segmented");
      layoutButtons = config.layouts.map(function (name) {
        var node = button("Layout " + name, "Layout " + name, LAYOUT_NAMES[name] || name);
        node.setAttribute("data-layout", name);
        node.addEventListener("click", function () {
          setLayout(name);
        });
        layoutBox.appendChild(node);
        return node;
      });
      layoutGroup.appendChild(layoutBox);
    }

    toolbar.appendChild(zoomGroup);
    toolbar.appendChild(zoomLevel);
    toolbar.appendChild(gainGroup);
    if (layoutGroup) {
      toolbar.appendChild(layoutGroup);
    }
    toolbar.appendChild(readout);
    toolbar.appendChild(hint);

    var sheetNode = svg;
    while (sheetNode.parentNode && sheetNode.parentNode !== root) {
      sheetNode = sheetNode.parentNode;
    }
    root.insertBefore(toolbar, sheetNode);

    var caliperGroup = document.createElementNS(SVG_NS, "g");
    caliperGroup.setAttribute("class", "ecg-calipers");
    caliperGroup.setAttribute("pointer-events", "none");
    caliperGroup.setAttribute("fill", "none");
    svg.appendChild(caliperGroup);

    zoomIn.addEventListener("click", function () {
      zoomBy(ZOOM_STEP);
    });
    zoomOut.addEventListener("click", function () {
      zoomBy(1 / ZOOM_STEP);
    });
    fit.addEventListener("click", function () {
      reset();
    });

    function clampView(next) {
      next.x = clamp(next.x, full.x, full.x + full.w - next.w);
      next.y = clamp(next.y, full.y, full.y + full.h - next.h);
      return next;
    }

    function applyView() {
      var zoomed = zoom > 1 + EPSILON;
      if (!zoomed) {
        view = { x: full.x, y: full.y, w: full.w, h: full.h };
        svg.setAttribute("viewBox", originalViewBox);
      } else {
        svg.setAttribute(
          "viewBox",
          [view.x, view.y, view.w, view.h].map(shortNumber).join(" ")
        );
      }
      root.classList.toggle("is-zoomed", zoomed);
      sizeLabels();
      zoomIn.disabled = zoom >= MAX_ZOOM - EPSILON;
      zoomOut.disabled = !zoomed;
      zoomLevel.textContent = Math.round(zoom * 100) / 100 + "\u00d7";
    }

    function toSheet(clientX, clientY) {
      var matrix = svg.getScreenCTM();
      if (!matrix) {
        return null;
      }
      var point = svg.createSVGPoint();
      point.x = clientX;
      point.y = clientY;
      return point.matrixTransform(matrix.inverse());
    }

    function zoomAt(factor, cx, cy) {
      var next = clamp(zoom * factor, 1, MAX_ZOOM);
      if (Math.abs(next - 1) < 1e-6) {
        next = 1;
      }
      if (next === zoom) {
        return;
      }
      var fx = (cx - view.x) / view.w;
      var fy = (cy - view.y) / view.h;
      var w = full.w / next;
      var h = full.h / next;
      zoom = next;
      view = clampView({ x: cx - fx * w, y: cy - fy * h, w: w, h: h });
      applyView();
      if (drag) {
        restartDrag();
      }
    }

    function zoomBy(factor) {
      factor = Number(factor);
      if (!isPositive(factor)) {
        return state();
      }
      zoomAt(factor, view.x + view.w / 2, view.y + view.h / 2);
      return state();
    }

    function reset() {
      zoom = 1;
      applyView();
      return state();
    }

    function setGain(value) {
      value = Number(value);
      if (config.gains.indexOf(value) < 0) {
        return state();
      }
      gain = value;
      var factor = value / config.gain;
      traces.forEach(function (path, i) {
        var original = originalTraces[i];
        if (factor === 1) {
          path.setAttribute("d", original.d);
          if (original.transform === null) {
            path.removeAttribute("transform");
          } else {
            path.setAttribute("transform", original.transform);
          }
          return;
        }
        var baseline = config.baselines[config.traceRows[i]];
        if (polylines[i] === undefined) {
          polylines[i] = original.transform === null ? parsePolyline(original.d) : null;
        }
        if (polylines[i]) {
          path.setAttribute("d", scaledPolyline(polylines[i], baseline, factor));
        } else {
          path.setAttribute(
            "transform",
            (original.transform ? original.transform + " " : "") +
              "translate(0," + baseline + ") scale(1," + factor + ") translate(0," +
              -baseline + ")"
          );
          path.setAttribute("vector-effect", "non-scaling-stroke");
        }
      });
      if (calibration) {
        calibration.setAttribute(
          "d",
          factor === 1
            ? originalCalibration
            : calibrationPath(
              config.calibration,
              config.baselines,
              value * config.calibration.mv
            )
        );
      }
      updateGainButtons();
      return state();
    }

    function updateGainButtons() {
      gainButtons.forEach(function (node, i) {
        node.setAttribute("aria-pressed", config.gains[i] === gain ? "true" : "false");
      });
    }

    function intervalMs() {
      if (markers.length < 2) {
        return null;
      }
      return (Math.abs(markers[1].x - markers[0].x) / config.speed) * 1000;
    }

    // Up is positive: the second marker's level above the first's, at the gain the
    // sheet is drawn with now.
    function voltageMv() {
      if (markers.length < 2) {
        return null;
      }
      return (markers[0].y - markers[1].y) / gain;
    }

    function pixelsPerMm() {
      var matrix = svg.getScreenCTM();
      return matrix && matrix.a > 0 ? matrix.a : 1;
    }

    // Labels stay legible however small the sheet is drawn.
    var labelGroup = svg.querySelector(".ecg-labels");
    var labelMm = labelGroup ? parseFloat(labelGroup.getAttribute("font-size")) || 3.5 : 0;
    function sizeLabels() {
      if (!labelGroup) {
        return;
      }
      var size = Math.max(labelMm, MIN_LABEL_PX / pixelsPerMm());
      labelGroup.style.fontSize = size.toFixed(2) + "px";
    }

    function drawCalipers() {
      while (caliperGroup.firstChild) {
        caliperGroup.removeChild(caliperGroup.firstChild);
      }
      if (svg.lastElementChild !== caliperGroup) {
        svg.appendChild(caliperGroup);
      }
      var scale = pixelsPerMm();
      markers.forEach(function (marker, index) {
        var line = svgLine("ecg-caliper-marker", 1.5);
        line.setAttribute("x1", mm(marker.x));
        line.setAttribute("x2", mm(marker.x));
        line.setAttribute("y1", mm(full.y));
        line.setAttribute("y2", mm(full.y + full.h));
        caliperGroup.appendChild(line);
        // The voltage level of the marker, across the sheet's width.
        var level = svgLine("ecg-caliper-hline", 1);
        level.setAttribute("x1", mm(full.x));
        level.setAttribute("x2", mm(full.x + full.w));
        level.setAttribute("y1", mm(marker.y));
        level.setAttribute("y2", mm(marker.y));
        caliperGroup.appendChild(level);
        var handle = document.createElementNS(SVG_NS, "circle");
        handle.setAttribute("class", "ecg-caliper-handle");
        handle.setAttribute("data-marker", String(index));
        handle.setAttribute("cx", mm(marker.x));
        handle.setAttribute("cy", mm(marker.y));
        handle.setAttribute("r", mm(HANDLE_PX / scale));
        handle.setAttribute("fill", CALIPER_COLOUR);
        handle.setAttribute("fill-opacity", "0.35");
        handle.setAttribute("stroke", CALIPER_COLOUR);
        handle.setAttribute("stroke-width", "1");
        handle.setAttribute("vector-effect", "non-scaling-stroke");
        handle.setAttribute("pointer-events", "all");
        caliperGroup.appendChild(handle);
      });
      if (markers.length === 2) {
        var connector = svgLine("ecg-caliper-connector", 1);
        connector.setAttribute("x1", mm(markers[0].x));
        connector.setAttribute("x2", mm(markers[1].x));
        connector.setAttribute("y1", mm(markers[1].y));
        connector.setAttribute("y2", mm(markers[1].y));
        caliperGroup.appendChild(connector);
      }
    }

    function updateReadout() {
      var ms = intervalMs();
      if (markers.length === 1) {
        readout.textContent = "Click a second point";
      } else if (ms === null) {
        readout.textContent = "";
      } else {
        var text = "Interval " + Math.round(ms) + " ms";
        if (Math.round(ms) > 0) {
          text += " \u00b7 " + Math.round(60000 / ms) + " bpm";
        }
        var mv = voltageMv();
        text += " \u00b7 " + (mv < 0 ? "\u2212" : "") + Math.abs(mv).toFixed(2) + " mV";
        readout.textContent = text;
      }
      root.classList.toggle("has-calipers", markers.length > 0);
    }

    function placeMarker(point) {
      if (!point) {
        return;
      }
      if (markers.length >= 2) {
        markers = [];
      }
      markers.push({
        x: clamp(point.x, full.x, full.x + full.w),
        y: clamp(point.y, full.y, full.y + full.h),
      });
      calipersUsed = true;
      if (markers.length === 2) {
        voltageUsed = true;
      }
      drawCalipers();
      updateReadout();
    }

    function moveMarker(index, point) {
      if (!point || !markers[index]) {
        return;
      }
      markers[index] = {
        x: clamp(point.x, full.x, full.x + full.w),
        y: clamp(point.y, full.y, full.y + full.h),
      };
      drawCalipers();
      updateReadout();
    }

    function clearCalipers() {
      var had = markers.length > 0;
      markers = [];
      drawCalipers();
      updateReadout();
      return had;
    }

    // Pointer: a short press places a caliper, a longer drag pans.
    function restartDrag() {
      var matrix = svg.getScreenCTM();
      drag.x0 = drag.lastX;
      drag.y0 = drag.lastY;
      drag.vx = view.x;
      drag.vy = view.y;
      drag.sx = matrix ? matrix.a : 1;
      drag.sy = matrix ? matrix.d : 1;
      drag.moved = true;
    }

    function endDrag() {
      drag = null;
      root.classList.remove("is-panning");
    }

    svg.addEventListener("pointerdown", function (event) {
      if (drag || markerDrag || !event.isPrimary || event.button !== 0) {
        return;
      }
      var target = event.target;
      if (target && target.getAttribute && target.getAttribute("data-marker") !== null) {
        // A marker's handle: move that marker, neither pan nor place.
        event.preventDefault();
        markerDrag = { id: event.pointerId, index: Number(target.getAttribute("data-marker")) };
        root.classList.add("is-measuring");
        try {
          svg.setPointerCapture(event.pointerId);
        } catch (ignored) {
          // Without capture the drag still follows the pointer over the sheet.
        }
        return;
      }
      var matrix = svg.getScreenCTM();
      drag = {
        id: event.pointerId,
        x0: event.clientX,
        y0: event.clientY,
        lastX: event.clientX,
        lastY: event.clientY,
        vx: view.x,
        vy: view.y,
        sx: matrix ? matrix.a : 1,
        sy: matrix ? matrix.d : 1,
        moved: false,
      };
      try {
        svg.setPointerCapture(event.pointerId);
      } catch (ignored) {
        // Capture only keeps a drag alive outside the sheet; panning works without it.
      }
    });

    svg.addEventListener("pointermove", function (event) {
      if (markerDrag && event.pointerId === markerDrag.id) {
        moveMarker(markerDrag.index, toSheet(event.clientX, event.clientY));
        return;
      }
      if (!drag || event.pointerId !== drag.id) {
        return;
      }
      drag.lastX = event.clientX;
      drag.lastY = event.clientY;
      var dx = event.clientX - drag.x0;
      var dy = event.clientY - drag.y0;
      if (!drag.moved && Math.sqrt(dx * dx + dy * dy) >= CLICK_SLOP_PX) {
        drag.moved = true;
      }
      if (drag.moved && zoom > 1 + EPSILON) {
        root.classList.add("is-panning");
        view = clampView({
          x: drag.vx - dx / drag.sx,
          y: drag.vy - dy / drag.sy,
          w: view.w,
          h: view.h,
        });
        applyView();
      }
    });

    function endMarkerDrag(event) {
      if (markerDrag && event.pointerId === markerDrag.id) {
        markerDrag = null;
        root.classList.remove("is-measuring");
        return true;
      }
      return false;
    }

    svg.addEventListener("pointerup", function (event) {
      if (endMarkerDrag(event)) {
        return;
      }
      if (!drag || event.pointerId !== drag.id) {
        return;
      }
      var click = !drag.moved;
      endDrag();
      if (click) {
        placeMarker(toSheet(event.clientX, event.clientY));
      }
    });

    svg.addEventListener("pointercancel", function (event) {
      endMarkerDrag(event);
      if (drag && event.pointerId === drag.id) {
        endDrag();
      }
    });

    svg.addEventListener("lostpointercapture", function (event) {
      endMarkerDrag(event);
      if (drag && event.pointerId === drag.id) {
        endDrag();
      }
    });

    svg.addEventListener(
      "wheel",
      function (event) {
        // At the whole sheet a plain wheel scrolls the page, so that a reader on a
        // small screen can scroll past the sheet to the questions; Ctrl or Cmd (and
        // a trackpad pinch, which the browser sends as Ctrl+wheel) zooms in.
        if (zoom <= 1 + EPSILON && !event.ctrlKey && !event.metaKey) {
          return;
        }
        event.preventDefault();
        var delta = event.deltaY;
        if (event.deltaMode === 1) {
          delta *= 40;
        } else if (event.deltaMode === 2) {
          delta *= 800;
        }
        if (!delta) {
          return;
        }
        if (event.timeStamp - wheelTime > WHEEL_IDLE_MS || wheelSum * delta < 0) {
          wheelSum = 0;
        }
        wheelTime = event.timeStamp;
        wheelSum += delta;
        if (Math.abs(wheelSum) < WHEEL_STEP_PX) {
          return;
        }
        var factor = wheelSum < 0 ? ZOOM_STEP : 1 / ZOOM_STEP;
        wheelSum = 0;
        var point = toSheet(event.clientX, event.clientY);
        if (point) {
          zoomAt(factor, point.x, point.y);
        }
      },
      { passive: false }
    );

    // Keyboard: only symbols, 0 and Escape, because the question form owns
    // letters and the digits 1-9.
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || isEditable(event.target)) {
        return;
      }
      switch (event.key) {
        case "+":
        case "=":
          zoomBy(ZOOM_STEP);
          break;
        case "-":
          zoomBy(1 / ZOOM_STEP);
          break;
        case "0":
          reset();
          break;
        case "Escape":
        case "Esc":
          // Escape is left to dialogs and the like unless it cleared something.
          if (!clearCalipers()) {
            return;
          }
          break;
        default:
          return;
      }
      event.preventDefault();
    });

    // Redraw the whole sheet in a layout from the waveform; the paper, grid,
    // calibration, labels and traces follow the number of rows.
    function drawLayout(name) {
      var spec = layoutSpec(name);
      var top = config.baselines[0] - (config.baselines[1] - config.baselines[0]) / 2;
      var width = full.w;
      var height = 2 * top + spec.rows.length * spec.pitch;
      var baselines = spec.rows.map(function (row, r) {
        return top + (r + 0.5) * spec.pitch;
      });
      var x0 = config.calibration.end_mm;
      var fs = waveform.fs;
      var paper = svg.querySelector("rect");
      if (paper) {
        paper.setAttribute("height", mm(height));
      }
      var grid = svg.querySelectorAll(".ecg-grid path");
      if (grid.length === 2) {
        grid[0].setAttribute("d", gridPath(width, height, 1, 5));
        grid[1].setAttribute("d", gridPath(width, height, 5, 0));
      }
      var traceGroup = svg.querySelector(".ecg-traces");
      while (traceGroup.firstChild) {
        traceGroup.removeChild(traceGroup.firstChild);
      }
      while (labelGroup && labelGroup.firstChild) {
        labelGroup.removeChild(labelGroup.firstChild);
      }
      var rowsOfTraces = [];
      var ticks = [];
      var newTraces = [];
      spec.rows.forEach(function (row, r) {
        var baseline = baselines[r];
        row.forEach(function (segment, c) {
          var values = waveform.leads[LEAD_NAMES.indexOf(segment[0])];
          var first = Math.ceil(segment[1] * fs - 1e-9);
          var stop = Math.min(Math.ceil(segment[2] * fs - 1e-9), waveform.n);
          var points = [];
          for (var i = first; i < stop; i++) {
            for (var k = 0; k < UPSAMPLE && (k === 0 || i + 1 < stop); k++) {
              var t = (i + k / UPSAMPLE) / fs;
              var y = baseline - (interpolated(values, i, k) / 1000) * config.gain;
              points.push(mm(x0 + t * config.speed) + "," + mm(y));
            }
          }
          var path = document.createElementNS(SVG_NS, "path");
          path.setAttribute("d", "M" + points[0] + "L" + points.slice(1).join(" "));
          traceGroup.appendChild(path);
          newTraces.push(path);
          rowsOfTraces.push(r);
          var xStart = x0 + segment[1] * config.speed;
          if (c > 0) {
            ticks.push("M" + mm(xStart) + "," + mm(baseline - 2) + "V" + mm(baseline + 2));
          }
          if (labelGroup) {
            var label = document.createElementNS(SVG_NS, "text");
            label.setAttribute("x", mm(xStart + 1));
            label.setAttribute("y", mm(baseline - Math.min(12, spec.pitch * 0.3)));
            label.textContent = segment[0];
            labelGroup.appendChild(label);
          }
        });
      });
      var separators = svg.querySelector("path.ecg-separators");
      if (separators) {
        separators.setAttribute("d", ticks.join(""));
      }
      config.baselines = baselines;
      config.traceRows = rowsOfTraces;
      traces = newTraces;
      originalTraces = traces.map(function (path) {
        return { d: path.getAttribute("d"), transform: null };
      });
      polylines = [];
      if (calibration) {
        originalCalibration = calibrationPath(
          config.calibration, baselines, config.gain * config.calibration.mv
        );
        calibration.setAttribute("d", originalCalibration);
      }
      full = { x: 0, y: 0, w: width, h: height };
      originalViewBox = "0 0 " + mm(width) + " " + mm(height);
      root.style.setProperty("--ecg-aspect", String(width / height));
      layout = name;
      markers = [];
      zoom = 1;
      applyView();
      setGain(gain);
      drawCalipers();
      updateReadout();
      layoutButtons.forEach(function (node) {
        node.setAttribute("aria-pressed", node.getAttribute("data-layout") === name ? "true" : "false");
      });
    }

    function setLayout(name) {
      if (waveform && config.layouts.indexOf(name) >= 0) {
        drawLayout(name);
      }
      return state();
    }

    function state() {
      var ms = intervalMs();
      return {
        layout: layout,
        gain: gain,
        zoom: zoom,
        viewBox: [view.x, view.y, view.w, view.h],
        calipers: markers.map(function (marker) {
          return marker.x;
        }),
        levels: markers.map(function (marker) {
          return marker.y;
        }),
        intervalMs: ms,
        voltageMv: voltageMv(),
        calipersUsed: calipersUsed,
        voltageUsed: voltageUsed,
      };
    }

    updateGainButtons();
    if (waveform) {
      drawLayout(layout);
    }
    applyView();
    updateReadout();
    sizeLabels();
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () {
        sizeLabels();
        drawCalipers();
      }).observe(svg);
    }
    root.classList.add("is-ready");

    root.ecgViewer = {
      setGain: setGain,
      setLayout: setLayout,
      zoomBy: zoomBy,
      reset: reset,
      clearCalipers: function () {
        clearCalipers();
        return state();
      },
      state: state,
    };
  }

  function init() {
    var roots = document.querySelectorAll(".ecg-viewer");
    for (var i = 0; i < roots.length; i++) {
      if (!roots[i].ecgViewer) {
        createViewer(roots[i]);
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
