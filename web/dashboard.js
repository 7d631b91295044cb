/* emotiond dashboard (/): live posteriors, 60 s timeline, log-mel spectrogram with the speech gate
 * (spectrogram.js), event log and daemon status.
 *
 * Performance promises (an operator leaves this open all day on a modest laptop):
 * - messages only write into preallocated typed-array rings; all drawing happens once per
 *   animation frame (requestAnimationFrame, so nothing is drawn in a hidden tab), and a frame
 *   is requested only when something changed or the timeline scrolled by a pixel;
 * - the DOM is built once per hello (bars, legend) and then only text nodes and transforms change,
 *   and only when their value changed;
 * - memory is bounded: rings of fixed size, an event log capped at EVENT_MAX rows.
 *
 * Query parameters: ?token=T (daemon bearer token); ?ws=PATH|URL (WebSocket endpoint, default
 * /ws; none = no connection, messages only through window.emotiondDashboard.feed(msg));
 * ?window=S (timeline seconds, 10..600, default 60); ?spec=S (spectrogram seconds, 2..60,
 * default 10); ?frames=0 (do not subscribe to the log-mel frame stream).
 */
'use strict';

(function () {
  const P = Emo.params();
  const clampNum = (v, lo, hi, dflt) => { const x = parseFloat(v); return isFinite(x) ? Math.min(hi, Math.max(lo, x)) : dflt; };
  const WINDOW_S = clampNum(P.get('window'), 10, 600, 60);
  const SPEC_S = clampNum(P.get('spec'), 2, 60, 10);
  const WANT_FRAMES = P.get('frames') !== '0';
  const EVENT_MAX = 200;
  const METRICS_EVERY_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const text = {};
  ['conn-text', 'hdr-input', 'hdr-model', 'top-label', 'top-conf', 'speech-flag', 'st-input', 'st-model',
    'st-daemon', 'st-rates', 'st-time', 'st-latency', 'st-proc', 'st-overruns', 'st-drops', 'st-subs', 'st-conns',
    'ev-count', 'sp-sub', 'tl-secs'].forEach((id) => { text[id] = new Emo.LiveText($(id)); });
  text['tl-secs'].set(WINDOW_S);
  const connEl = $('conn');
  const readoutEl = $('readout');

  // Carry the token (and endpoint) over to the kiosk link.
  if (location.search) $('kiosk-link').href = 'kiosk' + location.search;

  /* ---------------- state ---------------- */
  let labels = [];
  let colours = [];
  let K = 0;
  let hopMs = 10;
  let publishHz = 10;
  let latest = null;        // newest posteriors message
  let latestVersion = 0;    // bumped per message; the frame loop draws when it changed
  let drawnVersion = -1;
  let lastArrival = 0;      // performance.now() of the newest posteriors
  let lastT = NaN;          // its stream time

  /* Timeline ring: enough slots for the window at 100 Hz (the highest useful publish rate: one
   * message per hop); faster publishing is decimated on insert. */
  const TL_CAP = Math.ceil(WINDOW_S * 100) + 8;
  const tl = { t: new Float64Array(TL_CAP), s: new Uint8Array(TL_CAP), p: null, head: 0, n: 0 };
  function tlReset(k) { tl.p = new Float32Array(TL_CAP * Math.max(1, k)); tl.head = 0; tl.n = 0; }
  function tlPush(t, probs, speech) {
    if (tl.n > 0) {
      const prev = tl.t[(tl.head + TL_CAP - 1) % TL_CAP];
      if (t < prev - 0.5) { tl.n = 0; tl.head = 0; evMarks.n = 0; }   // stream restarted
      else if (t - prev < 0.0099) return;                            // >100 Hz: decimate
    }
    const i = tl.head;
    tl.t[i] = t;
    tl.s[i] = speech ? 1 : 0;
    const base = i * K;
    for (let k = 0; k < K; k++) tl.p[base + k] = probs && k < probs.length ? probs[k] : NaN;
    tl.head = (i + 1) % TL_CAP;
    if (tl.n < TL_CAP) tl.n++;
  }

  /* Event marks on the timeline (onset/offset ticks), bounded. */
  const EV_CAP = 256;
  const evMarks = { t: new Float64Array(EV_CAP), k: new Int16Array(EV_CAP), on: new Uint8Array(EV_CAP), head: 0, n: 0 };

  /* ---------------- bars + legend (built once per hello) ---------------- */
  let barFill = [], barPct = [], barRow = [], barShown = [];
  function buildLabels() {
    const bars = $('bars');
    const legend = $('legend');
    bars.textContent = '';
    legend.textContent = '';
    barFill = []; barPct = []; barRow = []; barShown = [];
    labels.forEach((name, k) => {
      const li = document.createElement('li');
      li.style.setProperty('--c', colours[k]);
      li.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
      li.querySelector('.name').textContent = name;
      bars.appendChild(li);
      barRow.push(li);
      barFill.push(li.querySelector('.fill'));
      barPct.push(new Emo.LiveText(li.querySelector('.pct')));
      barShown.push(-1);

      const lg = document.createElement('li');
      const dash = Emo.DASHES[k % Emo.DASHES.length].join(' ');
      lg.innerHTML = '<svg viewBox="0 0 26 8" aria-hidden="true"><line x1="1" y1="4" x2="25" y2="4" stroke-width="2.5" stroke-linecap="butt"/></svg><span></span>';
      const line = lg.querySelector('line');
      line.setAttribute('stroke', colours[k]);
      if (dash) line.setAttribute('stroke-dasharray', dash);
      lg.querySelector('span').textContent = name;
      legend.appendChild(lg);
    });
  }

  let topIndex = -1;
  function updateNow() {
    const m = latest;
    if (!m) return;
    const speech = m.speech !== false;
    readoutEl.dataset.speech = speech ? 'true' : 'false';
    const probs = Array.isArray(m.probs) ? m.probs : null;
    let top = -1;
    if (probs) for (let k = 0; k < K; k++) if (top < 0 || probs[k] > probs[top]) top = k;
    if (m.top) { const i = labels.indexOf(m.top); if (i >= 0) top = i; }
    if (speech) {
      text['top-label'].set(m.top || (top >= 0 ? labels[top] : '—'));
      const conf = typeof m.conf === 'number' ? m.conf : (top >= 0 && probs ? probs[top] : NaN);
      text['top-conf'].set(isFinite(conf) ? Math.round(conf * 100) + ' %' : '');
      text['speech-flag'].set('speech');
    } else {
      text['top-label'].set('no speech');
      text['top-conf'].set('');
      text['speech-flag'].set('gate closed');
    }
    for (let k = 0; k < K; k++) {
      const v = probs && isFinite(probs[k]) ? Math.max(0, Math.min(1, probs[k])) : 0;
      const q = Math.round(v * 1000);                 // 0.1 % steps: no transform churn below that
      if (q !== barShown[k]) {
        barShown[k] = q;
        barFill[k].style.transform = 'scaleX(' + (q / 1000) + ')';
        barPct[k].set(probs ? Math.round(v * 100) + '%' : '');
      }
    }
    const shownTop = speech ? top : -1;
    if (shownTop !== topIndex) {
      if (topIndex >= 0 && barRow[topIndex]) barRow[topIndex].classList.remove('is-top');
      if (shownTop >= 0 && barRow[shownTop]) barRow[shownTop].classList.add('is-top');
      topIndex = shownTop;
    }
  }

  /* ---------------- canvases ---------------- */
  function fitCanvas(c) {
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    const r = c.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; return true; }
    return false;
  }
  const tlCanvas = $('timeline');
  // Opaque canvases: the compositor need not blend them with the card behind.
  const CARD_BG = '#161a21';
  const draws = { timeline: 0, spectrogram: 0 };
  const tlCtx = tlCanvas.getContext('2d', { alpha: false });
  const spCanvas = $('spectrogram');
  let layoutDirty = true;
  if (window.ResizeObserver) new ResizeObserver(() => { layoutDirty = true; }).observe(document.body);
  else window.addEventListener('resize', () => { layoutDirty = true; });

  const FONT = '12px system-ui, "DejaVu Sans", sans-serif';

  function streamNow() {
    if (!isFinite(lastT)) return NaN;
    // Scroll smoothly between messages, but never run more than two publish periods ahead of
    // the data (a stalled stream visibly stops).
    const ahead = Math.min((performance.now() - lastArrival) / 1000, 2 / Math.max(1, publishHz));
    return lastT + ahead;
  }

  /* The grid and axis labels change only with the canvas size: drawn once into an offscreen
   * canvas and copied under every redraw (text raster is the dearest part of a redraw). */
  let tlGrid = null;
  function timelineGrid(W, H, dpr, padL, padT, pw, ph) {
    if (tlGrid && tlGrid.width === W && tlGrid.height === H) return tlGrid;
    tlGrid = document.createElement('canvas');
    tlGrid.width = W; tlGrid.height = H;
    const g = tlGrid.getContext('2d', { alpha: false });
    g.fillStyle = CARD_BG; g.fillRect(0, 0, W, H);
    g.font = FONT.replace('12px', Math.round(11 * dpr) + 'px');
    g.lineWidth = 1;
    g.fillStyle = '#9aa4b1';
    g.strokeStyle = '#262c37';
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (let y = 0; y <= 4; y++) {
      const yy = padT + ph - (y / 4) * ph;
      g.beginPath(); g.moveTo(padL, Math.round(yy) + 0.5); g.lineTo(padL + pw, Math.round(yy) + 0.5); g.stroke();
      if (y % 2 === 0) g.fillText((y * 25) + '%', padL - 5 * dpr, yy);
    }
    g.textAlign = 'center'; g.textBaseline = 'top';
    const step = WINDOW_S <= 60 ? 10 : WINDOW_S <= 180 ? 30 : 60;
    for (let s = 0; s <= WINDOW_S; s += step) {
      const x = padL + pw - (s / WINDOW_S) * pw;
      g.beginPath(); g.moveTo(Math.round(x) + 0.5, padT); g.lineTo(Math.round(x) + 0.5, padT + ph); g.stroke();
      g.fillText(s === 0 ? 'now' : '−' + s + ' s', Math.min(W - 14 * dpr, Math.max(padL + 10 * dpr, x)), padT + ph + 4 * dpr);
    }
    return tlGrid;
  }

  function drawTimeline(now) {
    const c = tlCanvas, g = tlCtx;
    const dpr = c.width / Math.max(1, c.clientWidth);
    const W = c.width, H = c.height;
    const padL = 34 * dpr, padB = 18 * dpr, padT = 6 * dpr, padR = 6 * dpr;
    const pw = W - padL - padR, ph = H - padT - padB;
    draws.timeline++;
    g.drawImage(timelineGrid(W, H, dpr, padL, padT, pw, ph), 0, 0);
    const xOf = (t) => padL + pw - ((now - t) / WINDOW_S) * pw;
    if (!tl.n || !isFinite(now)) return;

    g.save();
    g.beginPath(); g.rect(padL, padT, pw, ph); g.clip();
    const first = (tl.head - tl.n + TL_CAP) % TL_CAP;
    // Speech gate closed: shaded spans (no emotion is claimed there).
    g.fillStyle = 'rgba(120,130,145,0.13)';
    let runStart = -1;
    for (let j = 0; j < tl.n; j++) {
      const i = (first + j) % TL_CAP;
      const closed = tl.s[i] === 0;
      if (closed && runStart < 0) runStart = tl.t[i];
      if ((!closed || j === tl.n - 1) && runStart >= 0) {
        const x0 = xOf(runStart), x1 = closed ? xOf(tl.t[i]) + 2 : xOf(tl.t[i]);
        g.fillRect(x0, padT, Math.max(1, x1 - x0), ph);
        runStart = -1;
      }
    }
    // One line per label; decimate to about two points per device pixel.
    let j0 = 0;
    while (j0 < tl.n && tl.t[(first + j0) % TL_CAP] < now - WINDOW_S - 1) j0++;
    const visible = tl.n - j0;
    const stride = Math.max(1, Math.floor(visible / (pw / 2)));
    g.lineWidth = 2 * dpr;
    g.lineJoin = 'round';
    for (let k = 0; k < K; k++) {
      g.strokeStyle = colours[k];
      const d = Emo.DASHES[k % Emo.DASHES.length];
      g.setLineDash(d.length ? d.map((v) => v * dpr) : d);
      g.beginPath();
      let pen = false;
      for (let j = j0; j < tl.n; j += (j + stride < tl.n || j === tl.n - 1) ? stride : (tl.n - 1 - j)) {
        const i = (first + j) % TL_CAP;
        const v = tl.p[i * K + k];
        if (!isFinite(v)) { pen = false; if (j === tl.n - 1) break; continue; }
        const x = xOf(tl.t[i]), y = padT + ph - v * ph;
        if (pen) g.lineTo(x, y); else { g.moveTo(x, y); pen = true; }
        if (j === tl.n - 1) break;
      }
      g.stroke();
    }
    g.setLineDash([]);
    // event ticks: filled triangle at onset, hollow at offset, in the label's colour
    for (let e = 0; e < evMarks.n; e++) {
      const i = (evMarks.head - 1 - e + EV_CAP) % EV_CAP;
      const x = xOf(evMarks.t[i]);
      if (x < padL - 10) break;
      const col = colours[evMarks.k[i]] || '#ccc';
      g.strokeStyle = col; g.fillStyle = col; g.lineWidth = 1.5 * dpr;
      g.beginPath(); g.moveTo(x, padT); g.lineTo(x, padT + ph); g.globalAlpha = 0.5; g.stroke(); g.globalAlpha = 1;
      g.beginPath(); g.moveTo(x - 5 * dpr, padT); g.lineTo(x + 5 * dpr, padT); g.lineTo(x, padT + 8 * dpr); g.closePath();
      if (evMarks.on[i]) g.fill(); else g.stroke();
    }
    g.restore();
  }

  /* ---- spectrogram (spectrogram.js) ---- */
  const specView = Emo.Spectrogram(spCanvas, { seconds: SPEC_S, hopMs: () => hopMs, wantFrames: WANT_FRAMES,
    background: CARD_BG, font: FONT, onBands: (mels) => text['sp-sub'].set(mels + ' bands · last ' + SPEC_S + ' s') });
  const spec = specView.state;
  function drawSpectrogram() { draws.spectrogram++; specView.draw(); }

  /* ---------------- event log ---------------- */
  const evList = $('events');
  let evCount = 0;
  function addEvent(m) {
    const k = labels.indexOf(m.label);
    const onset = m.state === 'onset' || m.kind === 'onset' || m.edge === 'onset';
    if (typeof m.t === 'number') {
      const i = evMarks.head;
      evMarks.t[i] = m.t; evMarks.k[i] = k; evMarks.on[i] = onset ? 1 : 0;
      evMarks.head = (i + 1) % EV_CAP;
      if (evMarks.n < EV_CAP) evMarks.n++;
    }
    const empty = $('ev-empty');
    if (empty) empty.remove();
    const li = document.createElement('li');
    li.className = onset ? 'onset' : 'offset';
    li.style.setProperty('--c', k >= 0 ? colours[k] : '#ccc');
    const when = m.wall ? new Date(m.wall) : new Date();
    const tm = document.createElement('time');
    tm.textContent = isNaN(when) ? '' : when.toLocaleTimeString([], { hour12: false });
    tm.title = (typeof m.t === 'number' ? 'stream time ' + m.t.toFixed(2) + ' s' : '') + (m.wall ? ' · ' + m.wall : '');
    const lab = document.createElement('span');
    lab.className = 'lab';
    lab.textContent = m.label || '?';
    const kind = document.createElement('span');
    kind.className = 'kind';
    const held = typeof m.held_s === 'number' ? ' ' + m.held_s.toFixed(1) + ' s' : '';
    kind.textContent = (onset ? 'onset' : 'offset') + held;
    li.append(tm, lab, kind);
    evList.insertBefore(li, evList.firstChild);
    evCount++;
    while (evList.childElementCount > EVENT_MAX) evList.lastElementChild.remove();
    text['ev-count'].set(evCount > EVENT_MAX ? evCount + ' (newest ' + EVENT_MAX + ' shown)' : String(evCount));
  }

  /* ---------------- status ---------------- */
  /* Counters come from status messages (pushed by the daemon); /metrics is polled only for what
   * status does not carry (a daemon without status latency figures still shows its histogram). */
  const counters = { overruns: NaN, drops: NaN, subs: NaN, sidecars: NaN,
    lat50: NaN, lat99: NaN, proc50: NaN, proc99: NaN };
  let statusLatency = false, statusProc = false;
  let inputKind = '', helloInput = '';
  const ms = (v) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
  function showCounters() {
    const fmt = (v) => isFinite(v) ? String(Math.round(v)) : '—';
    text['st-overruns'].set(fmt(counters.overruns));
    $('st-overruns').classList.toggle('bad', counters.overruns > 0);
    const missed = client.seqGaps;
    text['st-drops'].set(fmt(counters.drops) + (missed ? ' · this page missed ' + missed : ''));
    text['st-subs'].set(fmt(counters.subs) + (counters.sidecars > 0 ? ' · ' + counters.sidecars + ' sidecar' : ''));
    text['st-latency'].set(isFinite(counters.lat50) ? 'p50 ' + ms(counters.lat50) + ' ms · p99 ' + ms(counters.lat99) + ' ms'
      : inputKind && inputKind !== 'mic' ? 'n/a (' + inputKind + ' input has no capture clock)' : '—');
    text['st-proc'].set(isFinite(counters.proc50) ? 'p50 ' + ms(counters.proc50) + ' ms · p99 ' + ms(counters.proc99) + ' ms' : '—');
  }
  function onStatus(m) {
    const pick = (path) => { const v = path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), m); return typeof v === 'number' ? v : NaN; };
    const set = (key, path) => { const v = pick(path); if (isFinite(v)) counters[key] = v; };
    set('overruns', 'overruns'); set('drops', 'drops'); set('subs', 'subscribers'); set('sidecars', 'sidecars');
    if (isFinite(pick('lat_ms.p50'))) { statusLatency = true; set('lat50', 'lat_ms.p50'); set('lat99', 'lat_ms.p99'); }
    if (isFinite(pick('proc_ms.p50'))) { statusProc = true; set('proc50', 'proc_ms.p50'); set('proc99', 'proc_ms.p99'); }
    if (typeof m.state === 'string') {
      const down = m.state !== 'running';
      text['st-input'].set((helloInput || m.device || 'input') + (down ? ' (' + m.state + ')' : ''));
      $('st-input').classList.toggle('bad', down);
    }
    showCounters();
  }

  /* /metrics: Prometheus text (names in docs/daemon.md), matched loosely so that a renamed series
   * shows "—" rather than breaking the page. Histograms are in seconds by Prometheus convention. */
  let metricsBusy = false;
  function sum(series) { return series ? series.reduce((acc, s) => acc + s.value, 0) : NaN; }
  function findMetric(mm, re, not) {
    for (const name in mm) if (re.test(name) && !(not && not.test(name))) return mm[name];
    return null;
  }
  function quantiles(series, scale) {
    // Several series (labels other than le): keep the first one's buckets.
    const key = (s) => JSON.stringify(Object.assign({}, s.labels, { le: '' }));
    const k0 = key(series[0]);
    const one = series.filter((s) => key(s) === k0);
    return [Emo.histogramQuantile(one, 0.5) * scale, Emo.histogramQuantile(one, 0.99) * scale];
  }
  function pollMetrics() {
    if (metricsBusy || document.hidden || !(client.state === 'live' || client.state === 'waiting')) return;
    if (statusLatency && statusProc) return;
    metricsBusy = true;
    Emo.daemonFetch('/metrics').then((r) => r.ok ? r.text() : Promise.reject(r.status)).then((t) => {
      const mm = Emo.parseMetrics(t);
      const scaleOf = (name) => /_ms_/.test(name) ? 1 : /_us_/.test(name) ? 1e-3 : 1000;
      if (!statusLatency) {
        const name = Object.keys(mm).find((n) => /latency.*_bucket$/.test(n) && !/proc|hop_dur/.test(n));
        if (name) [counters.lat50, counters.lat99] = quantiles(mm[name], scaleOf(name));
      }
      if (!statusProc) {
        const name = Object.keys(mm).find((n) => /(proc|hop).*_bucket$/.test(n));
        if (name) [counters.proc50, counters.proc99] = quantiles(mm[name], scaleOf(name));
      }
      if (!isFinite(counters.overruns)) { const ov = findMetric(mm, /overrun/, /_bucket|_sum|_count$/); if (ov) counters.overruns = sum(ov); }
      if (!isFinite(counters.drops)) { const dr = findMetric(mm, /drop/, /_bucket|_sum|_count$/); if (dr) counters.drops = sum(dr); }
      if (!isFinite(counters.subs)) { const sb = findMetric(mm, /subscriber|clients/, /_total$|_bucket|drop/); if (sb) counters.subs = sum(sb); }
      showCounters();
    }).catch(() => {}).finally(() => { metricsBusy = false; });
  }

  /* ---------------- connection ---------------- */
  const subscribe = WANT_FRAMES ? [{ type: 'subscribe', streams: ['frames'] }] : [];
  const client = new Emo.EmoClient({ subscribe: subscribe });

  function connText() {
    switch (client.state) {
      case 'connecting': return 'connecting…';
      case 'open': return 'connected, waiting for hello…';
      case 'live': {
        const quiet = latest ? (performance.now() - lastArrival) / 1000 : 0;
        return quiet > 3 ? 'connected · no data for ' + Math.floor(quiet) + ' s' : 'connected';
      }
      case 'waiting': return 'connected · ' + (client.detail || 'daemon is waiting for its input');
      case 'reconnecting': return 'reconnecting in ' + Math.ceil(client.retryIn()) + ' s · ' + client.detail;
      default: return client.state + (client.detail ? ' · ' + client.detail : '');
    }
  }

  client.on('state', (c) => {
    connEl.dataset.state = c.state;
    text['conn-text'].set(connText());
    if (c.state === 'reconnecting') { readoutEl.dataset.speech = 'unknown'; text['speech-flag'].set('offline'); }
    if (c.state === 'waiting') {
      // No audio: say so in the big readout too, instead of the last emotion.
      readoutEl.dataset.speech = 'false';
      text['top-label'].set('no input'); text['top-conf'].set(''); text['speech-flag'].set('waiting');
    }
  });
  client.on('hello', (h) => {
    const newLabels = Array.isArray(h.labels) ? h.labels.map(String) : [];
    hopMs = typeof h.hop_ms === 'number' && h.hop_ms > 0 ? h.hop_ms : 10;
    publishHz = typeof h.publish_hz === 'number' && h.publish_hz > 0 ? h.publish_hz : 10;
    const relabelled = newLabels.join('\u0000') !== labels.join('\u0000');
    if (relabelled) {
      labels = newLabels; K = labels.length; colours = Emo.labelColours(labels);
      buildLabels();
    }
    // A new connection may be a new daemon with a new stream clock: start the views afresh.
    // A later hello on the same connection (model reload) keeps them unless the labels changed.
    if (client.firstHello || relabelled) {
      tlReset(K); evMarks.n = 0; latest = null; lastT = NaN;
      if (topIndex >= 0 && barRow[topIndex]) barRow[topIndex].classList.remove('is-top');
      topIndex = -1;
      specView.reset();
    }
    inputKind = h.input && h.input.kind ? String(h.input.kind) : '';
    const inp = Emo.inputText(h.input);
    helloInput = inp;
    text['hdr-input'].set(inp.replace(/\S*\//, ''));   // the header shows file names without their directory
    text['st-input'].set(inp || '—');
    text['hdr-model'].set(h.model || ''); text['st-model'].set(h.model || '—');
    text['st-daemon'].set('emotiond ' + (h.daemon || '?') + ' · protocol ' + (h.protocol || '?'));
    text['st-rates'].set('hop ' + hopMs + ' ms · publish ' + publishHz + ' Hz');
    text['st-conns'].set(client.connects > 1 ? client.connects + ' (reconnected ' + (client.connects - 1) + '×)' : '1');
    showCounters();
    layoutDirty = true;
    pollMetrics();
  });
  client.on('posteriors', (m) => {
    latest = m; latestVersion++;
    lastArrival = performance.now();
    if (typeof m.t === 'number') {
      lastT = m.t;
      tlPush(m.t, Array.isArray(m.probs) ? m.probs : null, m.speech !== false);
    }
  });
  client.on('frames', onFrames);
  /* frames (proto/README.md): n frames of `bands` log-mel values, band 0 lowest, quantised to
   * bytes over [lo, hi] and base64-encoded, plus the gate per frame. Decoded into one reused
   * buffer: no allocation per frame beyond atob's string. */
  let frameBuf = new Float32Array(128);
  function onFrames(m) {
    spec.available = true;
    const n = m.n | 0, bands = m.bands | 0;
    if (n < 1 || bands < 1 || typeof m.data !== 'string') return;
    let bin;
    try { bin = atob(m.data); } catch (e) { console.warn('emotiond: bad frames data'); return; }
    if (bin.length < n * bands) return;
    if (frameBuf.length !== bands) frameBuf = new Float32Array(bands);
    const lo = +m.lo, step = (+m.hi - lo) / 255;
    const gates = Array.isArray(m.gate) ? m.gate : null;
    const gateAll = latest ? latest.speech !== false : false;
    for (let f = 0; f < n; f++) {
      const o = f * bands;
      for (let b = 0; b < bands; b++) frameBuf[b] = lo + bin.charCodeAt(o + b) * step;
      specView.push(frameBuf, gates ? gates[f] >= 0.5 : gateAll);
    }
    specView.flush();
  }
  client.on('event', addEvent);
  client.on('status', onStatus);
  client.on('error', (m) => {
    // The daemon refusing the frame subscription is not an error for the operator: say so in
    // the spectrogram panel instead.
    const what = JSON.stringify(m);
    if (/subscri|frames|stream/i.test(what) && !spec.off) spec.available = false;
  });

  /* ---------------- frame loop ----------------
   * Canvas raster and frame production are most of the page's cost, so a frame is requested
   * only when something changed (a message, a resize, the connection text) or the timeline has
   * scrolled by a device pixel (60 s over ~1000 px: ~16 frames/s, not 60); each canvas is
   * redrawn only when what it shows changed. An idle page draws nothing. */
  let rafPending = false, scrollTimer = 0, kickTimer = 0, lastFrameAt = -1e9;
  let tlDrawnAt = NaN, tlDrawnVersion = -1, specDrawnN = -1, specDrawnHead = -1, specDrawnAvail;
  function kick() {
    if (rafPending || kickTimer) return;
    const wait = 30 - (performance.now() - lastFrameAt);   // at most ~30 frames/s (100 Hz publish)
    if (wait > 0) kickTimer = setTimeout(() => { kickTimer = 0; kick(); }, wait);
    else { rafPending = true; requestAnimationFrame(frame); }
  }
  function frame() {
    rafPending = false;
    lastFrameAt = performance.now();
    let forced = false;
    if (layoutDirty) { fitCanvas(tlCanvas); fitCanvas(spCanvas); layoutDirty = false; drawnVersion = -1; forced = true; }
    text['conn-text'].set(connText());
    if (latestVersion !== drawnVersion) {
      drawnVersion = latestVersion;
      updateNow();
      if (latest && typeof latest.t === 'number') text['st-time'].set(latest.t.toFixed(1) + ' s · seq ' + latest.seq);
    }
    const now = paused ? pausedAt : streamNow();
    const pxPerS = tlCanvas.width / WINDOW_S;
    if (forced || (!paused && (latestVersion !== tlDrawnVersion || (isFinite(now) && !(Math.abs(now - tlDrawnAt) * pxPerS < 1))))) {
      drawTimeline(now);
      tlDrawnAt = now; tlDrawnVersion = latestVersion;
    }
    if (forced || (!paused && (spec.n !== specDrawnN || spec.head !== specDrawnHead || spec.available !== specDrawnAvail))) {
      drawSpectrogram();
      specDrawnN = spec.n; specDrawnHead = spec.head; specDrawnAvail = spec.available;
    }
    // Keep scrolling while the stream runs (streamNow stops two publish periods after the data).
    clearTimeout(scrollTimer);
    if (!paused && isFinite(now) && performance.now() - lastArrival < 2000 / Math.max(1, publishHz) + 100) {
      scrollTimer = setTimeout(kick, Math.max(16, 1000 / Math.max(1, pxPerS)));
    }
  }
  ['state', 'hello', 'posteriors', 'frames', 'event', 'status'].forEach((n) => client.on(n, kick));

  /* Pause (button or Space): the timeline and spectrogram freeze so an operator can look at a
   * moment; data keeps flowing into the rings, the readout and the event log stay live. */
  let paused = false, pausedAt = NaN;
  const pauseBtn = $('pause');
  function setPaused(p) {
    paused = p;
    pausedAt = streamNow();
    pauseBtn.textContent = p ? 'paused · resume' : 'pause';
    pauseBtn.setAttribute('aria-pressed', p ? 'true' : 'false');
    tlDrawnVersion = -1; specDrawnN = -1;
    kick();
  }
  pauseBtn.addEventListener('click', () => setPaused(!paused));
  document.addEventListener('keydown', (e) => {
    if (e.code === 'Space' && !e.repeat && !/^(BUTTON|INPUT|TEXTAREA|SELECT|A)$/.test(e.target.tagName)) {
      e.preventDefault();
      setPaused(!paused);
    }
  });
  if (window.ResizeObserver) new ResizeObserver(kick).observe(document.body);
  else window.addEventListener('resize', kick);
  setInterval(kick, 500);   // "reconnecting in N s", "no data for N s"
  tlReset(0);
  kick();
  setInterval(pollMetrics, METRICS_EVERY_MS);
  client.start();
  window.emotiondDashboard = { client: client, feed: (m) => client.feed(m), timeline: tl, spectrogram: spec, draws: draws,
    labels: () => labels, isPaused: () => paused };
})();
