// The in-browser player: a recorded run arrives once (explorer/viz/player.py builds it) and is
// drawn, played and scrubbed here, with no server request. Panels share one clock; a panel with K
// frames shows frame round(f * (K - 1) / (F - 1)) at clock tick f of F. Points are int16 deltas
// (deflated, base64) on fixed axes [-lim, lim]; image runs are PNG sprite sheets. A "blend" panel
// computes x_t = signal[k] x0 + noise[k] eps itself (the forward process at every t, sent as x0 and
// one eps); a "bars" panel draws a histogram a frame with density curves over it.
(function () {
  "use strict";
  if (window.explorerPlayer) return;
  const BASE_TICKS_PER_S = 30; // clock ticks a second at 1x
  const SPEEDS = [0.25, 0.5, 1, 2, 4];
  const BACKGROUND = [246, 246, 249];
  const AXIS = [225, 225, 232];
  const OVERLAY = [236, 72, 153]; // the overlay set (the ideal x0_hat) in pink
  const SERIES_COLORS = ["#4f46e5", "#e11d48", "#059669", "#d97706"];
  const CURVE_WIDTH = 760, CURVE_MIN_WIDTH = 280; // the curve canvas's drawing width, in CSS pixels

  function bytesOf(b64) {
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  async function inflate(b64) {
    const stream = new Blob([bytesOf(b64)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  async function inflateValues(b64, lo, hi) {
    // bytes 0..255 on [lo, hi] (explorer/viz/player.py encode_bytes) as floats
    const raw = await inflate(b64), out = new Float32Array(raw.length), step = (hi - lo) / 255;
    for (let i = 0; i < raw.length; i++) out[i] = lo + raw[i] * step;
    return out;
  }

  async function inflateCoordinates(b64, n, lim, levels) {
    // one frame of points as floats on [-lim, lim]
    const q = await inflatePoints(b64, 1, n, levels), out = new Float32Array(2 * n), step = (2 * lim) / (levels - 1);
    for (let i = 0; i < 2 * n; i++) out[i] = -lim + q[i] * step;
    return out;
  }

  async function inflatePoints(b64, frames, n, levels) {
    // undo the deflate, then the delta coding along frames: 0..levels-1 integers, summed modulo 2^8
    // (one byte a coordinate) or 2^16 (two byte planes, low then high), as the encoder took them
    const raw = await inflate(b64);
    const size = frames * n * 2;
    let q;
    if (levels <= 256) q = raw;
    else {
      q = new Uint16Array(size);
      for (let i = 0; i < size; i++) q[i] = raw[i] | (raw[size + i] << 8);
    }
    const stride = n * 2;
    for (let k = 1; k < frames; k++) {
      const at = k * stride, before = at - stride;
      for (let j = 0; j < stride; j++) q[at + j] += q[before + j]; // typed arrays wrap: the modular sum
    }
    return q;
  }

  function packColors(b64, n) {
    const rgb = bytesOf(b64), out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = (255 << 24) | (rgb[3 * i + 2] << 16) | (rgb[3 * i + 1] << 8) | rgb[3 * i];
    return out;
  }

  function pack(rgb) { return (255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0]; }

  // the bar's glyphs as inline SVG: a font may lack "⏸" (Debian's Chromium with DejaVu drew an empty box)
  const ICONS = {
    play: '<path d="M4 2.5v11l9-5.5z"/>',
    pause: '<rect x="3.5" y="2.5" width="3" height="11"/><rect x="9.5" y="2.5" width="3" height="11"/>',
    back: '<rect x="2.5" y="3" width="2" height="10"/><path d="M13 3v10L5.5 8z"/>',
    next: '<rect x="11.5" y="3" width="2" height="10"/><path d="M3 3v10l7.5-5z"/>',
  };

  function icon(button, name) {
    button.innerHTML = `<svg viewBox="0 0 16 16" width="14" height="14" fill="currentColor" aria-hidden="true">${ICONS[name]}</svg>`;
  }

  function make(tag, attrs, parent) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  class Player {
    constructor(root, hint) {
      this.root = root;
      this.value = null;
      this.panels = [];
      this.tick = 0;
      this.playing = false;
      this.painted = 0; // frames drawn, for the browser tests' frame-rate measurement
      this.last = null;
      this.speed = 1;
      root.innerHTML = "";
      root.tabIndex = 0;
      root.classList.add("xp-root");
      const bar = make("div", { class: "xp-bar" }, root);
      this.playButton = make("button", { class: "xp-play", type: "button", "aria-label": "play" }, bar);
      this.backButton = make("button", { class: "xp-back", type: "button", "aria-label": "step back" }, bar);
      this.nextButton = make("button", { class: "xp-next", type: "button", "aria-label": "step forward" }, bar);
      icon(this.playButton, "play");
      icon(this.backButton, "back");
      icon(this.nextButton, "next");
      this.scrub = make("input", { class: "xp-scrub", type: "range", min: "0", max: "0", value: "0", step: "1",
        "aria-label": "frame" }, bar);
      this.speedBox = make("select", { class: "xp-speed", "aria-label": "speed" }, bar);
      for (const s of SPEEDS) make("option", { value: String(s), text: `${s}×` }, this.speedBox);
      this.speedBox.value = "1";
      const loopLabel = make("label", { class: "xp-loop-label" }, bar);
      this.loopBox = make("input", { class: "xp-loop", type: "checkbox" }, loopLabel);
      loopLabel.appendChild(document.createTextNode(" loop"));
      this.label = make("div", { class: "xp-label", "aria-live": "polite" }, root);
      this.stage = make("div", { class: "xp-stage" }, root);
      this.curveCanvas = make("canvas", { class: "xp-curve", width: String(CURVE_WIDTH), height: "170",
        "aria-label": "curve with a marker at the current frame" }, root);
      this.curveCanvas.style.display = "none";
      this.empty = make("div", { class: "xp-empty", text: hint || "Record a run to play it here." }, this.stage);
      this.playButton.addEventListener("click", () => this.toggle());
      this.backButton.addEventListener("click", () => this.step(-1));
      this.nextButton.addEventListener("click", () => this.step(1));
      this.scrub.addEventListener("input", () => { this.pause(); this.show(Number(this.scrub.value)); });
      this.speedBox.addEventListener("change", () => { this.speed = Number(this.speedBox.value); });
      root.addEventListener("keydown", (event) => {
        if (event.target === this.scrub && event.key !== " ") return; // the range input steps itself
        if (event.key === " ") { event.preventDefault(); this.toggle(); }
        else if (event.key === "ArrowLeft") { event.preventDefault(); this.step(-1); }
        else if (event.key === "ArrowRight") { event.preventDefault(); this.step(1); }
      });
      this.frame = this.frame.bind(this);
    }

    async load(value) {
      this.pause();
      this.value = value && value.panels ? value : null;
      this.stage.innerHTML = "";
      this.panels = [];
      if (!this.value) {
        this.stage.appendChild(this.empty);
        this.label.textContent = "";
        this.curveCanvas.style.display = "none";
        return;
      }
      // one row of equal columns, each canvas scaled to its column (two columns on a phone: player.py's CSS)
      const count = this.value.panels.length, size = count > 3 ? 240 : count > 2 ? 300 : 380;
      this.stage.style.gridTemplateColumns = `repeat(${count}, minmax(0, 1fr))`;
      for (const spec of this.value.panels) {
        const box = make("figure", { class: "xp-panel" }, this.stage);
        const canvas = make("canvas", { width: String(size), height: String(size + 22),
          "aria-label": spec.title }, box);
        const panel = { spec, canvas, ctx: canvas.getContext("2d"), side: size };
        if (spec.kind === "blend" && spec.form === "points") {
          panel.x0 = await inflateCoordinates(spec.x0, spec.n, spec.lim, spec.levels);
          panel.eps = await inflateCoordinates(spec.eps, spec.n, spec.eps_lim, spec.levels);
          panel.colors = packColors(spec.colors, spec.n);
          panel.image = panel.ctx.createImageData(size, size);
          panel.buffer = new Uint32Array(panel.image.data.buffer);
        } else if (spec.kind === "blend") {
          panel.x0 = await inflateValues(spec.x0, -1, 1);
          panel.eps = await inflateValues(spec.eps, -spec.eps_lim, spec.eps_lim);
          const gw = spec.cols * (spec.w + 2) + 2, rows = Math.ceil(spec.count / spec.cols);
          const gh = rows * (spec.h + 2) + 2;
          panel.grid = make("canvas", { width: String(gw), height: String(gh) });
          panel.gridCtx = panel.grid.getContext("2d");
          panel.gridImage = panel.gridCtx.createImageData(gw, gh);
        } else if (spec.kind === "bars") {
          panel.heights = await inflateValues(spec.heights, 0, 1); // each frame's share of its own maximum
          panel.lines = [];
          for (const line of spec.lines) panel.lines.push({ line, values: await inflateValues(line.data, 0, 1) });
        } else if (spec.kind === "points") {
          panel.xs = await inflatePoints(spec.data, spec.frames, spec.n, spec.levels);
          panel.colors = packColors(spec.colors, spec.n);
          if (spec.overlay) panel.overlay = await inflatePoints(spec.overlay.data, spec.frames, spec.overlay.n, spec.levels);
          panel.image = panel.ctx.createImageData(size, size);
          panel.buffer = new Uint32Array(panel.image.data.buffer);
        } else {
          panel.sprite = new Image();
          await new Promise((resolve, reject) => {
            panel.sprite.onload = resolve; panel.sprite.onerror = reject; panel.sprite.src = spec.sprite;
          });
        }
        this.panels.push(panel);
      }
      this.curveCanvas.style.display = this.value.curve ? "block" : "none";
      this.scrub.max = String(this.value.frames - 1);
      this.show(0);
    }

    frameOf(panel, tick) {
      const F = this.value.frames, K = panel.spec.frames;
      return F <= 1 ? 0 : Math.round((tick * (K - 1)) / (F - 1));
    }

    clearPoints(panel) {
      // the background and the axes through 0; returns dot(x, y, color) for pixel coordinates
      const { side, buffer } = panel, top = side - 1;
      buffer.fill(pack(BACKGROUND));
      const axis = pack(AXIS), centre = Math.round(top / 2);
      for (let i = 0; i < side; i++) { buffer[centre * side + i] = axis; buffer[i * side + centre] = axis; }
      return (fx, fy, color, size = 2) => { // a size x size square, its corner at (fx, fy) rounded
        const x = Math.round(fx - (size - 2) / 2), y = Math.round(fy - (size - 2) / 2);
        if (!(x >= 0 && y >= 0 && x <= side - size && y <= side - size)) return; // NaN too
        for (let dy = 0; dy < size; dy++) buffer.fill(color, (y + dy) * side + x, (y + dy) * side + x + size);
      };
    }

    drawBlendPoints(panel, k) {
      const { spec, ctx, side, x0, eps, colors } = panel;
      const a = spec.signal[k], s = spec.noise[k], half = (side - 1) / 2, scale = half / spec.lim;
      const plot = this.clearPoints(panel);
      for (let i = 0; i < spec.n; i++) {
        const x = a * x0[2 * i] + s * eps[2 * i], y = a * x0[2 * i + 1] + s * eps[2 * i + 1];
        plot(half + x * scale, half - y * scale, colors[i]);
      }
      ctx.putImageData(panel.image, 0, 22);
    }

    drawBlendImages(panel, k) {
      const { spec, ctx, side, x0, eps, gridImage } = panel;
      const a = spec.signal[k], s = spec.noise[k], { count, channels: C, h, w, cols } = spec;
      const out = gridImage.data, gw = gridImage.width, plane = h * w;
      out.fill(255);
      for (let b = 0; b < count; b++) {
        const ox = (b % cols) * (w + 2) + 2, oy = Math.floor(b / cols) * (h + 2) + 2, base = b * C * plane;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const at = 4 * ((oy + y) * gw + ox + x), p = base + y * w + x;
            for (let c = 0; c < 3; c++) {
              const j = p + (C === 1 ? 0 : c * plane), v = a * x0[j] + s * eps[j];
              out[at + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
            }
          }
        }
      }
      panel.gridCtx.putImageData(gridImage, 0, 0);
      ctx.fillStyle = "rgb(246, 246, 249)";
      ctx.fillRect(0, 22, side, side);
      ctx.imageSmoothingEnabled = false;
      const fit = Math.min(side / gw, side / gridImage.height), dw = gw * fit, dh = gridImage.height * fit;
      ctx.drawImage(panel.grid, (side - dw) / 2, 22 + (side - dh) / 2, dw, dh);
    }

    drawBars(panel, k) {
      const { spec, ctx, side, heights, lines } = panel;
      const left = 6, bottom = side + 22 - 18, height = side - 30, B = spec.bins;
      const px = (v) => left + ((v - spec.lo) / (spec.hi - spec.lo)) * (side - 2 * left);
      const py = (d) => bottom - d * height;
      ctx.fillStyle = "rgb(246, 246, 249)";
      ctx.fillRect(0, 22, side, side);
      ctx.fillStyle = "#c7d2fe";
      const width = (spec.hi - spec.lo) / B;
      for (let b = 0; b < B; b++) {
        const x = px(spec.lo + b * width), y = py(heights[k * B + b]);
        ctx.fillRect(x, y, px(spec.lo + (b + 1) * width) - x - 0.5, bottom - y);
      }
      lines.forEach(({ line, values }, j) => {
        const G = line.grid.length, at = (line.frames > 1 ? k : 0) * G;
        ctx.strokeStyle = `rgb(${line.color.join(",")})`;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        for (let g = 0; g < G; g++) {
          const x = px(line.grid[g]), y = py(values[at + g]);
          if (g === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
        }
        ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillText(line.name, side - 8 - ctx.measureText(line.name).width, 40 + 16 * j);
      });
      ctx.fillStyle = "#6b7280";
      ctx.fillText(String(spec.lo), left, side + 18);
      ctx.fillText(String(spec.hi), side - left - ctx.measureText(String(spec.hi)).width, side + 18);
    }

    drawPoints(panel, k) {
      const { spec, ctx, side } = panel;
      const n = spec.n, edge = spec.levels - 1, scale = (side - 1) / edge, top = side - 1; // 0 is -lim, edge +lim
      const plot = this.clearPoints(panel);
      // a coordinate on the rim was clipped there: the point is outside the view, and is not drawn
      const outside = (q, at) => q[at] === 0 || q[at + 1] === 0 || q[at] === edge || q[at + 1] === edge;
      const dot = (q, base, i, color, size) => {
        if (!outside(q, base + 2 * i)) plot(q[base + 2 * i] * scale, top - q[base + 2 * i + 1] * scale, color, size);
      };
      if (panel.overlay) { // under the model's points, so both stay visible where they agree
        const m = spec.overlay.n, color = pack(spec.overlay.color || OVERLAY), at = k * m * 2;
        for (let i = 0; i < m; i++) dot(panel.overlay, at, i, color);
      }
      const base = k * n * 2;
      for (let i = 0; i < n; i++) dot(panel.xs, base, i, panel.colors[i], spec.dot || 2);
      ctx.putImageData(panel.image, 0, 22);
      if (spec.paths && spec.paths.length && k > 0) {
        ctx.strokeStyle = "rgba(40, 40, 48, 0.35)";
        ctx.lineWidth = 1;
        for (const i of spec.paths) {
          ctx.beginPath();
          let drawing = false; // a path leaves off where its point is outside the view
          for (let f = 0; f <= k; f++) {
            const at = f * n * 2 + 2 * i;
            if (outside(panel.xs, at)) { drawing = false; continue; }
            const x = panel.xs[at] * scale, y = 22 + top - panel.xs[at + 1] * scale;
            if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
            drawing = true;
          }
          ctx.stroke();
        }
      }
    }

    drawImages(panel, k) {
      const { spec, ctx, side, sprite } = panel;
      const col = k % spec.cols, row = Math.floor(k / spec.cols);
      ctx.fillStyle = "rgb(246, 246, 249)";
      ctx.fillRect(0, 22, side, side);
      ctx.imageSmoothingEnabled = false;
      const fit = Math.min(side / spec.width, side / spec.height);
      const w = spec.width * fit, h = spec.height * fit;
      ctx.drawImage(sprite, col * spec.width, row * spec.height, spec.width, spec.height,
        (side - w) / 2, 22 + (side - h) / 2, w, h);
    }

    drawCurve(tick) {
      const curve = this.value.curve;
      if (!curve) return;
      const canvas = this.curveCanvas;
      // drawn at the width it is shown (a phone's 330 px, not 760 scaled down to a 74 px strip)
      const shown = Math.round(canvas.clientWidth) || CURVE_WIDTH;
      const fit = Math.max(CURVE_MIN_WIDTH, Math.min(CURVE_WIDTH, shown));
      if (canvas.width !== fit) canvas.width = fit;
      const ctx = canvas.getContext("2d");
      ctx.font = "12px sans-serif";
      // the legend's entries side by side while they fit, else on further lines (a phone)
      const W = canvas.width, left = 48, right = 12, bottom = 24, entries = [];
      let lineX = left, line = 0;
      for (const name of Object.keys(curve.series)) {
        const width = ctx.measureText("— " + name).width + 16;
        if (lineX > left && lineX + width > W - right) { lineX = left; line += 1; }
        entries.push([lineX, 30 + 14 * line]);
        lineX += width;
      }
      const top = 38 + 14 * line, H = 132 + top;
      if (canvas.height !== H) canvas.height = H;
      ctx.clearRect(0, 0, W, H);
      const xs = curve.x, all = Object.values(curve.series).flat().filter(Number.isFinite);
      let lo = Math.min(...all), hi = Math.max(...all);
      if (hi - lo < 1e-12) { hi += 1; lo -= 1; }
      let x0 = Math.min(...xs), x1 = Math.max(...xs);
      if (x1 === x0) x1 = x0 + 1;
      const px = (x) => { const u = (x - x0) / (x1 - x0); return left + (curve.reversed ? 1 - u : u) * (W - left - right); };
      const py = (y) => top + (1 - (y - lo) / (hi - lo)) * (H - top - bottom);
      ctx.font = "12px sans-serif";
      ctx.fillStyle = "#28283a";
      ctx.fillText(curve.title, left, 14);
      ctx.save();
      ctx.strokeStyle = "#d1d5db";
      ctx.strokeRect(left, top, W - left - right, H - top - bottom);
      ctx.fillText(lo.toPrecision(3), 2, H - bottom);
      ctx.fillText(hi.toPrecision(3), 2, top + 10);
      ctx.fillText(`${curve.x_label} ${x1}`, curve.reversed ? left : W - right - 60, H - 6);
      ctx.fillText(`${x0}`, curve.reversed ? W - right - 30 : left, H - 6);
      Object.entries(curve.series).forEach(([name, ys], s) => {
        ctx.strokeStyle = (curve.colors && curve.colors[name]) || SERIES_COLORS[s % SERIES_COLORS.length];
        ctx.beginPath();
        ys.forEach((y, i) => { if (i === 0) ctx.moveTo(px(xs[i]), py(y)); else ctx.lineTo(px(xs[i]), py(y)); });
        ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillText("— " + name, entries[s][0], entries[s][1]);
      });
      ctx.restore();
      const x = px(xs[Math.min(tick, xs.length - 1)]);
      ctx.strokeStyle = "#111827";
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, H - bottom); ctx.stroke();
    }

    show(tick) {
      if (!this.value) return;
      this.tick = Math.max(0, Math.min(this.value.frames - 1, tick));
      for (const panel of this.panels) {
        const k = this.frameOf(panel, this.tick);
        const { ctx, side, spec } = panel;
        if (spec.kind === "points") this.drawPoints(panel, k);
        else if (spec.kind === "blend") {
          if (spec.form === "points") this.drawBlendPoints(panel, k); else this.drawBlendImages(panel, k);
        } else if (spec.kind === "bars") this.drawBars(panel, k);
        else this.drawImages(panel, k);
        ctx.fillStyle = "#ffffff";
        ctx.fillRect(0, 0, side, 22);
        ctx.fillStyle = "#28283a";
        ctx.font = "13px sans-serif";
        ctx.fillText(spec.captions ? spec.captions[k] : spec.title, 4, 15);
      }
      this.drawCurve(this.tick);
      this.scrub.value = String(this.tick);
      this.label.textContent = this.value.labels[this.tick];
      this.painted += 1;
      this.root.dataset.tick = String(this.tick);
    }

    frame(now) {
      if (!this.playing) return;
      if (this.last === null) this.last = now;
      const advance = ((now - this.last) / 1000) * BASE_TICKS_PER_S * this.speed;
      if (advance >= 1 || this.speed * BASE_TICKS_PER_S >= 60) {
        const steps = Math.max(1, Math.floor(advance));
        let next = this.tick + steps;
        if (next > this.value.frames - 1) {
          if (this.loopBox.checked) next = 0; else { this.show(this.value.frames - 1); this.pause(); return; }
        }
        this.last = now;
        this.show(next);
      }
      requestAnimationFrame(this.frame);
    }

    play() {
      if (!this.value || this.playing) return;
      if (this.tick >= this.value.frames - 1) this.show(0);
      this.playing = true;
      this.last = null;
      icon(this.playButton, "pause");
      this.playButton.setAttribute("aria-label", "pause");
      requestAnimationFrame(this.frame);
    }

    pause() {
      this.playing = false;
      icon(this.playButton, "play");
      this.playButton.setAttribute("aria-label", "play");
    }

    toggle() { if (this.playing) this.pause(); else this.play(); }

    step(delta) { this.pause(); this.show(this.tick + delta); }
  }

  window.explorerPlayer = {
    Player,
    mount(element, props, watch) {
      const root = element.querySelector(".xp-player") || element;
      const player = new Player(root, props.hint);
      element.explorerPlayer = player;
      const block = element.closest(".block"); // the component's box, which carries its elem_id
      if (block) block.explorerPlayer = player;
      (window.explorerPlayers = window.explorerPlayers || []).push(player);
      const load = () => player.load(props.value).catch((error) => {
        player.label.textContent = "could not draw this run: " + error;
      });
      if (props.value) load();
      watch("value", load);
      return player;
    },
  };
})();
