/* emotiond kiosk (/kiosk): a driver-monitoring screen with one large state and an alert.
 *
 * STATE MAPPING (each label of the model's hello belongs to one state; override with ?map=):
 *   neutral, calm, happy, boredom  -> CALM
 *   surprised (surprise)           -> STRESSED
 *   angry, disgust                 -> ANGRY
 *   sad, fearful (fear)            -> DISTRESSED
 *   any other label                -> shown as the label itself
 * The state shown is the one whose labels' summed (smoothed) probabilities are largest in the
 * newest posteriors message, e.g. neutral 0.30 + happy 0.25 = CALM 0.55 beats ANGRY 0.45.
 * When the daemon's speech gate is closed (speech:false) the page says NO SPEECH instead of
 * guessing; with ?minconf=X a state whose summed probability is below X shows as UNCERTAIN.
 *
 * ALERT RULE (decided by the daemon's events, never re-computed from posteriors here):
 *   an "event" onset of an alert label opens a run that started at  onset.t - onset.held_s
 *   (stream time, as the daemon reports it); the page alerts while such a run is open and has
 *   lasted at least ?hold= seconds, i.e. at once when held_s >= hold, else at the first message
 *   whose stream time t reaches start + hold. The run ends at the daemon's offset event for that
 *   label, and the alert ends (automatic recovery) when no alerting run is left. Connection loss
 *   clears runs (the daemon does not replay events), so the screen never shows a stale alert.
 *
 * QUERY PARAMETERS
 *   ?alert=angry,fearful  labels (or state names: angry, distressed, ...) that alert; default angry
 *   ?hold=2               seconds a run must last before alerting; default 0 (the daemon's onset)
 *   ?sound=1              audible cue (WebAudio beeps) on entering the alert, repeated every
 *                         ?beep=S seconds (default 10, 0 = once) while it lasts
 *   ?map=surprised:alert,happy:calm   relabel states; ?minconf=0.4 (see above)
 *   ?token=T, ?ws=PATH    as on the dashboard (?ws=none: no connection; messages only through
 *                         window.emotiondKiosk.feed(msg), for demos and the browser tests)
 */
'use strict';

(function () {
  const P = Emo.params();
  const num = (v, lo, hi, d) => { const x = parseFloat(v); return isFinite(x) ? Math.min(hi, Math.max(lo, x)) : d; };
  const HOLD_S = num(P.get('hold'), 0, 3600, 0);
  const MINCONF = num(P.get('minconf'), 0, 1, 0);
  const SOUND = P.get('sound') === '1' || P.get('sound') === 'true';
  const BEEP_EVERY_S = num(P.get('beep'), 0, 3600, 10);

  const DEFAULT_MAP = {
    neutral: 'calm', calm: 'calm', happy: 'calm', boredom: 'calm',
    surprised: 'stressed', surprise: 'stressed',
    angry: 'angry', anger: 'angry', disgust: 'angry',
    sad: 'distressed', fearful: 'distressed', fear: 'distressed'
  };
  const map = Object.assign({}, DEFAULT_MAP);
  (P.get('map') || '').split(',').forEach((pair) => {
    const kv = pair.split(':');
    if (kv.length === 2 && kv[0].trim() && kv[1].trim()) map[kv[0].trim().toLowerCase()] = kv[1].trim().toLowerCase();
  });
  const stateOf = (label) => map[label.toLowerCase()] || label.toLowerCase();
  const alertNames = (P.get('alert') || 'angry').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const wordEl = $('state-word');
  const wordText = new Emo.LiveText(wordEl);
  /* The word's size follows its length so that DISTRESSED fits a phone as well as CALM fills a
   * monitor (kiosk.css: font-size from --chars). */
  const word = { set(w) { wordText.set(w); wordEl.style.setProperty('--chars', Math.max(4, String(w).length)); } };
  const detail = new Emo.LiveText($('state-detail'));
  const connText = new Emo.LiveText($('conn-text'));
  const clock = new Emo.LiveText($('clock'));
  new Emo.LiveText($('rule')).set('alert: ' + alertNames.join(', ') + (HOLD_S > 0 ? ' ≥ ' + HOLD_S + ' s' : '') + (SOUND ? ' · sound on' : ''));

  let labels = [];
  let alertLabel = [];     // per label index: does it alert?
  let stateNames = [];     // distinct states in order of first label
  let stateIdx = [];       // per label index: index into stateNames
  let sums = new Float64Array(0);

  /* Open runs of alert labels: label -> { start, onsetT }, stream times from the daemon. */
  const runs = new Map();
  let streamT = NaN;
  let alerting = false;
  let alertSince = 0;
  /* What happened, by the daemon's stream time (bounded; read by the browser tests and handy in
   * the console when someone asks why the screen alerted). */
  const history = [];
  function note(what, label, t) {
    history.push({ what: what, label: label || null, t: typeof t === 'number' ? t : streamT });
    if (history.length > 200) history.shift();
  }

  function setup(hello) {
    labels = (hello.labels || []).map(String);
    stateNames = [];
    stateIdx = labels.map((l) => {
      const s = stateOf(l);
      let i = stateNames.indexOf(s);
      if (i < 0) { i = stateNames.length; stateNames.push(s); }
      return i;
    });
    sums = new Float64Array(stateNames.length);
    alertLabel = labels.map((l) => alertNames.indexOf(l.toLowerCase()) >= 0 || alertNames.indexOf(stateOf(l)) >= 0);
    const unknown = alertNames.filter((a) => !labels.some((l) => l.toLowerCase() === a || stateOf(l) === a));
    if (unknown.length) console.warn('kiosk: ?alert names not in this model:', unknown.join(', '), '(labels: ' + labels.join(', ') + ')');
  }

  let shownBig = '', shownSmall = '';
  function show(state, big, small) {
    if (body.dataset.state !== state) body.dataset.state = state;
    shownBig = big; shownSmall = small;
    if (!alerting) { word.set(big); detail.set(small); }
  }

  function onPosteriors(m) {
    if (typeof m.t === 'number') streamT = m.t;
    checkRuns();
    if (m.speech === false) { show('no-speech', 'no speech', ''); return; }
    const probs = Array.isArray(m.probs) ? m.probs : null;
    if (!probs || !labels.length) { show('no-speech', 'no speech', ''); return; }
    sums.fill(0);
    for (let k = 0; k < labels.length && k < probs.length; k++) sums[stateIdx[k]] += probs[k];
    let best = 0;
    for (let i = 1; i < sums.length; i++) if (sums[i] > sums[best]) best = i;
    const conf = sums[best];
    if (conf < MINCONF) { show('uncertain', 'uncertain', Math.round(conf * 100) + ' %'); return; }
    const st = stateNames[best];
    show(st, st, Math.round(conf * 100) + ' %' + (m.top ? ' · ' + m.top : ''));
  }

  function onEvent(e) {
    note(e.state, e.label, e.t);
    const k = labels.indexOf(e.label);
    if (k < 0 || !alertLabel[k]) return;
    // An event precedes the posteriors of its hop: it is the newest stream time the page knows.
    if (typeof e.t === 'number' && !(streamT >= e.t)) streamT = e.t;
    if (e.state === 'onset') {
      const held = typeof e.held_s === 'number' ? e.held_s : 0;
      runs.set(e.label, { start: e.t - held, onsetT: e.t, held: held });
    } else if (e.state === 'offset') {
      runs.delete(e.label);
    }
    checkRuns();
  }

  /* Alert while some open run has lasted >= HOLD_S by the daemon's clock. */
  function checkRuns() {
    let who = null, longest = -1;
    runs.forEach((r, label) => {
      const lasted = Math.max(r.held, (isFinite(streamT) ? streamT : r.onsetT) - r.start);
      if (lasted >= HOLD_S - 1e-9 && lasted > longest) { longest = lasted; who = label; }
    });
    if (who && !alerting) { note('alert', who); enterAlert(); }
    if (!who && alerting) { note('recover'); leaveAlert(); }
    if (who) {
      word.set(stateOf(who));
      detail.set('ALERT · ' + who + ' for ' + longest.toFixed(1) + ' s');
    }
  }

  function enterAlert() {
    alerting = true;
    alertSince = performance.now();
    body.dataset.alert = '1';
    beep();
  }
  function leaveAlert() {
    alerting = false;
    body.dataset.alert = '0';
    word.set(shownBig); detail.set(shownSmall);
  }
  function clearRuns() {
    runs.clear();
    if (alerting) leaveAlert();
  }

  /* ---- sound: two short tones; browsers start AudioContext only after a user gesture unless
   * the kiosk browser runs with --autoplay-policy=no-user-gesture-required. ---- */
  let audio = null;
  const soundBtn = $('sound-btn');
  function audioCtx() {
    if (!SOUND) return null;
    if (!audio) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      audio = new AC();
    }
    if (audio.state === 'suspended') {
      audio.resume().catch(() => {});
      soundBtn.hidden = audio.state !== 'suspended';
    }
    return audio;
  }
  function beep() {
    const ac = audioCtx();
    if (!ac || ac.state !== 'running') return;
    const t0 = ac.currentTime + 0.01;
    [0, 0.28].forEach((dt, i) => {
      const osc = ac.createOscillator();
      const gain = ac.createGain();
      osc.type = 'sine';
      osc.frequency.value = i ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, t0 + dt);
      gain.gain.exponentialRampToValueAtTime(0.35, t0 + dt + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + dt + 0.22);
      osc.connect(gain).connect(ac.destination);
      osc.start(t0 + dt);
      osc.stop(t0 + dt + 0.25);
    });
    body.dataset.beeps = String((+body.dataset.beeps || 0) + 1);
  }
  if (SOUND) {
    soundBtn.addEventListener('click', () => { audioCtx(); soundBtn.hidden = true; });
    document.addEventListener('pointerdown', () => { const ac = audioCtx(); if (ac && ac.state !== 'suspended') soundBtn.hidden = true; }, { once: true });
    audioCtx();
    setTimeout(() => { if (audio) soundBtn.hidden = audio.state !== 'suspended'; }, 500);
  }

  document.addEventListener('dblclick', () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else document.documentElement.requestFullscreen().catch(() => {});
  });

  /* ---- connection ---- */
  const client = new Emo.EmoClient();
  function connLine() {
    switch (client.state) {
      case 'live': return 'connected';
      case 'waiting': return client.detail || 'daemon waiting for input';
      case 'reconnecting': return 'reconnecting in ' + Math.ceil(client.retryIn()) + ' s';
      case 'open': return 'connected, waiting for hello';
      case 'offline': return 'not connected (?ws=none)';
      default: return 'connecting…';
    }
  }
  client.on('state', (c) => {
    body.dataset.conn = c.state;
    connText.set(connLine());
    if (c.state === 'reconnecting' || c.state === 'connecting') {
      clearRuns();
      show('offline', 'no signal', c.detail || '');
    } else if (c.state === 'waiting') {
      clearRuns();
      show('no-input', 'no input', c.detail);
    }
  });
  client.on('hello', (h) => { setup(h); clearRuns(); streamT = NaN; show('no-speech', 'no speech', ''); });
  client.on('posteriors', onPosteriors);
  client.on('event', onEvent);

  setInterval(() => {
    connText.set(connLine());
    clock.set(new Date().toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit' }));
    if (alerting && SOUND && BEEP_EVERY_S > 0 && performance.now() - alertSince >= BEEP_EVERY_S * 1000) {
      alertSince = performance.now();
      beep();
    }
  }, 250);
  show('offline', 'connecting', '');
  client.start();
  window.emotiondKiosk = { client: client, feed: (m) => client.feed(m), runs: runs, history: history, isAlerting: () => alerting };
})();
