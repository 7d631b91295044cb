/* Harness of the browser suite: real emotiond, real audio (espeak-ng + sox), Debian's chromium
 * driven by playwright-core.
 *
 * Promises:
 * - skip(): exit 77 (meson's SKIP) with one line naming what is missing; used only when a
 *   program or file is genuinely absent (chromium, node_modules, espeak-ng, the built daemon).
 * - Every process started here runs in its own process group and is killed (SIGTERM, SIGKILL
 *   after a grace period) when the test ends: pass, failure, exception, or meson's timeout
 *   (SIGTERM), so no daemon or browser outlives a test.
 * - Every wait has a deadline and fails with a message saying what it waited for.
 * - Screenshots go to $SCREENSHOT_DIR, default $EMOTIOND_BUILD/tests/browser/screenshots
 *   (docs/screenshots/ holds the committed copies, made by tests/browser/update-screenshots.sh with
 *   the shipped model on corpus speech: EMOTIOND_TEST_MODEL / EMOTIOND_TEST_AUDIO below).
 */
'use strict';

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const http = require('http');

const SKIP = 77;
const SRC = process.env.EMOTIOND_SRC || path.resolve(__dirname, '..', '..');
const BUILD = process.env.EMOTIOND_BUILD || path.join(SRC, 'build');
const T0 = Date.now();
const children = new Set();
let tmpRoot = null;
let cleanupHooks = [];

function log(...a) {
  console.log('[' + ((Date.now() - T0) / 1000).toFixed(3).padStart(8) + ']', ...a);
}

class Skip extends Error {}
class Fail extends Error {}

function check(cond, msg) {
  if (!cond) throw new Fail(msg);
}

function which(name) {
  for (const dir of (process.env.PATH || '').split(':')) {
    const p = path.join(dir || '.', name);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch (e) { /* next */ }
  }
  return null;
}

function needProgram(name) {
  const p = which(name);
  if (!p) throw new Skip('program ' + name + ' not found (tools/install-deps.sh installs it)');
  return p;
}

function chromiumPath() {
  const p = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(p)) throw new Skip('chromium not found at ' + p + ' (apt-get install chromium, or set CHROMIUM)');
  return p;
}

function playwright() {
  try {
    return require(require.resolve('playwright-core', { paths: [__dirname] }));
  } catch (e) {
    throw new Skip('tests/browser/node_modules/playwright-core missing (run: cd tests/browser && npm ci)');
  }
}

function buildFile(rel, what) {
  const p = path.join(BUILD, rel);
  if (!fs.existsSync(p)) throw new Skip(what + ' not built: ' + p + ' missing (ninja -C ' + BUILD + ')');
  return p;
}
const emotiondBin = () => buildFile('daemon/emotiond', 'emotiond');
const emotionBin = () => buildFile('tools/emotion', 'emotion CLI');

/* Opt-in override for the screenshots (tests/browser/make-screenshots.sh): EMOTIOND_TEST_MODEL
 * replaces the random-weight test model and EMOTIOND_TEST_AUDIO replaces the espeak-ng speech,
 * so the pages can be shown with the shipped model on real emotional speech. Unset (meson test,
 * CI) the suite uses only tiny.emod and espeak-ng and never depends on the corpora. A set but
 * missing path is a failure, not a skip: the caller asked for that file. */
function overridePath(name) {
  const p = process.env[name];
  if (!p) return null;
  check(fs.existsSync(p), name + '=' + p + ': no such file');
  return path.resolve(p);
}
const modelOverridden = () => !!process.env.EMOTIOND_TEST_MODEL;
const audioOverridden = () => !!process.env.EMOTIOND_TEST_AUDIO;

function testModel() {
  const o = overridePath('EMOTIOND_TEST_MODEL');
  if (o) return o;
  for (const p of [path.join(BUILD, 'tests/fixtures/tiny.emod'), path.join(SRC, 'tests/fixtures/tiny.emod')]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Skip('test model tests/fixtures/tiny.emod not found (build dir or source)');
}

/* EMOTIOND_TEST_WINDOW=S (opt-in, for the screenshots): the dashboard tests open the page with
 * ?window=S, a timeline as long as the override audio instead of the default 60 s. */
function windowQuery() {
  const w = process.env.EMOTIOND_TEST_WINDOW;
  return w ? '?window=' + encodeURIComponent(w) : '';
}

/* The daemon's event thresholds for a test: the low ones given (the random test model's
 * posteriors stay near 1/7, so the daemon's defaults would never fire), or the daemon's own
 * defaults when a real model was asked for with EMOTIOND_TEST_MODEL. */
function eventArgs(lowForTinyModel) {
  return modelOverridden() ? [] : lowForTinyModel;
}

function tmpdir() {
  if (!tmpRoot) tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'emotiond-browser-'));
  return tmpRoot;
}

function screenshotDir() {
  const d = process.env.SCREENSHOT_DIR || path.join(BUILD, 'tests', 'browser', 'screenshots');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(fn, timeoutMs, what, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > end) {
      throw new Fail('timed out after ' + timeoutMs + ' ms waiting for ' + what + (last instanceof Error ? ' (last error: ' + last.message + ')' : ''));
    }
    await sleep(everyMs);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function httpGet(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: port, path: p, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/* A child in its own process group with stdout/stderr captured to files (and in memory). */
function startProcess(name, cmd, args, opts = {}) {
  const out = path.join(tmpdir(), name + '.out');
  const err = path.join(tmpdir(), name + '.err');
  const p = spawn(cmd, args, {
    detached: true,
    stdio: [opts.stdin || 'ignore', 'pipe', 'pipe'],
    env: Object.assign({}, process.env, opts.env || {}),
    cwd: opts.cwd || tmpdir()
  });
  const rec = { name: name, proc: p, stdout: '', stderr: '', exited: false, code: null, signal: null };
  const outF = fs.createWriteStream(out), errF = fs.createWriteStream(err);
  p.stdout.on('data', (d) => { rec.stdout += d; outF.write(d); });
  p.stderr.on('data', (d) => { rec.stderr += d; errF.write(d); });
  rec.done = new Promise((resolve) => p.on('close', (code, signal) => {
    rec.exited = true; rec.code = code; rec.signal = signal; children.delete(rec); resolve(rec);
  }));
  p.on('error', (e) => { rec.stderr += '\nspawn failed: ' + e.message; });
  children.add(rec);
  return rec;
}

async function stopProcess(rec, signal = 'SIGTERM', graceMs = 5000) {
  if (rec.exited) return rec;
  try { process.kill(-rec.proc.pid, signal); } catch (e) { /* gone */ }
  const t = setTimeout(() => { try { process.kill(-rec.proc.pid, 'SIGKILL'); } catch (e) { /* gone */ } }, graceMs);
  await rec.done;
  clearTimeout(t);
  return rec;
}

function killAllNow() {
  for (const rec of children) {
    try { process.kill(-rec.proc.pid, 'SIGKILL'); } catch (e) { /* gone */ }
  }
}

/* emotiond on 127.0.0.1:port serving the source tree's web/ folder; ready when /healthz says 200. */
async function startDaemon(port, extra, name = 'emotiond', env) {
  const args = ['--listen', '127.0.0.1:' + port, '--model', testModel(), '--web-root', path.join(SRC, 'web')]
    .concat(extra || []);
  log('start', name + ':', 'emotiond', args.join(' '));
  const d = startProcess(name, emotiondBin(), args, { env: env });
  await waitUntil(async () => {
    if (d.exited) throw new Fail('emotiond exited early (' + d.code + '): ' + d.stderr.trim().split('\n').slice(-5).join(' | '));
    const r = await httpGet(port, '/healthz');
    return r.status === 200;
  }, 10000, 'emotiond /healthz on port ' + port);
  return d;
}

/* Speech from espeak-ng (or the file EMOTIOND_TEST_AUDIO names, text then unused), resampled to
 * 16 kHz mono and padded with digital silence. Returns the duration in seconds. */
function makeSpeech(file, text, leadS, tailS) {
  needProgram('sox');
  let raw = overridePath('EMOTIOND_TEST_AUDIO');
  let r;
  if (!raw) {
    needProgram('espeak-ng');
    raw = file + '.espeak.wav';
    r = spawnSync('espeak-ng', ['-w', raw, text], { encoding: 'utf8' });
    check(r.status === 0, 'espeak-ng failed: ' + r.stderr);
  } else {
    log('audio from EMOTIOND_TEST_AUDIO=' + raw);
  }
  r = spawnSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', file, 'pad', String(leadS), String(tailS)], { encoding: 'utf8' });
  check(r.status === 0, 'sox failed: ' + r.stderr);
  r = spawnSync('soxi', ['-D', file], { encoding: 'utf8' });
  const dur = parseFloat(r.stdout);
  log('audio', path.basename(file), dur.toFixed(2) + ' s (' + leadS + ' s silence, speech, ' + tailS + ' s silence)');
  return dur;
}

/* A private PulseAudio with one null sink whose monitor is the daemon's microphone (the same
 * set-up as tests/integration/harness.py: own runtime dir and socket, anonymous auth, no D-Bus,
 * no shared memory; runs as root too). env is what clients (the daemon with --device pulse,
 * paplay) need to reach it. */
async function startPulse() {
  needProgram('pulseaudio');
  needProgram('pactl');
  needProgram('paplay');
  const dir = path.join(tmpdir(), 'pulse');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sock = path.join(dir, 'native');
  const sink = 'emotiond_test';
  const script = path.join(dir, 'default.pa');
  fs.writeFileSync(script, '.fail\n' +
    'load-module module-native-protocol-unix socket=' + sock + ' auth-anonymous=1\n' +
    'load-module module-null-sink sink_name=' + sink + ' rate=48000 channels=1 sink_properties=device.description=' + sink + '\n' +
    'set-default-sink ' + sink + '\nset-default-source ' + sink + '.monitor\n');
  const env = {
    HOME: dir, XDG_RUNTIME_DIR: dir, PULSE_RUNTIME_PATH: dir, PULSE_STATE_PATH: dir,
    PULSE_SERVER: 'unix:' + sock, PULSE_SOURCE: sink + '.monitor', PULSE_SINK: sink,
    JACK_NO_START_SERVER: '1', DBUS_SESSION_BUS_ADDRESS: '', DISPLAY: ''
  };
  const pa = startProcess('pulseaudio', 'pulseaudio', ['-n', '--daemonize=no', '--exit-idle-time=-1',
    '--use-pid-file=no', '--disable-shm=yes', '--log-target=stderr', '--realtime=no', '--high-priority=no',
    '-F', script], { env: env });
  await waitUntil(() => {
    if (pa.exited) throw new Fail('pulseaudio exited: ' + pa.stderr.slice(-400));
    return fs.existsSync(sock) && spawnSync('pactl', ['info'], { env: Object.assign({}, process.env, env), timeout: 5000 }).status === 0;
  }, 10000, 'private pulseaudio');
  return {
    env: env,
    play: (wav) => startProcess('paplay', 'paplay', ['-d', sink, wav], { env: env })
  };
}

async function launchBrowser() {
  const { chromium } = playwright();
  const exe = chromiumPath();
  const args = ['--autoplay-policy=no-user-gesture-required', '--disable-gpu', '--disable-dev-shm-usage'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: exe, headless: true, args: args });
  cleanupHooks.push(() => browser.close().catch(() => {}));
  return browser;
}

/* Console errors and uncaught exceptions of a page, each with its time, for a final check that
 * tolerates only what a test declares expected (e.g. the browser's own "WebSocket connection
 * failed" lines while the test has the daemon down on purpose). */
function watchPage(page, name) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push({ at: Date.now(), text: m.text(), where: name });
    else if (m.type() === 'warning') log(name, 'console warning:', m.text());
  });
  page.on('pageerror', (e) => problems.push({ at: Date.now(), text: 'uncaught: ' + e.message, where: name }));
  page.on('requestfailed', (r) => problems.push({ at: Date.now(), text: 'request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText, where: name, net: true }));
  // The pages never abort a request themselves, so net::ERR_ABORTED only comes from the test
  // leaving the page (goto, close) while a poll of /metrics or /healthz is in flight.
  problems.leftAt = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) problems.leftAt.push(Date.now()); });
  page.on('close', () => problems.leftAt.push(Date.now()));
  return problems;
}

const LEAVE_SLACK_MS = 1000;

function abortedByLeaving(problems, p) {
  return p.net && /net::ERR_ABORTED$/.test(p.text) && problems.leftAt.some((t) => Math.abs(p.at - t) <= LEAVE_SLACK_MS);
}

function checkNoErrors(problems, allowed) {
  const bad = problems.filter((p) => !abortedByLeaving(problems, p) &&
    !(allowed || []).some((a) => p.at >= a.from && p.at <= a.to && a.re.test(p.text)));
  for (const p of problems) log(bad.includes(p) ? 'ERROR' : 'expected', p.where + ':', p.text);
  check(bad.length === 0, bad.length + ' console error(s) / page exception(s): ' + bad.map((p) => p.text).join(' | '));
}

async function cleanup() {
  for (const h of cleanupHooks.reverse()) { try { await h(); } catch (e) { /* best effort */ } }
  cleanupHooks = [];
  await Promise.all([...children].map((c) => stopProcess(c, 'SIGTERM', 3000)));
  if (tmpRoot && !process.env.KEEP_TMP) fs.rmSync(tmpRoot, { recursive: true, force: true });
}

function main(fn) {
  let finishing = false;
  const finish = async (code, msg) => {
    if (finishing) return;
    finishing = true;
    if (msg) console.log(msg);
    await cleanup().catch(() => {});
    process.exit(code);
  };
  process.on('SIGTERM', () => { log('SIGTERM (meson timeout?)'); killAllNow(); finish(1, 'FAIL: interrupted'); });
  process.on('SIGINT', () => { killAllNow(); finish(1, 'FAIL: interrupted'); });
  process.on('exit', killAllNow);
  Promise.resolve().then(fn).then(
    () => finish(0, 'PASS'),
    (e) => {
      if (e instanceof Skip) return finish(SKIP, 'SKIP: ' + e.message);
      for (const c of children) {
        if (c.stderr) log('--- stderr of', c.name, '(last lines) ---\n' + c.stderr.trim().split('\n').slice(-15).join('\n'));
      }
      console.log(e && e.stack ? e.stack : String(e));
      return finish(1, 'FAIL: ' + (e && e.message));
    });
}

module.exports = {
  SRC, BUILD, SKIP, log, check, Skip, Fail, sleep, waitUntil, freePort, httpGet, startProcess,
  stopProcess, startDaemon, startPulse, makeSpeech, launchBrowser, watchPage, checkNoErrors, screenshotDir,
  tmpdir, emotionBin, emotiondBin, testModel, modelOverridden, audioOverridden, eventArgs, windowQuery, chromiumPath,
  playwright, main, needProgram
};
