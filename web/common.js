/* emotiond pages: what the dashboard and the kiosk share.
 *
 * EmoClient keeps one WebSocket to the daemon that served the page (same origin), speaks protocol
 * v1 (proto/README.md), and reconnects by itself with exponential backoff plus jitter so that a
 * fleet of kiosks does not hammer a restarted daemon in lock-step. It never throws into the page:
 * every failure becomes a state change the page shows.
 *
 * Plain JS on purpose (see docs/web.md): no build step, nothing fetched from elsewhere, the files
 * the daemon installs are the files the browser runs.
 */
'use strict';

(function (global) {
  const PROTOCOL = 'emotiond.v1';

  /* Okabe & Ito (2008) colour-blind-safe palette, on a dark background (their black becomes a
   * light grey). Known labels keep a fixed colour on every page and screenshot; other labels take
   * the unused colours in order. */
  const OKABE_ITO = {
    orange: '#E69F00', sky: '#56B4E9', green: '#009E73', yellow: '#F0E442',
    blue: '#3D8FD6', vermillion: '#D55E00', purple: '#CC79A7', grey: '#B8B8B8'
  };
  const LABEL_COLOURS = {
    neutral: OKABE_ITO.grey, calm: OKABE_ITO.orange, happy: OKABE_ITO.yellow,
    sad: OKABE_ITO.blue, angry: OKABE_ITO.vermillion, fearful: OKABE_ITO.purple,
    fear: OKABE_ITO.purple, disgust: OKABE_ITO.green, surprised: OKABE_ITO.sky,
    surprise: OKABE_ITO.sky, boredom: OKABE_ITO.orange
  };
  /* Dash patterns make the timeline lines distinguishable without colour at all. */
  const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 2], [12, 2], [6, 2, 2, 2]];

  function labelColours(labels) {
    const used = new Set();
    const out = labels.map(function (l) {
      const c = LABEL_COLOURS[l.toLowerCase()];
      if (c && !used.has(c)) { used.add(c); return c; }
      return null;
    });
    const spare = Object.values(OKABE_ITO).filter(function (c) { return !used.has(c); });
    let k = 0;
    for (let i = 0; i < out.length; i++) {
      if (!out[i]) { out[i] = spare.length ? spare[k % spare.length] : '#888'; k++; }
    }
    return out;
  }

  function params() {
    return new URLSearchParams(global.location.search);
  }

  /* Where the daemon's WebSocket is: same host and port as the page, path /ws, or ?ws=PATH|URL
   * for a daemon behind a proxy that rewrites paths. The token of a non-loopback daemon travels
   * as ?token= because browsers cannot set an Authorization header on a WebSocket. */
  function wsUrl() {
    const p = params();
    const loc = global.location;
    let url = p.get('ws') || '/ws';
    if (!/^wss?:\/\//.test(url)) {
      url = (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + (url[0] === '/' ? '' : '/') + url;
    }
    const token = p.get('token');
    if (token) url += (url.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token);
    return url;
  }

  /* fetch() of a daemon path (/metrics, /healthz) carrying the page's token. */
  function daemonFetch(path) {
    const token = params().get('token');
    const opts = { cache: 'no-store' };
    if (token) opts.headers = { Authorization: 'Bearer ' + token };
    return fetch(path, opts);
  }

  /* States the pages show: 'connecting' (first try), 'open' (socket up, waiting for hello),
   * 'live' (hello received), 'waiting' (daemon up but its input is not: status says so),
   * 'reconnecting' (retry scheduled at retryAt), 'offline' (?ws=none). */
  class EmoClient {
    constructor(opts) {
      this.opts = Object.assign({ subscribe: [], minDelay: 500, maxDelay: 15000 }, opts || {});
      this.handlers = {};
      this.state = 'connecting';
      this.detail = '';
      this.hello = null;
      this.ws = null;
      this.attempt = 0;
      this.retryAt = 0;
      this.timer = 0;
      this.lastMsgAt = 0;
      this.connects = 0;
      this.lastSeq = -1;
      this.seqGaps = 0;
    }

    on(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); return this; }
    emit(name, arg) {
      const hs = this.handlers[name];
      if (!hs) return;
      for (let i = 0; i < hs.length; i++) {
        try { hs[i](arg); } catch (e) { console.warn('emotiond page handler', name, e); }
      }
    }
    setState(state, detail) {
      if (this.offline && state !== 'offline') return;   // ?ws=none: fed messages do not connect
      if (state === this.state && detail === this.detail) return;
      this.state = state;
      this.detail = detail || '';
      this.emit('state', this);
    }

    /* ?ws=none: no connection at all; the page renders only the messages handed to feed()
     * (recorded sessions, demos, the browser tests of the pages' rules). */
    start() {
      if (params().get('ws') === 'none') {
        this.offline = true;
        this.setState('offline', 'no connection (?ws=none)');
        return this;
      }
      this.connect();
      return this;
    }
    feed(msg) { this.dispatch(msg); }

    connect() {
      clearTimeout(this.timer);
      let ws;
      try {
        ws = new WebSocket(wsUrl(), PROTOCOL);
      } catch (e) {
        this.scheduleRetry('cannot open WebSocket: ' + e.message);
        return;
      }
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      this.helloOnSocket = false;
      ws.onopen = () => {
        if (ws !== this.ws) return;
        this.setState('open', 'waiting for hello');
      };
      ws.onmessage = (ev) => {
        if (ws !== this.ws || typeof ev.data !== 'string') return;
        let msg;
        try { msg = JSON.parse(ev.data); } catch (e) { console.warn('emotiond: not JSON', ev.data.slice(0, 80)); return; }
        this.lastMsgAt = performance.now();
        this.dispatch(msg);
      };
      ws.onclose = (ev) => {
        if (ws !== this.ws) return;
        this.ws = null;
        const why = ev.code === 1000 || ev.code === 1001 ? 'daemon closed the connection'
          : ev.code === 1006 ? 'daemon unreachable' : 'closed (' + ev.code + (ev.reason ? ': ' + ev.reason : '') + ')';
        this.emit('close', ev);
        this.scheduleRetry(why);
        // A browser reports a refused handshake (401 bad token, 403 origin) like an unreachable
        // host (1006). If the daemon's /healthz answers, it is up and refused us: say so.
        if (ev.code === 1006 && !/^wss?:/.test(params().get('ws') || '')) {
          fetch('/healthz', { cache: 'no-store' }).then((r) => {
            if (r.ok && this.state === 'reconnecting') this.setState('reconnecting', 'daemon refused the connection (missing or wrong ?token=, or origin not allowed)');
          }).catch(() => {});
        }
      };
      // onerror always precedes onclose; the close handler reports it.
      ws.onerror = () => {};
    }

    scheduleRetry(why) {
      this.attempt++;
      // Full jitter (AWS architecture blog): uniform in [base/2, base], base doubling to a cap.
      const base = Math.min(this.opts.maxDelay, this.opts.minDelay * Math.pow(2, this.attempt - 1));
      const delay = base / 2 + Math.random() * base / 2;
      this.retryAt = performance.now() + delay;
      this.setState('reconnecting', why);
      this.timer = setTimeout(() => this.connect(), delay);
    }

    dispatch(msg) {
      switch (msg.type) {
        case 'hello': {
          // The first hello of a connection starts a session; a later one on the same socket is
          // the daemon announcing a change (model reloaded on SIGHUP, publish rate): the page
          // keeps its history and subscriptions (the daemon keeps them too).
          const first = !this.helloOnSocket;
          this.helloOnSocket = true;
          this.firstHello = first;
          this.hello = msg;
          if (first) {
            this.attempt = 0;
            this.connects++;
            this.lastSeq = -1;
            this.setState(inputDown(msg.input) ? 'waiting' : 'live', inputDown(msg.input) ? inputText(msg.input) : '');
            for (let i = 0; i < this.opts.subscribe.length; i++) this.send(this.opts.subscribe[i]);
          }
          this.emit('hello', msg);
          break;
        }
        case 'posteriors':
          if (typeof msg.seq === 'number') {
            if (this.lastSeq >= 0 && msg.seq > this.lastSeq + 1) this.seqGaps += msg.seq - this.lastSeq - 1;
            this.lastSeq = msg.seq;
          }
          if (this.state === 'waiting') this.setState('live', '');
          this.emit('posteriors', msg);
          break;
        case 'status':
          if (msg.device !== undefined || msg.state !== undefined) {
            const down = deviceDown(msg);
            if (down && this.state === 'live') this.setState('waiting', down);
            else if (!down && this.state === 'waiting') this.setState('live', '');
            else if (down && this.state === 'waiting') this.setState('waiting', down);
          }
          this.emit('status', msg);
          break;
        case 'error':
          console.warn('emotiond error message:', msg.code || '', msg.message || msg.msg || '');
          this.emit('error', msg);
          break;
        default:
          this.emit(msg.type, msg);
      }
    }

    send(obj) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
      return true;
    }

    /* Seconds until the next reconnection attempt (0 when none is scheduled). */
    retryIn() {
      return this.state === 'reconnecting' ? Math.max(0, (this.retryAt - performance.now()) / 1000) : 0;
    }
  }

  function inputText(input) {
    if (!input) return '';
    if (typeof input === 'string') return input;
    const parts = [];
    if (input.kind) parts.push(input.kind);
    if (input.device) parts.push(input.device);
    else if (input.file) parts.push(input.file);
    else if (input.path) parts.push(input.path);
    if (input.rate) parts.push((input.rate / 1000) + ' kHz');
    if (input.state && input.state !== 'running' && input.state !== 'ok') parts.push('(' + input.state + ')');
    return parts.join(' ');
  }

  function inputDown(input) {
    if (!input || typeof input !== 'object' || !input.state) return false;
    return !/^(running|ok|open|up|streaming|capturing|playing)$/.test(input.state);
  }

  /* A status message describing the input: the text to show while it is not delivering audio,
   * or '' when it is. */
  function deviceDown(msg) {
    const s = msg.device_state || msg.state || (msg.device && msg.device.state) || (msg.input && msg.input.state);
    if (!s || /^(running|ok|open|up|streaming|capturing|playing)$/.test(s)) return '';
    if (/wait|absent|missing|lost|closed|reopen|retry|error|down/.test(s)) {
      const what = msg.device && typeof msg.device === 'string' ? msg.device
        : (msg.device && msg.device.name) || (msg.input && inputText(msg.input)) || 'input';
      return s === 'waiting' ? 'daemon says: waiting for ' + what : 'daemon says: ' + what + ' ' + s;
    }
    if (/eof|ended|finished|done/.test(s)) return 'daemon says: input ended';
    return '';
  }

  /* Parse Prometheus text exposition into { name: [{labels, value}] }. Only what the pages use:
   * no exemplars, no timestamps. */
  function parseMetrics(text) {
    const out = {};
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let lm;
        while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2];
      }
      (out[m[1]] = out[m[1]] || []).push({ labels: labels, value: parseFloat(m[4]) });
    }
    return out;
  }

  /* Quantile q of a Prometheus histogram (cumulative buckets with le labels), interpolated
   * linearly inside the bucket as histogram_quantile() does. NaN when it has no samples. */
  function histogramQuantile(buckets, q) {
    if (!buckets || !buckets.length) return NaN;
    const b = buckets.map(function (s) { return { le: s.labels.le === '+Inf' ? Infinity : parseFloat(s.labels.le), n: s.value }; })
      .filter(function (s) { return !isNaN(s.le); })
      .sort(function (x, y) { return x.le - y.le; });
    if (!b.length) return NaN;
    const total = b[b.length - 1].n;
    if (!(total > 0)) return NaN;
    const rank = q * total;
    let prevLe = 0, prevN = 0;
    for (let i = 0; i < b.length; i++) {
      if (b[i].n >= rank) {
        if (b[i].le === Infinity) return prevLe;
        const inBucket = b[i].n - prevN;
        return inBucket > 0 ? prevLe + (b[i].le - prevLe) * (rank - prevN) / inBucket : b[i].le;
      }
      prevLe = b[i].le; prevN = b[i].n;
    }
    return prevLe;
  }

  /* Text node that is rewritten only when its value changes (no layout work otherwise). */
  class LiveText {
    constructor(el) { this.node = document.createTextNode(''); el.textContent = ''; el.appendChild(this.node); this.value = ''; }
    set(v) { v = String(v); if (v !== this.value) { this.value = v; this.node.nodeValue = v; } }
  }

  global.Emo = {
    EmoClient: EmoClient, labelColours: labelColours, DASHES: DASHES, params: params,
    wsUrl: wsUrl, daemonFetch: daemonFetch, parseMetrics: parseMetrics,
    histogramQuantile: histogramQuantile, inputText: inputText, LiveText: LiveText
  };
})(window);
