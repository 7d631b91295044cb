/* emotiond dashboard: the log-mel spectrogram panel with the speech gate strip under it.
 *
 * Emo.Spectrogram(canvas, opts) -> view. opts: seconds (shown), hopMs() (the stream's hop, read
 * when the bands change), wantFrames (false: the page did not subscribe), background, font,
 * onBands(mels) (called when the band count is first seen or changes).
 * view.push(frame, speech) writes one column, view.flush() ends a message's columns,
 * view.draw() paints the canvas, view.reset() forgets the picture (new stream),
 * view.state: the ring (n, head, cols, mels, gate, available: null = unknown, false = the daemon
 * publishes no frames), read by the page's frame loop and by the browser tests.
 *
 * Performance promises: the columns live in an offscreen canvas of `seconds` of columns written
 * in ring order and blitted in two pieces, so nothing is ever shifted or reallocated after the
 * band count is known; columns are put in one ImageData per message, not one call per column.
 */
'use strict';

(function (Emo) {
  const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  const LUT = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = i / 255 * (VIRIDIS.length - 1), a = Math.floor(x), b = Math.min(VIRIDIS.length - 1, a + 1), f = x - a;
    for (let ch = 0; ch < 3; ch++) LUT[i * 3 + ch] = VIRIDIS[a][ch] + (VIRIDIS[b][ch] - VIRIDIS[a][ch]) * f;
  }
  /* putImageData per column would be 100 calls a second, each a canvas flush. */
  const SPEC_BATCH = 128;

  Emo.Spectrogram = function (canvas, opts) {
    const SPEC_S = opts.seconds;
    const g = canvas.getContext('2d', { alpha: false });
    const spec = { off: null, offCtx: null, col: null, cols: 0, mels: 0, head: 0, n: 0, gate: null,
      lo: NaN, hi: NaN, available: null, lastT: NaN };

    function init(mels) {
      spec.mels = mels;
      spec.cols = Math.ceil(SPEC_S * 1000 / opts.hopMs());
      spec.off = document.createElement('canvas');
      spec.off.width = spec.cols; spec.off.height = mels;
      spec.offCtx = spec.off.getContext('2d');
      spec.offCtx.fillStyle = '#10131a';
      spec.offCtx.fillRect(0, 0, spec.cols, mels);
      spec.batch = spec.offCtx.createImageData(SPEC_BATCH, mels);
      spec.batchN = 0; spec.batchAt = 0;
      spec.gate = new Uint8Array(spec.cols);
      spec.head = 0; spec.n = 0;
      opts.onBands(mels);
    }
    function flush() {
      if (!spec.off || !spec.batchN) return;
      const n = spec.batchN, at = spec.batchAt, a = Math.min(n, spec.cols - at);
      spec.offCtx.putImageData(spec.batch, at, 0, 0, 0, a, spec.mels);
      if (a < n) spec.offCtx.putImageData(spec.batch, -a, 0, a, 0, n - a, spec.mels);   // wrapped
      spec.batchN = 0;
    }
    function push(frame, speech) {
      if (!spec.off || spec.mels !== frame.length) { flush(); init(frame.length); }
      if (spec.batchN === SPEC_BATCH) flush();
      if (!spec.batchN) spec.batchAt = spec.head;
      // Auto-range: fast attack, slow release, so the picture adapts to the model's normalisation
      // and the room without flicker.
      let mn = Infinity, mx = -Infinity;
      for (let i = 0; i < frame.length; i++) { const v = frame[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
      if (!isFinite(spec.lo)) { spec.lo = mn; spec.hi = mx + 1e-3; }
      spec.lo += (mn < spec.lo ? 0.3 : 0.002) * (mn - spec.lo);
      spec.hi += (mx > spec.hi ? 0.3 : 0.002) * (mx - spec.hi);
      const span = Math.max(1e-3, spec.hi - spec.lo);
      const d = spec.batch.data, M = spec.mels, stride = SPEC_BATCH * 4, x = spec.batchN * 4;
      for (let m = 0; m < M; m++) {
        const v = (frame[m] - spec.lo) / span;
        const q = (v <= 0 ? 0 : v >= 1 ? 255 : (v * 255) | 0) * 3;
        const o = (M - 1 - m) * stride + x;                           // low bands at the bottom
        d[o] = LUT[q]; d[o + 1] = LUT[q + 1]; d[o + 2] = LUT[q + 2]; d[o + 3] = 255;
      }
      spec.batchN++;
      spec.gate[spec.head] = speech ? 1 : 0;
      spec.head = (spec.head + 1) % spec.cols;
      if (spec.n < spec.cols) spec.n++;
    }
    function draw() {
      const dpr = canvas.width / Math.max(1, canvas.clientWidth);
      const W = canvas.width, H = canvas.height;
      const gateH = 10 * dpr, gap = 4 * dpr, axisH = 16 * dpr;
      const sh = H - gateH - gap - axisH;
      g.fillStyle = opts.background; g.fillRect(0, 0, W, H);
      g.font = opts.font.replace('12px', Math.round(11 * dpr) + 'px');
      if (!spec.off) {
        g.fillStyle = '#10131a'; g.fillRect(0, 0, W, sh);
        g.fillStyle = '#9aa4b1'; g.textAlign = 'center'; g.textBaseline = 'middle';
        g.fillText(spec.available === false ? 'this daemon does not publish log-mel frames'
          : opts.wantFrames ? 'waiting for log-mel frames…' : 'frame stream off (?frames=0)', W / 2, sh / 2);
        return;
      }
      // The ring's oldest column is at head once full; draw [head..cols) then [0..head).
      const cols = spec.cols, head = spec.head;
      const colW = W / cols;
      g.imageSmoothingEnabled = true;
      if (spec.n === cols) {
        const a = cols - head;
        if (a > 0) g.drawImage(spec.off, head, 0, a, spec.mels, 0, 0, a * colW, sh);
        if (head > 0) g.drawImage(spec.off, 0, 0, head, spec.mels, a * colW, 0, head * colW, sh);
      } else {
        g.fillStyle = '#10131a'; g.fillRect(0, 0, (cols - spec.n) * colW, sh);
        g.drawImage(spec.off, 0, 0, spec.n, spec.mels, (cols - spec.n) * colW, 0, spec.n * colW, sh);
      }
      // speech gate strip, run-length drawn
      const gy = sh + gap;
      g.fillStyle = '#2a303b'; g.fillRect(0, gy, W, gateH);
      g.fillStyle = '#009E73';
      const start = spec.n === cols ? head : 0, x0 = (cols - spec.n) * colW;
      let run = -1;
      for (let j = 0; j <= spec.n; j++) {
        const open = j < spec.n && spec.gate[(start + j) % cols] === 1;
        if (open && run < 0) run = j;
        if (!open && run >= 0) { g.fillRect(x0 + run * colW, gy, (j - run) * colW + 0.5, gateH); run = -1; }
      }
      // time axis
      g.fillStyle = '#9aa4b1'; g.textBaseline = 'top';
      const step = SPEC_S <= 12 ? 2 : SPEC_S <= 30 ? 5 : 10;
      for (let s = 0; s <= SPEC_S; s += step) {
        const x = W - (s / SPEC_S) * W;
        g.textAlign = s === 0 ? 'right' : s === SPEC_S ? 'left' : 'center';
        g.fillText(s === 0 ? 'now' : '−' + s + ' s', x, gy + gateH + 3 * dpr);
      }
    }
    function reset() { spec.off = null; spec.lo = spec.hi = NaN; spec.available = null; }
    return { state: spec, push: push, flush: flush, draw: draw, reset: reset };
  };
})(window.Emo);
