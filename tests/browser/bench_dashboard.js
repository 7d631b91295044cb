/* Benchmark (not a test): the dashboard's cost in the browser while a real emotiond streams.
 *
 *   EMOTIOND_BUILD=$PWD/build node tests/browser/bench_dashboard.js [SECONDS]
 *
 * For each configuration (publish 10 Hz and 100 Hz, frames stream on; without and with Chrome's
 * 4x CPU throttling, a stand-in for a modest laptop) it runs the daemon on looped espeak-ng
 * speech at real-time pace, opens the dashboard in headless chromium and prints, over SECONDS
 * (default 30): main-thread busy time (CDP Performance.getMetrics TaskDuration) and script time
 * as a percentage of wall time, canvas redraws per second, JS heap after a forced GC at the
 * start and the end (bounded memory), and DOM node counts. Figures go to BENCHMARKS.md
 * ("Dashboard").
 *
 *   node tests/browser/bench_dashboard.js --soak SECONDS
 *
 * instead keeps one dashboard on a 100 Hz real-time stream for SECONDS and prints the JS heap
 * after a forced GC every 20 s (memory must level off, not grow with the messages).
 */
'use strict';

const path = require('path');
const { spawnSync } = require('child_process');
const L = require('./lib');

const SECONDS = Math.max(5, parseFloat(process.argv[2] === '--soak' ? '30' : process.argv[2] || '30'));

async function metrics(cdp) {
  const { metrics: m } = await cdp.send('Performance.getMetrics');
  const o = {};
  for (const x of m) o[x.name] = x.value;
  return o;
}

async function heapAfterGc(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  return (await metrics(cdp)).JSHeapUsedSize;
}

async function one(browser, wav, publishHz, throttle) {
  const port = await L.freePort();
  const daemon = await L.startDaemon(port, ['--input', wav, '--publish-hz', String(publishHz)], 'emotiond-' + publishHz);
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  if (throttle > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
  await page.goto('http://127.0.0.1:' + port + '/');
  await L.waitUntil(() => page.evaluate(() => window.emotiondDashboard.client.lastSeq >= 5), 10000, 'posteriors on the page');
  await L.sleep(2000);   // warm-up: JIT, first layout, spectrogram canvas
  const heap0 = await heapAfterGc(cdp);
  const nodes0 = (await metrics(cdp)).Nodes;
  const d0 = await page.evaluate(() => Object.assign({}, window.emotiondDashboard.draws));
  const m0 = await metrics(cdp);
  const t0 = Date.now();
  const seq0 = await page.evaluate(() => window.emotiondDashboard.client.lastSeq);
  await L.sleep(SECONDS * 1000);
  const m1 = await metrics(cdp);
  const wall = (Date.now() - t0) / 1000;
  const r = await page.evaluate(() => ({ draws: window.emotiondDashboard.draws, seq: window.emotiondDashboard.client.lastSeq, gaps: window.emotiondDashboard.client.seqGaps }));
  const heap1 = await heapAfterGc(cdp);
  const nodes1 = (await metrics(cdp)).Nodes;
  await L.stopProcess(daemon);
  await page.close();
  return {
    publishHz, throttle, wall,
    msgsPerS: (r.seq - seq0) / wall,
    busyPct: 100 * (m1.TaskDuration - m0.TaskDuration) / wall,
    scriptPct: 100 * (m1.ScriptDuration - m0.ScriptDuration) / wall,
    tlPerS: (r.draws.timeline - d0.timeline) / wall,
    specPerS: (r.draws.spectrogram - d0.spectrogram) / wall,
    heap0MB: heap0 / 1048576, heap1MB: heap1 / 1048576, nodes0, nodes1, gaps: r.gaps
  };
}

/* Stress: raw PCM of the whole file is written to the daemon's stdin at once, so it publishes
 * at 100 Hz as fast as it can compute; the page takes every message (posteriors, frames) at
 * that rate. Heap after GC before and after. */
async function stress(browser, wav) {
  const port = await L.freePort();
  const pcm = spawnSync('sox', [wav, '-t', 'raw', '-e', 'signed', '-b', '16', '-r', '16000', '-c', '1', '-'], { maxBuffer: 1 << 28 }).stdout;
  const args = ['--listen', '127.0.0.1:' + port, '--model', L.testModel(), '--web-root', path.join(L.SRC, 'web'),
    '--stdin', '--format', 's16le', '--rate', '16000', '--channels', '1', '--no-json-lines', '--keep-running', '--publish-hz', '100'];
  const daemon = L.startProcess('emotiond-stdin', L.emotiondBin(), args, { stdin: 'pipe' });
  await L.waitUntil(async () => (await L.httpGet(port, '/healthz')).status === 200, 10000, 'emotiond --stdin ready');
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await page.goto('http://127.0.0.1:' + port + '/');
  await L.waitUntil(() => page.evaluate(() => window.emotiondDashboard.client.state === 'live'), 5000, 'page live');
  await L.sleep(1000);
  const heap0 = await heapAfterGc(cdp);
  const t0 = Date.now();
  daemon.proc.stdin.end(pcm);
  let last = -1, stable = 0;
  while (stable < 10) {
    await L.sleep(200);
    const s = await page.evaluate(() => window.emotiondDashboard.client.lastSeq);
    stable = s === last && s > 0 ? stable + 1 : 0;
    last = s;
  }
  const secs = (Date.now() - t0) / 1000 - 2;
  const gaps = await page.evaluate(() => window.emotiondDashboard.client.seqGaps);
  const heap1 = await heapAfterGc(cdp);
  await L.stopProcess(daemon);
  await page.close();
  return { msgs: last + 1, audioS: pcm.length / 32000, secs, gaps, heap0MB: heap0 / 1048576, heap1MB: heap1 / 1048576 };
}

async function soak(seconds) {
  const one_ = path.join(L.tmpdir(), 'one.wav');
  L.makeSpeech(one_, 'The quick brown fox jumps over the lazy dog. I am not sure this is a good idea at all.', 1, 1);
  const wav = path.join(L.tmpdir(), 'long.wav');
  const r = spawnSync('sox', Array(Math.ceil((seconds + 15) / 6)).fill(one_).concat([wav]), { encoding: 'utf8' });
  L.check(r.status === 0, 'sox concat: ' + r.stderr);
  const browser = await L.launchBrowser();
  const port = await L.freePort();
  const daemon = await L.startDaemon(port, ['--input', wav, '--publish-hz', '100']);
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await page.goto('http://127.0.0.1:' + port + '/');
  for (let t = 0; t <= seconds; t += 20) {
    if (t) await L.sleep(20000);
    const heap = await heapAfterGc(cdp);
    const m = await metrics(cdp);
    const seq = await page.evaluate(() => window.emotiondDashboard.client.lastSeq);
    console.log('soak t=' + t + ' s: messages ' + (seq + 1) + ', JS heap after GC ' + (heap / 1048576).toFixed(3) + ' MB, DOM nodes ' + m.Nodes);
  }
  await L.stopProcess(daemon);
}

L.main(async () => {
  if (process.argv[2] === '--soak') return soak(Math.max(20, parseFloat(process.argv[3] || '120')));
  L.chromiumPath(); L.playwright(); L.emotiondBin(); L.testModel();
  const one_ = path.join(L.tmpdir(), 'one.wav');
  L.makeSpeech(one_, 'The quick brown fox jumps over the lazy dog. I am not sure this is a good idea at all.', 1, 1);
  const wav = path.join(L.tmpdir(), 'long.wav');
  const reps = Math.ceil((SECONDS + 15) / 6);
  const r = spawnSync('sox', Array(reps).fill(one_).concat([wav]), { encoding: 'utf8' });
  L.check(r.status === 0, 'sox concat: ' + r.stderr);
  const browser = await L.launchBrowser();
  const rows = [];
  for (const [hz, thr] of [[10, 1], [100, 1], [10, 4], [100, 4]]) {
    const x = await one(browser, wav, hz, thr);
    L.log(JSON.stringify(x));
    rows.push(x);
  }
  const st = await stress(browser, wav);
  L.log('stress', JSON.stringify(st));
  console.log('\nchromium ' + browser.version() + ', ' + SECONDS + ' s per row, frames stream on, 1400x860 viewport');
  console.log('| publish | CPU throttle | msgs/s | main thread busy | of which script | redraws/s timeline, spectrogram | JS heap after GC start -> end | DOM nodes start -> end | missed msgs |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const x of rows) {
    console.log('| ' + x.publishHz + ' Hz | ' + x.throttle + 'x | ' + x.msgsPerS.toFixed(1) + ' | ' + x.busyPct.toFixed(1) + ' % | ' +
      x.scriptPct.toFixed(1) + ' % | ' + x.tlPerS.toFixed(1) + ', ' + x.specPerS.toFixed(1) + ' | ' + x.heap0MB.toFixed(2) + ' -> ' + x.heap1MB.toFixed(2) + ' MB | ' +
      x.nodes0 + ' -> ' + x.nodes1 + ' | ' + x.gaps + ' |');
  }
  console.log('\nburst (all PCM on stdin at once, 100 Hz publish, frames on): ' + st.msgs + ' posteriors messages (plus frames) for ' + st.audioS.toFixed(0) + ' s of audio in about ' +
    st.secs.toFixed(1) + ' s, ' + st.gaps + ' missed by the page (dropped for a slow reader); JS heap after GC ' +
    st.heap0MB.toFixed(2) + ' -> ' + st.heap1MB.toFixed(2) + ' MB');
});
