/* Dashboard (/) in headless Chromium against a real emotiond reading espeak-ng speech from a file
 * at real-time pace (4 s silence, ~6 s speech, 4 s silence):
 * - connects, builds one bar and one legend entry per hello label;
 * - says "no speech" in the leading silence, then shows a top label while speech plays, and the
 *   bars, the timeline ring and the spectrogram (frames stream + gate) change with the audio;
 * - the daemon's onset/offset events (thresholds set low for the random test model; the daemon's
 *   defaults with EMOTIOND_TEST_MODEL, see lib.js) appear in
 *   the event log;
 * - the page reads the daemon's real /metrics (its latency fallback) to sane quantiles;
 * - streaming does not rebuild the DOM (a MutationObserver counts added/removed nodes outside
 *   the event log: must stay 0);
 * - a SIGHUP reload (new hello on the same connection) keeps the page's history;
 * - after the daemon is stopped (SIGTERM) the page says "reconnecting", and when a new daemon
 *   starts on the same port it is live again by itself;
 * - no console errors or page exceptions, except the browser's own connection-refused lines
 *   while the daemon is down on purpose.
 * Writes dashboard.png (during speech) and dashboard-after.png (after speech, timeline and
 * spectrogram filled) to the screenshot dir. */
'use strict';

const path = require('path');
const L = require('./lib');

const TEXT = 'Good morning. The quick brown fox jumps over the lazy dog, and then it runs ' +
  'far away into the forest before anyone can see it.';
const DAEMON_EVENTS = L.eventArgs(['--event-on', '0.19', '--event-off', '0.16', '--event-min-duration', '0.5']);

L.main(async () => {
  L.chromiumPath(); L.playwright(); L.emotiondBin(); L.testModel();
  const wav = path.join(L.tmpdir(), 'speech.wav');
  const dur = L.makeSpeech(wav, TEXT, 4, 4);
  const shots = L.screenshotDir();

  const browser = await L.launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const problems = L.watchPage(page, 'dashboard');
  const port = await L.freePort();
  const daemonArgs = ['--input', wav, '--keep-running'].concat(DAEMON_EVENTS);
  let daemon = await L.startDaemon(port, daemonArgs);

  await page.goto('http://127.0.0.1:' + port + '/' + L.windowQuery());
  const state = () => page.evaluate(() => document.getElementById('conn').dataset.state);
  await L.waitUntil(async () => (await state()) === 'live', 5000, 'dashboard connection state "live"');
  const labels = await page.evaluate(() => window.emotiondDashboard.labels());
  L.log('connected; labels', labels.join(','));
  L.check(labels.length >= 2, 'hello labels not shown: ' + JSON.stringify(labels));
  L.check(await page.locator('#bars li').count() === labels.length, 'one bar per label');
  L.check(await page.locator('#legend li').count() === labels.length, 'one legend entry per label');

  // From here on, streaming must only touch text nodes and attributes (the event log aside).
  await page.evaluate(() => {
    window.__domChurn = 0;
    const evs = document.getElementById('events');
    new MutationObserver((ms) => {
      for (const m of ms) if (m.type === 'childList' && !evs.contains(m.target)) window.__domChurn += m.addedNodes.length + m.removedNodes.length;
    }).observe(document.body, { childList: true, subtree: true });
  });

  const readout = () => page.evaluate(() => ({
    speech: document.getElementById('readout').dataset.speech,
    top: document.getElementById('top-label').textContent,
    pcts: [...document.querySelectorAll('#bars .pct')].map((e) => e.textContent).join(' '),
    fills: [...document.querySelectorAll('#bars .fill')].map((e) => e.style.transform).join(' ')
  }));

  // Leading silence: the gate is closed and the page says so.
  const silent = await L.waitUntil(async () => { const r = await readout(); return r.speech === 'false' && r; }, 4000, 'readout "no speech" in the leading silence');
  L.check(silent.top === 'no speech', 'silence shows "' + silent.top + '" instead of "no speech"');
  L.log('silence:', silent.pcts);

  // Speech: a top label appears and the bars move.
  await L.waitUntil(async () => (await readout()).speech === 'true', 6000, 'readout speech=true once speech plays');
  const seen = new Set();
  let topSeen = null;
  for (let i = 0; i < 20; i++) {
    const r = await readout();
    if (r.speech === 'true') { seen.add(r.fills); topSeen = r.top; }
    await L.sleep(100);
  }
  L.log('speech: top', topSeen, '; distinct bar states', seen.size);
  L.check(labels.includes(topSeen), 'top label "' + topSeen + '" is not one of the labels');
  L.check(seen.size >= 3, 'bars changed only ' + seen.size + ' times in 2 s of speech');
  L.check(!seen.has(silent.fills), 'bars during speech equal the bars of silence');
  await page.screenshot({ path: path.join(shots, 'dashboard.png') });

  // Trailing silence: the gate closes again (and stays closed: speech of several utterances, as
  // with EMOTIOND_TEST_AUDIO, closes it between them too, so only a close after the audio's
  // speech ended by the daemon's stream time counts).
  const newestT = () => page.evaluate(() => { const tl = window.emotiondDashboard.timeline; return tl.n ? tl.t[(tl.head + tl.t.length - 1) % tl.t.length] : -1; });
  await L.waitUntil(async () => (await readout()).speech === 'false' && (await newestT()) >= dur - 4, (dur - 4) * 1000 + 3000, 'readout "no speech" after the speech');
  await L.sleep(1500);
  const data = await page.evaluate(() => {
    const d = window.emotiondDashboard, tl = d.timeline, sp = d.spectrogram, K = d.labels().length;
    let speech = 0, silence = 0, maxDev = 0;
    for (let i = 0; i < tl.n; i++) {
      if (tl.s[i]) speech++; else silence++;
      for (let k = 0; k < K; k++) maxDev = Math.max(maxDev, Math.abs(tl.p[i * K + k] - 1 / K));
    }
    let open = 0;
    for (let i = 0; i < sp.n; i++) open += sp.gate[i];
    return { n: tl.n, speech, silence, maxDev, specN: sp.n, specMels: sp.mels, gateOpen: open,
      events: document.querySelectorAll('#events li:not(.empty)').length,
      overruns: document.getElementById('st-overruns').textContent,
      churn: window.__domChurn, gaps: d.client.seqGaps };
  });
  L.log('timeline/spectrogram:', JSON.stringify(data));
  L.check(data.n >= 50 && data.speech >= 20 && data.silence >= 10, 'timeline ring lacks speech and silence entries');
  L.check(data.maxDev > 0.02, 'timeline probabilities never left uniform (max deviation ' + data.maxDev + ')');
  L.check(data.specN >= 300 && data.specMels > 0, 'spectrogram received ' + data.specN + ' frames');
  L.check(data.gateOpen >= 100 && data.gateOpen < data.specN, 'gate strip never opened or never closed');
  L.check(data.events >= 2, 'event log shows ' + data.events + ' events (expected an onset and an offset)');
  L.check(data.overruns === '0', 'status overruns shows "' + data.overruns + '"');
  L.check(data.churn === 0, 'streaming added/removed ' + data.churn + ' DOM nodes outside the event log');
  L.check(data.gaps === 0, 'page missed ' + data.gaps + ' posteriors messages');
  await page.screenshot({ path: path.join(shots, 'dashboard-after.png') });

  // The page's Prometheus reader (its fallback for latency figures) on the daemon's real /metrics.
  const prom = await page.evaluate(async () => {
    const mm = Emo.parseMetrics(await (await Emo.daemonFetch('/metrics')).text());
    const b = mm.emotiond_hop_seconds_bucket;
    return { buckets: b ? b.length : 0, hops: (mm.emotiond_hops_total || [{}])[0].value,
      p50: Emo.histogramQuantile(b, 0.5), p99: Emo.histogramQuantile(b, 0.99) };
  });
  L.log('/metrics through the page:', JSON.stringify(prom));
  L.check(prom.buckets >= 2 && prom.hops > 500, 'page could not read /metrics: ' + JSON.stringify(prom));
  L.check(prom.p50 > 0 && prom.p50 <= prom.p99 && prom.p99 < 0.01, 'hop time quantiles from /metrics ' + JSON.stringify(prom));

  // SIGHUP: the daemon reloads its model and sends a new hello on the same connection; the page
  // keeps its history and does not count it as a reconnection.
  process.kill(daemon.proc.pid, 'SIGHUP');
  await L.waitUntil(() => /reloaded/.test(daemon.stderr), 5000, 'the daemon to log its reload');
  await L.sleep(500);
  const afterHup = await page.evaluate(() => ({ n: window.emotiondDashboard.timeline.n, state: document.getElementById('conn').dataset.state,
    conns: document.getElementById('st-conns').textContent, connects: window.emotiondDashboard.client.connects }));
  L.log('after SIGHUP:', JSON.stringify(afterHup));
  L.check(afterHup.state === 'live' && afterHup.connects === 1 && afterHup.n >= data.n, 'SIGHUP reload reset the page: ' + JSON.stringify(afterHup));

  // Restart: stop the daemon, the page notices; a new daemon on the same port, the page is back.
  const outageFrom = Date.now();
  await L.stopProcess(daemon);
  L.check(daemon.code === 0, 'emotiond exit status ' + daemon.code + ' on SIGTERM');
  await L.waitUntil(async () => (await state()) === 'reconnecting', 3000, 'state "reconnecting" after the daemon stopped');
  const txt = await page.evaluate(() => document.getElementById('conn-text').textContent);
  L.log('daemon stopped; page says:', txt);
  L.check(/reconnecting in \d+ s/.test(txt), 'connection text "' + txt + '"');
  await L.sleep(1500);
  daemon = await L.startDaemon(port, daemonArgs, 'emotiond-2');
  const back = Date.now();
  await L.waitUntil(async () => (await state()) === 'live', 10000, 'state "live" again after the daemon restarted');
  L.log('reconnected after', ((Date.now() - back) / 1000).toFixed(1), 's');
  await L.waitUntil(() => page.evaluate(() => window.emotiondDashboard.client.lastSeq >= 5), 5000, 'posteriors from the new daemon');
  const conns = await page.evaluate(() => document.getElementById('st-conns').textContent);
  L.check(/reconnected 1/.test(conns), 'status connections "' + conns + '"');
  const outageTo = Date.now();

  L.checkNoErrors(problems, [{ from: outageFrom, to: outageTo,
    re: /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|request failed: http:\/\/127\.0\.0\.1:\d+\/(metrics|healthz)/ }]);
  await page.close();
  await L.stopProcess(daemon);
  await waitingAndToken(browser);
});

/* A daemon whose microphone does not exist (it waits and retries) and which requires a token:
 * with ?token= the page connects and says the daemon is waiting for its device (the kiosk says
 * NO INPUT); without the token the WebSocket is refused and the page keeps retrying. */
async function waitingAndToken(browser) {
  const port = await L.freePort();
  const dev = 'emotiond-test-no-such-device';
  const daemon = await L.startDaemon(port, ['--device', dev, '--token', 's3cret'], 'emotiond-waiting');
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const problems = L.watchPage(page, 'dashboard-token');
  await page.goto('http://127.0.0.1:' + port + '/?token=s3cret');
  const seen = await L.waitUntil(() => page.evaluate(() => document.getElementById('conn').dataset.state === 'waiting' &&
    [document.getElementById('conn-text').textContent, document.getElementById('top-label').textContent]), 5000, 'state "waiting" for the missing device');
  L.log('waiting daemon, with token:', JSON.stringify(seen));
  L.check(seen[0].includes('waiting for ' + dev) && seen[1] === 'no input', 'waiting texts ' + JSON.stringify(seen));
  await page.goto('http://127.0.0.1:' + port + '/kiosk?token=s3cret');
  await L.waitUntil(() => page.evaluate(() => document.body.dataset.state === 'no-input'), 5000, 'kiosk "no input"');
  const refusedFrom = Date.now();
  await page.goto('http://127.0.0.1:' + port + '/');
  await L.sleep(2000);
  const st = await page.evaluate(() => [document.getElementById('conn').dataset.state, document.getElementById('conn-text').textContent]);
  L.log('without token:', JSON.stringify(st));
  L.check(st[0] === 'reconnecting' && /refused the connection/.test(st[1]), 'page without the token: ' + JSON.stringify(st));
  await page.close();
  L.checkNoErrors(problems, [{ from: refusedFrom, to: Date.now(), re: /WebSocket connection to .* failed/ }]);
  await L.stopProcess(daemon);
}
