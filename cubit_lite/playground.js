/*
 * The regression playground of cubit_lite (cubit_lite/playground.py inlines this file).
 *
 * One-dimensional estimators of chapters 1-4, computed in the browser with the same
 * formulas as cubit_lite.regression (book/equations.md, section 1): Nadaraya-Watson and
 * local linear regression with the Gaussian, Epanechnikov and box kernels, kernel ridge
 * regression (Cholesky), the Gaussian-process posterior mean and standard deviation, and
 * on a stream the prefix NW, the exact prefix KRR and Cubit's triangular surrogate.
 *
 * window.CubitPlayground.evaluate(settings) is the pure computation (no page needed);
 * CubitPlayground.mount(id, config) draws one playground (plain SVG, no library) inside
 * the element with that id and exposes it as element.cubitPlayground
 * ({state, evaluate, set}). Sums of kernel weights use numpy's pairwise order, so that
 * the undefined (0/0) cases fall exactly where the library puts them.
 */
(function (root) {
  "use strict";
  var VERSION = "1";
  if (root.CubitPlayground && root.CubitPlayground.version === VERSION) return;

  var TINY = 2.2250738585072014e-308; // numpy's finfo(float).tiny
  var GRID_POINTS = 241;
  var MAX_POINTS = 60;
  // The estimators evaluate() computes (their labels come with each playground's config).
  var NAMES = ["nw", "llr", "krr", "gp", "prefix_nw", "prefix_krr", "cubit"];
  var CAUSAL = { prefix_nw: true, prefix_krr: true, cubit: true };

  // ------------------------------------------------------------------------- //
  // Numerics: the formulas of cubit_lite.regression
  // ------------------------------------------------------------------------- //
  /** numpy's pairwise sum of a[s], ..., a[s + n - 1] (the order of np.sum on float64). */
  function pairwiseSum(a, s, n) {
    var i, j;
    if (n < 8) {
      var total = 0;
      for (i = 0; i < n; i++) total += a[s + i];
      return total;
    }
    if (n <= 128) {
      var r = [a[s], a[s + 1], a[s + 2], a[s + 3], a[s + 4], a[s + 5], a[s + 6], a[s + 7]];
      for (i = 8; i < n - (n % 8); i += 8) for (j = 0; j < 8; j++) r[j] += a[s + i + j];
      var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[s + i];
      return res;
    }
    var half = Math.floor(n / 2);
    half -= half % 8;
    return pairwiseSum(a, s, half) + pairwiseSum(a, s + half, n - half);
  }
  function sum(a) { return pairwiseSum(a, 0, a.length); }

  function dot(a, b, n) {
    var total = 0;
    for (var j = 0; j < n; j++) total += a[j] * b[j];
    return total;
  }

  function zeros(n) { return new Float64Array(n); }

  /** Log weights of the limit h -> 0 of the Gaussian: 0 at the nearest inputs, -inf elsewhere. */
  function nearestOnly(xq, x, n) {
    var out = zeros(n), best = Infinity, j, d2;
    for (j = 0; j < n; j++) { d2 = (xq - x[j]) * (xq - x[j]); if (d2 < best) best = d2; }
    for (j = 0; j < n; j++) { d2 = (xq - x[j]) * (xq - x[j]); out[j] = d2 === best ? 0 : -Infinity; }
    return out;
  }

  /** Kernel weights of the query against x, scaled so that the largest is 1 (_relative_kernel_weights). */
  function relativeWeights(xq, x, h, kernel) {
    var n = x.length, w = zeros(n), j, u;
    if (kernel === "gaussian") {
      var top = -Infinity;
      for (j = 0; j < n; j++) {
        u = (xq - x[j]) / h;
        w[j] = -0.5 * (u * u);
        if (w[j] > top) top = w[j];
      }
      if (!isFinite(top)) { w = nearestOnly(xq, x, n); top = 0; }
      for (j = 0; j < n; j++) w[j] = Math.exp(w[j] - top);
      return w;
    }
    var peak = 0;
    for (j = 0; j < n; j++) {
      u = (xq - x[j]) / h;
      w[j] = Math.abs(u) <= 1 ? (kernel === "epanechnikov" ? 0.75 * (1 - u * u) : 0.5) : 0;
      if (w[j] > peak) peak = w[j];
    }
    for (j = 0; j < n; j++) w[j] = peak > 0 ? w[j] / peak : 0;
    return w;
  }

  /** Nadaraya-Watson at one query: {value, weights}; value NaN (and zero weights) where 0/0. */
  function nadarayaWatson(xq, x, y, h, kernel) {
    var n = x.length, w = relativeWeights(xq, x, h, kernel), total = sum(w), j;
    if (total === 0) return { value: NaN, weights: zeros(n) };
    for (j = 0; j < n; j++) w[j] = w[j] / total;
    return { value: dot(w, y, n), weights: w };
  }

  /** Local linear regression at one query (equations page section 1.4): {value, weights}. */
  function localLinear(xq, x, y, h, kernel) {
    var n = x.length, w = relativeWeights(xq, x, h, kernel), d = zeros(n), j, overflowed = false;
    for (j = 0; j < n; j++) {
      d[j] = w[j] > 0 ? (x[j] - xq) / h : 0;
      if (!isFinite(d[j] * d[j])) overflowed = true;
    }
    if (overflowed) d = zeros(n);
    var wd = zeros(n), wdd = zeros(n);
    for (j = 0; j < n; j++) { wd[j] = w[j] * d[j]; wdd[j] = wd[j] * d[j]; }
    var s0 = sum(w), s1 = sum(wd), s2 = sum(wdd);
    var det = s0 * s2 - s1 * s1;
    if (det <= 1e-12 * Math.max(s0 * s2, TINY) || overflowed) return { value: NaN, weights: zeros(n) };
    var out = zeros(n);
    for (j = 0; j < n; j++) out[j] = w[j] * (s2 - s1 * d[j]) / det;
    return { value: dot(out, y, n), weights: out };
  }

  function rbfGamma(h) { return h * h > 0 ? 1 / (2 * h * h) : Infinity; }

  /** exp(-gamma (a - b)^2), 1 where a = b (even for gamma = inf). */
  function rbf(a, b, gamma) {
    var d2 = (a - b) * (a - b);
    return Math.exp(-(d2 === 0 ? 0 : gamma * d2));
  }

  function kernelVector(xq, x, t, gamma) {
    var k = zeros(t);
    for (var j = 0; j < t; j++) k[j] = rbf(xq, x[j], gamma);
    return k;
  }

  /** Lower Cholesky factor of the leading t x t block of K + lam I (row-major), or null if not positive definite. */
  function cholesky(x, t, gamma, lam) {
    var L = zeros(t * t), i, j, k, s;
    for (i = 0; i < t; i++) {
      for (j = 0; j <= i; j++) {
        s = rbf(x[i], x[j], gamma) + (i === j ? lam : 0);
        for (k = 0; k < j; k++) s -= L[i * t + k] * L[j * t + k];
        if (i === j) {
          if (!(s > 0)) return null;
          L[i * t + i] = Math.sqrt(s);
        } else {
          L[i * t + j] = s / L[j * t + j];
        }
      }
    }
    return L;
  }

  /** Solve (L L^T) z = b. */
  function choleskySolve(L, t, b) {
    var z = zeros(t), i, k, s;
    for (i = 0; i < t; i++) {
      s = b[i];
      for (k = 0; k < i; k++) s -= L[i * t + k] * z[k];
      z[i] = s / L[i * t + i];
    }
    for (i = t - 1; i >= 0; i--) {
      s = z[i];
      for (k = i + 1; k < t; k++) s -= L[k * t + i] * z[k];
      z[i] = s / L[i * t + i];
    }
    return z;
  }

  /** Kernel ridge regression on the first t pairs: prediction, equivalent kernel, posterior sd. */
  function ridgeModel(x, y, t, h, lam) {
    var gamma = rbfGamma(h), L = cholesky(x, t, gamma, lam);
    if (L === null) return null;
    var alpha = choleskySolve(L, t, y.subarray(0, t));
    return {
      predict: function (xq) { return dot(kernelVector(xq, x, t, gamma), alpha, t); },
      weights: function (xq) { return choleskySolve(L, t, kernelVector(xq, x, t, gamma)); },
      sd: function (xq) { // sqrt(1 - sum_j l_j(x) k(x, x_j)), clipped at 0 (chapter 2)
        var k = kernelVector(xq, x, t, gamma), ell = choleskySolve(L, t, k), prod = zeros(t);
        for (var j = 0; j < t; j++) prod[j] = ell[j] * k[j];
        return Math.sqrt(Math.max(1 - sum(prod), 0));
      }
    };
  }

  /** Row of the causal Gaussian NW weights of query z against x_1..x_t (length n, zeros after t). */
  function causalRow(z, x, t, h) {
    var n = x.length, w = zeros(n), top = -Infinity, j, u;
    for (j = 0; j < t; j++) {
      u = (z - x[j]) / h;
      w[j] = -0.5 * (u * u);
      if (w[j] > top) top = w[j];
    }
    if (!isFinite(top)) {
      var near = nearestOnly(z, x.subarray(0, t), t);
      for (j = 0; j < t; j++) w[j] = near[j];
      top = 0;
    }
    for (j = 0; j < t; j++) w[j] = Math.exp(w[j] - top);
    var total = sum(w);
    for (j = 0; j < t; j++) w[j] = w[j] / total;
    return w;
  }

  /** Cubit's surrogate: the rows of P + lam I and the pseudo-targets u = (P + lam I)^-1 y. */
  function surrogateModel(x, y, h, lam) {
    var n = x.length, rows = [], u = zeros(n), t, j, s;
    for (t = 0; t < n; t++) {
      rows.push(causalRow(x[t], x, t + 1, h));
      rows[t][t] += lam;
    }
    for (t = 0; t < n; t++) {
      s = y[t];
      for (j = 0; j < t; j++) s -= rows[t][j] * u[j];
      u[t] = s / rows[t][t];
    }
    return {
      u: u,
      predict: function (z, steps) { return dot(causalRow(z, x, steps, h), u, steps); },
      weights: function (z, steps) { // a^T (P + lam I)^-1 restricted to the first `steps` pairs
        var a = causalRow(z, x, steps, h), v = zeros(n), i, k, acc;
        for (i = steps - 1; i >= 0; i--) {
          acc = a[i];
          for (k = i + 1; k < steps; k++) acc -= rows[k][i] * v[k];
          v[i] = acc / rows[i][i];
        }
        return v;
      }
    };
  }

  function linspace(lo, hi, m) {
    var out = [];
    for (var i = 0; i < m; i++) out.push(lo + (hi - lo) * i / (m - 1));
    return out;
  }

  /**
   * Every number the playground draws, for one setting.
   *
   * settings: {x, y, query, bandwidth, lam, noise, kernel, step, estimators, grid}; step
   * (default n) is the number of stream pairs the causal estimators have seen; grid
   * (default 241 points over x_range) is where the curves are evaluated.
   * Returns {grid, curves, sd, at_query, sd_at_query, weights, pseudo_targets, undefined}:
   * curves[name] and weights[name] (one weight per pair, zero after step for causal
   * estimators) for each estimator; GP's sd is the posterior standard deviation of f.
   */
  function evaluate(settings) {
    var x = Float64Array.from(settings.x), y = Float64Array.from(settings.y), n = x.length;
    var h = settings.bandwidth, lam = settings.lam, kernel = settings.kernel || "gaussian";
    var noise = settings.noise, query = settings.query;
    var steps = settings.step === undefined || settings.step === null ? n : settings.step;
    var names = settings.estimators || NAMES;
    var grid = settings.grid || linspace(settings.x_range[0], settings.x_range[1], GRID_POINTS);
    var out = { grid: grid.slice(), curves: {}, sd: {}, at_query: {}, sd_at_query: {}, weights: {},
                pseudo_targets: null, undefined: {} };
    var cache = {};
    function ridge(key, count, ridgeLam) {
      if (!(key in cache)) cache[key] = ridgeModel(x, y, count, h, ridgeLam);
      return cache[key];
    }
    function smoother(name, fit, count) {
      var full = zeros(n), at = fit(query), j;
      out.curves[name] = grid.map(function (g) { return fit(g).value; });
      for (j = 0; j < count; j++) full[j] = at.weights[j];
      out.at_query[name] = at.value;
      out.weights[name] = Array.from(full);
      if (isNaN(at.value)) out.undefined[name] = "no data in reach of the query";
    }
    names.forEach(function (name) {
      var model, full, j;
      if (name === "nw") {
        smoother(name, function (q) { return nadarayaWatson(q, x, y, h, kernel); }, n);
      } else if (name === "llr") {
        smoother(name, function (q) { return localLinear(q, x, y, h, kernel); }, n);
      } else if (name === "prefix_nw") {
        smoother(name, function (q) {
          var w = causalRow(q, x, steps, h);
          return { value: dot(w, y, steps), weights: w };
        }, steps);
      } else if (name === "krr" || name === "gp" || name === "prefix_krr") {
        var count = name === "prefix_krr" ? steps : n, ridgeLam = name === "gp" ? noise * noise : lam;
        model = ridge(name + ":" + count + ":" + ridgeLam, count, ridgeLam);
        if (model === null) {
          out.curves[name] = grid.map(function () { return NaN; });
          out.at_query[name] = NaN;
          out.weights[name] = Array.from(zeros(n));
          out.undefined[name] = "K + λI is not numerically positive definite";
          return;
        }
        out.curves[name] = grid.map(model.predict);
        out.at_query[name] = model.predict(query);
        full = zeros(n);
        var ell = model.weights(query);
        for (j = 0; j < count; j++) full[j] = ell[j];
        out.weights[name] = Array.from(full);
        if (name === "gp") {
          out.sd[name] = grid.map(model.sd);
          out.sd_at_query[name] = model.sd(query);
        }
      } else if (name === "cubit") {
        model = surrogateModel(x, y, h, lam);
        out.pseudo_targets = Array.from(model.u);
        out.curves[name] = grid.map(function (g) { return model.predict(g, steps); });
        out.at_query[name] = model.predict(query, steps);
        out.weights[name] = Array.from(model.weights(query, steps));
      } else {
        throw new Error("unknown estimator " + JSON.stringify(name) + "; choose from " + NAMES.join(", "));
      }
    });
    return out;
  }

  // ------------------------------------------------------------------------- //
  // The page: one SVG figure, its controls and a live readout
  // ------------------------------------------------------------------------- //
  var SVGNS = "http://www.w3.org/2000/svg";
  var W = 640, H = 300, WH = 130, M = { l: 54, r: 12, t: 10, b: 26 };

  function el(tag, attrs, parent, text) {
    var node = tag.indexOf("svg:") === 0 ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
    for (var key in attrs) if (Object.prototype.hasOwnProperty.call(attrs, key)) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  /** A number as the page shows it: `digits` significant digits (4 by default), a true minus sign. */
  function fmt(v, digits) {
    if (v === null || v === undefined || isNaN(v)) return "undefined";
    var p = digits || 4, a = Math.abs(v);
    var s = a === 0 ? "0" : a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(p))) : v.toExponential(p - 1);
    return s.replace("-", "\u2212");
  }

  function niceTicks(lo, hi, count) {
    var raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw))), step = mag, ticks = [];
    [1, 2, 2.5, 5, 10].some(function (f) { step = f * mag; return step >= raw; });
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-12 * step; v += step) ticks.push(Math.abs(v) < 1e-12 * step ? 0 : v);
    return ticks;
  }

  function logSlider(parent, id, label, lo, hi, value, onInput) {
    var wrap = el("div", { "class": "pg-control" }, parent);
    el("label", { "for": id }, wrap, label);
    var input = el("input", { type: "range", id: id, min: String(Math.log10(lo)), max: String(Math.log10(hi)),
                              step: "0.001", value: String(Math.log10(value)) }, wrap);
    var shown = el("output", { "for": id, "class": "pg-num", "data-key": id.split("-").pop() }, wrap);
    input.addEventListener("input", function () { onInput(Math.pow(10, Number(input.value))); });
    return { input: input, output: shown, set: function (v) { input.value = String(Math.log10(v)); } };
  }

  function mount(id, config) {
    var rootEl = typeof id === "string" ? document.getElementById(id) : id;
    if (!rootEl || rootEl.getAttribute("data-pg-bound") === "1") return rootEl && rootEl.cubitPlayground;
    rootEl.setAttribute("data-pg-bound", "1");
    var uid = rootEl.id || "pg";
    var note = rootEl.querySelector(".pg-nojs");
    if (note) note.parentNode.removeChild(note);
    var host = rootEl.querySelector(".pg-app") || el("div", { "class": "pg-app" }, rootEl);

    var names = config.estimators.slice(), LABELS = config.labels;
    var causal = names.some(function (n) { return CAUSAL[n]; });
    var usesKernel = names.indexOf("nw") >= 0 || names.indexOf("llr") >= 0;
    var usesLam = names.some(function (n) { return n === "krr" || n === "prefix_krr" || n === "cubit"; });
    var xr = config.x_range, yr = config.y_range, span = xr[1] - xr[0];
    var state;
    function initialState() {
      var shown = {};
      names.forEach(function (n) { shown[n] = true; });
      return { x: config.x.slice(), y: config.y.slice(), query: config.query, bandwidth: config.bandwidth,
               lam: config.lam, noise: config.noise, kernel: config.kernel, step: config.step,
               shown: shown, weightsOf: config.weights_of || names[0], selected: -1 };
    }
    state = initialState();

    // Controls
    var controls = el("div", { "class": "pg-controls" }, host);
    var sliders = {};
    sliders.h = logSlider(controls, uid + "-bandwidth", "bandwidth h", config.ranges.bandwidth[0],
                          config.ranges.bandwidth[1], state.bandwidth, function (v) { state.bandwidth = v; update(); });
    if (usesLam) sliders.lam = logSlider(controls, uid + "-lam", "ridge λ", config.ranges.lam[0], config.ranges.lam[1],
                                         state.lam, function (v) { state.lam = v; update(); });
    if (names.indexOf("gp") >= 0) {
      sliders.noise = logSlider(controls, uid + "-noise", "GP noise σ (λ = σ²)", config.ranges.noise[0],
                                config.ranges.noise[1], state.noise, function (v) { state.noise = v; update(); });
    }
    var stepInput = null, stepOut = null;
    if (causal) {
      var sw = el("div", { "class": "pg-control" }, controls);
      el("label", { "for": uid + "-step" }, sw, "pairs seen t");
      stepInput = el("input", { type: "range", id: uid + "-step", min: "1", max: String(state.x.length), step: "1",
                                value: String(state.step) }, sw);
      stepOut = el("output", { "for": uid + "-step", "class": "pg-num", "data-key": "step" }, sw);
      stepInput.addEventListener("input", function () { state.step = Number(stepInput.value); update(); });
    }
    var kernelSelect = null;
    if (usesKernel) {
      var kw = el("div", { "class": "pg-control" }, controls);
      el("label", { "for": uid + "-kernel" }, kw, "kernel (NW, local linear)");
      kernelSelect = el("select", { id: uid + "-kernel" }, kw);
      ["gaussian", "epanechnikov", "box"].forEach(function (k) { el("option", { value: k }, kernelSelect, k); });
      kernelSelect.value = state.kernel;
      kernelSelect.addEventListener("change", function () { state.kernel = kernelSelect.value; update(); });
    }
    var legend = el("fieldset", { "class": "pg-legend" }, host);
    el("legend", {}, legend, "Curves");
    var toggles = {};
    names.forEach(function (n) {
      var lab = el("label", { "class": "pg-key pg-" + n }, legend);
      toggles[n] = el("input", { type: "checkbox", "data-estimator": n }, lab);
      toggles[n].checked = true;
      el("span", { "class": "pg-swatch", "aria-hidden": "true" }, lab);
      lab.appendChild(document.createTextNode(LABELS[n] + (n === "gp" ? " ± 2 sd" : "")));
      toggles[n].addEventListener("change", function () { state.shown[n] = toggles[n].checked; update(); });
    });
    var actions = el("div", { "class": "pg-actions" }, host);
    var wl = el("label", { "for": uid + "-weights" }, actions, "weights shown for ");
    var weightsSelect = el("select", { id: uid + "-weights" }, wl.parentNode);
    names.forEach(function (n) { el("option", { value: n }, weightsSelect, LABELS[n]); });
    weightsSelect.value = state.weightsOf;
    weightsSelect.addEventListener("change", function () { state.weightsOf = weightsSelect.value; update(); });
    var addButton = el("button", { type: "button" }, actions, "Add a point at the query");
    var removeButton = el("button", { type: "button" }, actions, "Remove the selected point");
    var resetButton = el("button", { type: "button" }, actions, "Reset");
    el("p", { "class": "pg-help", id: uid + "-help" }, host,
       "Drag a point or the query line z, or click the plot to move z. Keyboard: Tab to a point or to z, " +
       "arrow keys move it (Shift: faster), Delete removes the point.");

    // The figure
    var svg = el("svg:svg", { viewBox: "0 0 " + W + " " + (H + WH), "class": "pg-svg", role: "group", tabindex: "-1",
                              "aria-label": "Data, fitted curves and the query; below, the weight of each point" }, host);
    el("svg:title", {}, svg, "Regression playground");
    var defs = el("svg:defs", {}, svg);
    var clip = el("svg:clipPath", { id: uid + "-clip" }, defs);
    el("svg:rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b }, clip);
    var clipW = el("svg:clipPath", { id: uid + "-clipw" }, defs);
    el("svg:rect", { x: M.l, y: H + 4, width: W - M.l - M.r, height: WH - 24 }, clipW);
    function sx(v) { return M.l + (v - xr[0]) / span * (W - M.l - M.r); }
    function sy(v) { return H - M.b - (v - yr[0]) / (yr[1] - yr[0]) * (H - M.t - M.b); }
    function ix(px) { return xr[0] + (px - M.l) / (W - M.l - M.r) * span; }
    function iy(py) { return yr[0] + (H - M.b - py) / (H - M.t - M.b) * (yr[1] - yr[0]); }
    var axes = el("svg:g", { "class": "pg-axes", "aria-hidden": "true" }, svg);
    var background = el("svg:rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b,
                                      "class": "pg-bg" }, svg);
    niceTicks(xr[0], xr[1], 6).forEach(function (v) {
      el("svg:line", { x1: sx(v), x2: sx(v), y1: H - M.b, y2: H - M.b + 4 }, axes);
      el("svg:text", { x: sx(v), y: H - M.b + 15, "text-anchor": "middle" }, axes, fmt(v));
    });
    niceTicks(yr[0], yr[1], 5).forEach(function (v) {
      el("svg:line", { x1: M.l - 4, x2: M.l, y1: sy(v), y2: sy(v) }, axes);
      el("svg:text", { x: M.l - 6, y: sy(v) + 4, "text-anchor": "end" }, axes, fmt(v));
    });
    el("svg:rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, "class": "pg-frame" }, axes);
    el("svg:text", { x: W - M.r, y: H - M.b - 6, "text-anchor": "end", "class": "pg-axis-label" }, axes, "x");
    el("svg:text", { x: M.l + 6, y: M.t + 14, "class": "pg-axis-label" }, axes, "y");
    var plot = el("svg:g", { "clip-path": "url(#" + uid + "-clip)" }, svg);
    var bands = {}, paths = {};
    names.forEach(function (n) {
      if (n === "gp") bands[n] = el("svg:path", { "class": "pg-band pg-" + n, "aria-hidden": "true" }, plot);
    });
    names.forEach(function (n) { paths[n] = el("svg:path", { "class": "pg-curve pg-" + n, "data-estimator": n }, plot); });
    var queryGroup = el("svg:g", { "class": "pg-query", tabindex: "0", role: "slider", "aria-label": "query z",
                                   "aria-describedby": uid + "-help", "aria-valuemin": String(xr[0]),
                                   "aria-valuemax": String(xr[1]) }, svg);
    var queryLine = el("svg:line", { y1: M.t, y2: H + WH - 20 }, queryGroup);
    var queryHit = el("svg:rect", { y: M.t, width: 14, height: H + WH - 20 - M.t, "class": "pg-hit" }, queryGroup);
    var queryKnob = el("svg:path", { d: "", "class": "pg-knob" }, queryGroup);
    var queryText = el("svg:text", { y: M.t + 12, "class": "pg-qlabel" }, queryGroup, "z");
    var pointLayer = el("svg:g", { "class": "pg-points" }, svg);
    // Weights panel
    var wTop = H + 4, wBottom = H + WH - 20;
    var waxes = el("svg:g", { "class": "pg-axes", "aria-hidden": "true" }, svg);
    el("svg:rect", { x: M.l, y: wTop, width: W - M.l - M.r, height: wBottom - wTop, "class": "pg-frame" }, waxes);
    var wLabel = el("svg:text", { x: M.l + 6, y: wTop + 13, "class": "pg-axis-label" }, waxes, "weight");
    var wZero = el("svg:line", { x1: M.l, x2: W - M.r, "class": "pg-zero" }, waxes);
    var wTickTop = el("svg:text", { x: M.l - 6, "text-anchor": "end" }, waxes);
    var wTickBottom = el("svg:text", { x: M.l - 6, "text-anchor": "end" }, waxes);
    var stems = el("svg:g", { "clip-path": "url(#" + uid + "-clipw)", "aria-hidden": "true" }, svg);
    var readout = el("p", { "class": "pg-readout", "aria-live": "polite" }, host);

    var last = null, pointNodes = [];

    function settings() {
      return { x: state.x.slice(), y: state.y.slice(), query: state.query, bandwidth: state.bandwidth, lam: state.lam,
               noise: state.noise, kernel: state.kernel, step: causal ? state.step : null,
               estimators: names.slice(), x_range: xr.slice() };
    }

    function pathOf(xs, ys) {
      var d = "", pen = false;
      for (var i = 0; i < xs.length; i++) {
        if (!isFinite(ys[i])) { pen = false; continue; }
        var py = Math.max(-1e4, Math.min(1e4, sy(ys[i])));
        d += (pen ? "L" : "M") + sx(xs[i]).toFixed(2) + " " + py.toFixed(2);
        pen = true;
      }
      return d;
    }

    function bandOf(xs, mean, sd) {
      var up = "", down = "";
      for (var i = 0; i < xs.length; i++) {
        up += (i ? "L" : "M") + sx(xs[i]).toFixed(2) + " " + Math.max(-1e4, sy(mean[i] + 2 * sd[i])).toFixed(2);
      }
      for (var k = xs.length - 1; k >= 0; k--) {
        down += "L" + sx(xs[k]).toFixed(2) + " " + Math.min(1e4, sy(mean[k] - 2 * sd[k])).toFixed(2);
      }
      return up + down + "Z";
    }

    function pointLabel(j) {
      var lab = "point " + (j + 1) + ": x = " + fmt(state.x[j]) + ", y = " + fmt(state.y[j]);
      if (causal && j >= state.step) lab += " (not yet seen at t = " + state.step + ")";
      return lab;
    }

    function buildPoints() {
      while (pointLayer.firstChild) pointLayer.removeChild(pointLayer.firstChild);
      pointNodes = state.x.map(function (_, j) {
        var g = el("svg:g", { "class": "pg-pt", tabindex: "0", role: "button", "data-index": String(j),
                             "aria-roledescription": "draggable point", "aria-describedby": uid + "-help" }, pointLayer);
        el("svg:circle", { r: 12, "class": "pg-hit" }, g);
        el("svg:circle", { r: 5.5, "class": "pg-dot" }, g);
        if (causal) el("svg:text", { "class": "pg-order", dy: -9, "text-anchor": "middle" }, g, String(j + 1));
        return g;
      });
    }

    function update() {
      var s = settings();
      last = evaluate(s);
      names.forEach(function (n) {
        var on = state.shown[n];
        paths[n].setAttribute("d", on ? pathOf(last.grid, last.curves[n]) : "");
        if (bands[n]) bands[n].setAttribute("d", on ? bandOf(last.grid, last.curves[n], last.sd[n]) : "");
      });
      if (pointNodes.length !== state.x.length) buildPoints();
      pointNodes.forEach(function (g, j) {
        g.setAttribute("transform", "translate(" + sx(state.x[j]).toFixed(2) + " " + sy(state.y[j]).toFixed(2) + ")");
        g.setAttribute("aria-label", pointLabel(j));
        g.classList.toggle("pg-sel", j === state.selected);
        g.classList.toggle("pg-future", causal && j >= state.step);
      });
      var qx = sx(state.query);
      queryLine.setAttribute("x1", qx); queryLine.setAttribute("x2", qx);
      queryHit.setAttribute("x", qx - 7);
      queryKnob.setAttribute("d", "M" + (qx - 6) + " " + (H - M.b) + "L" + (qx + 6) + " " + (H - M.b) + "L" + qx + " " +
                             (H - M.b - 9) + "Z");
      queryText.setAttribute("x", qx + 5);
      queryGroup.setAttribute("aria-valuenow", String(state.query));
      queryGroup.setAttribute("aria-valuetext", "z = " + fmt(state.query));
      // weights panel
      var w = last.weights[state.weightsOf] || [], top = 0, bottom = 0;
      w.forEach(function (v) { if (v > top) top = v; if (v < bottom) bottom = v; });
      if (top - bottom === 0) top = 1;
      var pad = 0.08 * (top - bottom), lo = bottom - (bottom < 0 ? pad : 0), hi = top + pad;
      function wy(v) { return wBottom - (v - lo) / (hi - lo) * (wBottom - wTop - 16); }
      while (stems.firstChild) stems.removeChild(stems.firstChild);
      wZero.setAttribute("y1", wy(0)); wZero.setAttribute("y2", wy(0));
      wTickTop.setAttribute("y", wy(top) + 4); wTickTop.textContent = fmt(top, 2);
      wTickBottom.setAttribute("y", wy(bottom) + 4); wTickBottom.textContent = fmt(bottom, 2);
      wLabel.textContent = "weight of each y_j in " + LABELS[state.weightsOf] + " at z";
      w.forEach(function (v, j) {
        var cx = sx(state.x[j]).toFixed(2);
        el("svg:line", { x1: cx, x2: cx, y1: wy(0), y2: wy(v), "class": "pg-stem pg-" + state.weightsOf }, stems);
        el("svg:circle", { cx: cx, cy: wy(v), r: 2.5, "class": "pg-stemhead pg-" + state.weightsOf }, stems);
      });
      // controls and readout
      sliders.h.output.textContent = fmt(state.bandwidth);
      if (sliders.lam) sliders.lam.output.textContent = fmt(state.lam);
      if (sliders.noise) sliders.noise.output.textContent = fmt(state.noise);
      if (stepInput) {
        stepInput.max = String(state.x.length);
        stepInput.value = String(state.step);
        stepOut.textContent = String(state.step);
      }
      addButton.disabled = state.x.length >= MAX_POINTS;
      removeButton.disabled = state.x.length <= 1;
      while (readout.firstChild) readout.removeChild(readout.firstChild);
      readout.appendChild(document.createTextNode("At the query z = "));
      el("span", { "class": "pg-val", "data-key": "query" }, readout, fmt(state.query));
      readout.appendChild(document.createTextNode(causal ? ", after t = " + state.step + " pairs:" : ":"));
      names.forEach(function (n, i) {
        readout.appendChild(document.createTextNode((i ? "; " : " ") + LABELS[n] + " ŷ = "));
        el("span", { "class": "pg-val", "data-key": n }, readout, fmt(last.at_query[n]));
        if (n === "gp") {
          readout.appendChild(document.createTextNode(" ± "));
          el("span", { "class": "pg-val", "data-key": "gp_sd" }, readout, fmt(last.sd_at_query[n]));
          readout.appendChild(document.createTextNode(" (sd)"));
        }
      });
      readout.appendChild(document.createTextNode("."));
      rootEl.setAttribute("data-pg-updates", String(Number(rootEl.getAttribute("data-pg-updates") || 0) + 1));
    }

    function clampX(v) { return Math.min(xr[1], Math.max(xr[0], v)); }
    function clampY(v) { return Math.min(yr[1], Math.max(yr[0], v)); }
    function select(j, focus) {
      state.selected = j;
      if (focus && pointNodes[j]) pointNodes[j].focus();
    }
    function addPoint() {
      if (state.x.length >= MAX_POINTS) return;
      var guess = last && isFinite(last.at_query[names[0]]) ? last.at_query[names[0]] : (yr[0] + yr[1]) / 2;
      var followStream = causal && state.step === state.x.length;
      state.x.push(state.query);
      state.y.push(clampY(guess));
      if (followStream) state.step = state.x.length;
      update();
      select(state.x.length - 1, true);
      update();
    }
    function removePoint(j) {
      if (state.x.length <= 1) return;
      if (j < 0 || j >= state.x.length) j = state.x.length - 1;
      state.x.splice(j, 1);
      state.y.splice(j, 1);
      if (causal) state.step = Math.max(1, Math.min(state.step, state.x.length));
      state.selected = -1;
      update();
      if (pointNodes.length) select(Math.min(j, pointNodes.length - 1), true);
      update();
    }
    addButton.addEventListener("click", addPoint);
    removeButton.addEventListener("click", function () { removePoint(state.selected); });
    resetButton.addEventListener("click", function () {
      state = initialState();
      sliders.h.set(state.bandwidth);
      if (sliders.lam) sliders.lam.set(state.lam);
      if (sliders.noise) sliders.noise.set(state.noise);
      if (kernelSelect) kernelSelect.value = state.kernel;
      weightsSelect.value = state.weightsOf;
      names.forEach(function (n) { toggles[n].checked = true; });
      update();
    });

    // Pointer: drag points and the query; a click on the plot moves the query.
    var drag = null;
    function svgPoint(event) {
      var p = svg.createSVGPoint();
      p.x = event.clientX; p.y = event.clientY;
      return p.matrixTransform(svg.getScreenCTM().inverse());
    }
    svg.addEventListener("pointerdown", function (event) {
      var target = event.target.closest ? event.target.closest(".pg-pt, .pg-query") : null;
      if (target && target.classList.contains("pg-pt")) {
        drag = { kind: "point", index: Number(target.getAttribute("data-index")) };
        select(drag.index, true);
      } else {
        drag = { kind: "query" };
        queryGroup.focus();
        var p = svgPoint(event);
        state.query = clampX(ix(p.x));
      }
      try { svg.setPointerCapture(event.pointerId); } catch (e) { /* not a real pointer */ }
      event.preventDefault();
      update();
    });
    svg.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var p = svgPoint(event);
      if (drag.kind === "point") {
        state.x[drag.index] = clampX(ix(p.x));
        state.y[drag.index] = clampY(iy(p.y));
      } else {
        state.query = clampX(ix(p.x));
      }
      update();
    });
    function endDrag() { drag = null; }
    svg.addEventListener("pointerup", endDrag);
    svg.addEventListener("pointercancel", endDrag);

    // Keyboard: arrows move the focused point or the query; Delete removes a point.
    svg.addEventListener("keydown", function (event) {
      var target = event.target, fast = event.shiftKey ? 10 : 1;
      var dx = { ArrowLeft: -1, ArrowRight: 1 }[event.key] || 0, dy = { ArrowDown: -1, ArrowUp: 1 }[event.key] || 0;
      if (target === queryGroup) {
        if (!dx && dy) dx = dy;
        if (event.key === "Home") state.query = xr[0];
        else if (event.key === "End") state.query = xr[1];
        else if (dx) state.query = clampX(state.query + dx * fast * span / 100);
        else return;
      } else if (target.classList && target.classList.contains("pg-pt")) {
        var j = Number(target.getAttribute("data-index"));
        state.selected = j;
        if (event.key === "Delete" || event.key === "Backspace") { event.preventDefault(); removePoint(j); return; }
        if (!dx && !dy) return;
        state.x[j] = clampX(state.x[j] + dx * fast * span / 100);
        state.y[j] = clampY(state.y[j] + dy * fast * (yr[1] - yr[0]) / 100);
      } else {
        return;
      }
      event.preventDefault();
      update();
    });
    svg.addEventListener("focusin", function (event) {
      var target = event.target;
      if (target.classList && target.classList.contains("pg-pt")) {
        state.selected = Number(target.getAttribute("data-index"));
        pointNodes.forEach(function (g, j) { g.classList.toggle("pg-sel", j === state.selected); });
      }
    });

    update();
    var api = {
      version: VERSION,
      /** The current setting (a copy). */
      state: function () {
        var s = settings();
        s.shown = JSON.parse(JSON.stringify(state.shown));
        s.weights_of = state.weightsOf;
        s.selected = state.selected;
        return s;
      },
      /** Every number the figure shows for the current setting (see evaluate). */
      evaluate: function () { return evaluate(settings()); },
      /** Change the setting (any of x, y, query, bandwidth, lam, noise, kernel, step) and redraw. */
      set: function (changes) {
        ["x", "y"].forEach(function (k) { if (changes[k]) state[k] = changes[k].slice(); });
        ["query", "bandwidth", "lam", "noise", "kernel", "step"].forEach(function (k) {
          if (changes[k] !== undefined) state[k] = changes[k];
        });
        if (causal) state.step = Math.max(1, Math.min(state.step, state.x.length));
        sliders.h.set(state.bandwidth);
        if (sliders.lam) sliders.lam.set(state.lam);
        if (sliders.noise) sliders.noise.set(state.noise);
        if (kernelSelect) kernelSelect.value = state.kernel;
        state.selected = -1;
        update();
        return api.state();
      }
    };
    rootEl.cubitPlayground = api;
    return api;
  }

  root.CubitPlayground = { version: VERSION, estimators: NAMES, maxPoints: MAX_POINTS, evaluate: evaluate,
                           mount: mount, pairwiseSum: pairwiseSum };
})(typeof window !== "undefined" ? window : globalThis);
