/* Dashboard against a real emotiond capturing a microphone: a private PulseAudio null sink's
 * monitor through PortAudio (--device pulse), with speech played into the sink by paplay:
 * - the input is shown as a microphone and the capture-to-publish latency (p50/p99 from the
 *   daemon's status messages, which only a capture clock gives) is shown in ms;
 * - the null sink's silence reads "no speech"; while paplay plays espeak-ng speech the readout
 *   shows a top label and the bars move; after it, "no speech" again;
 * - Space pauses the timeline and spectrogram (no redraw while messages keep arriving) and
 *   resumes them;
 * - no console errors.
 * Writes dashboard-mic.png while speech plays. */
'use strict';

const path = require('path');
const L = require('./lib');

L.main(async () => {
  L.chromiumPath(); L.playwright(); L.emotiondBin(); L.testModel();
  const wav = path.join(L.tmpdir(), 'speech.wav');
  const dur = L.makeSpeech(wav, 'Good morning. This sentence is played into a null sink and captured again.', 0.2, 0.2);
  const pulse = await L.startPulse();
  const port = await L.freePort();
  const daemon = await L.startDaemon(port, ['--device', 'pulse'], 'emotiond-mic', pulse.env);
  const browser = await L.launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const problems = L.watchPage(page, 'dashboard-mic');
  await page.goto('http://127.0.0.1:' + port + '/' + L.windowQuery());
  const look = () => page.evaluate(() => ({
    state: document.getElementById('conn').dataset.state,
    input: document.getElementById('hdr-input').textContent + ' | ' + document.getElementById('st-input').textContent,
    latency: document.getElementById('st-latency').textContent,
    speech: document.getElementById('readout').dataset.speech,
    top: document.getElementById('top-label').textContent,
    fills: [...document.querySelectorAll('#bars .fill')].map((e) => e.style.transform).join(' ')
  }));
  const first = await L.waitUntil(async () => { const l = await look(); return l.state === 'live' && l.speech === 'false' && l; }, 10000, 'live and "no speech" on the silent sink');
  L.log('connected:', JSON.stringify(first));
  L.check(/^mic pulse .* \| mic pulse /.test(first.input), 'input shown as "' + first.input + '"');
  const lat = await L.waitUntil(async () => { const l = await look(); return /^p50 [\d.]+ ms · p99 [\d.]+ ms$/.test(l.latency) && l.latency; }, 6000, 'capture-to-publish latency from status');
  L.log('latency:', lat);

  const play = pulse.play(wav);
  const playFrom = Date.now();
  await L.waitUntil(async () => (await look()).speech === 'true', 8000, 'speech while paplay plays');
  const seen = new Set();
  let top = null;
  for (let i = 0; i < 15; i++) {
    const l = await look();
    if (l.speech === 'true') { seen.add(l.fills); top = l.top; }
    await L.sleep(100);
  }
  L.log('speech: top', top, 'distinct bar states', seen.size);
  L.check(seen.size >= 3, 'bars changed only ' + seen.size + ' times while speech played');
  // With EMOTIOND_TEST_AUDIO (the screenshots' corpus speech, several utterances) the picture is
  // taken near its end, so that the timeline shows all of it; espeak-ng's one sentence is short.
  if (L.audioOverridden()) await L.sleep(Math.max(0, playFrom + (dur - 1.2) * 1000 - Date.now()));
  await page.screenshot({ path: path.join(L.screenshotDir(), 'dashboard-mic.png') });
  await play.done;
  L.check(play.code === 0, 'paplay failed: ' + play.stderr);
  await L.waitUntil(async () => (await look()).speech === 'false', 5000, '"no speech" after paplay ended');

  // Pause (Space): the canvases freeze while messages keep arriving; Space again resumes.
  const counts = () => page.evaluate(() => ({ tl: window.emotiondDashboard.draws.timeline, sp: window.emotiondDashboard.draws.spectrogram,
    seq: window.emotiondDashboard.client.lastSeq, paused: window.emotiondDashboard.isPaused() }));
  await page.keyboard.press('Space');
  await L.sleep(200);
  const p0 = await counts();
  await L.sleep(1000);
  const p1 = await counts();
  L.check(p0.paused && p1.seq >= p0.seq + 5 && p1.tl === p0.tl && p1.sp === p0.sp, 'pause: ' + JSON.stringify([p0, p1]));
  await page.keyboard.press('Space');
  await L.sleep(1000);
  const p2 = await counts();
  L.check(!p2.paused && p2.tl > p1.tl + 5 && p2.sp > p1.sp + 3, 'resume: ' + JSON.stringify([p1, p2]));
  L.log('pause froze the canvases for 1 s while', p1.seq - p0.seq, 'messages arrived; resume redrew them');
  await page.close();
  L.checkNoErrors(problems, []);
  await L.stopProcess(daemon);
});
