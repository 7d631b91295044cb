/* `emotion listen` against a real emotiond (no browser needed):
 * - usage errors exit 2 naming the problem; a port nobody listens on exits 1 ("cannot connect");
 * - --raw prints every message's JSON, hello first, posteriors with contiguous seq; --count ends
 *   it with exit 0;
 * - the readable mode prints the connection line, one line per posteriors message (time, label
 *   or "no speech", bar) and, with --frames, frame summaries; --duration ends it with exit 0;
 * - Ctrl-C (SIGINT) closes cleanly (exit 0, one line saying so); the daemon shutting down is
 *   reported ("daemon closed the connection (1001 ...") with exit 0;
 * - --token: refused without it or with a wrong one (exit 1, saying so), accepted with it;
 * - --send FILE (sidecar): the daemon answers with ack + a hello of kind "sidecar", then the
 *   posteriors of that file, equal (1e-6) to the daemon's own --input FILE --fast results at the
 *   same stream times; real-time pace takes the file's duration, --fast much less.
 */
'use strict';

const path = require('path');
const { spawnSync } = require('child_process');
const L = require('./lib');

function run(args, timeoutMs = 20000) {
  const r = spawnSync(L.emotionBin(), ['listen'].concat(args), { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: r.stdout || '', err: r.stderr || '' };
}

function startListen(name, args) {
  return L.startProcess(name, L.emotionBin(), ['listen'].concat(args));
}

async function exited(rec, ms, what) {
  await L.waitUntil(() => rec.exited, ms, what);
  return rec;
}

function fastPass(wav) {
  const r = spawnSync(L.emotiondBin(), ['--input', wav, '--fast', '--json-lines', '--listen', '127.0.0.1:0', '--model', L.testModel()],
    { encoding: 'utf8', timeout: 30000 });
  L.check(r.status === 0, 'emotiond --fast failed: ' + r.stderr);
  const byT = new Map();
  for (const l of r.stdout.split('\n').filter(Boolean)) {
    const m = JSON.parse(l);
    if (m.type === 'posteriors') byT.set(m.t.toFixed(3), m.probs);
  }
  return byT;
}

function parseRaw(out) {
  return out.split('\n').filter(Boolean).map((l, i) => {
    try { return JSON.parse(l); } catch (e) { throw new L.Fail('line ' + (i + 1) + ' of --raw is not JSON: ' + l.slice(0, 80)); }
  });
}

L.main(async () => {
  L.emotionBin(); L.emotiondBin(); L.testModel();
  const wav = path.join(L.tmpdir(), 'speech.wav');
  const dur = L.makeSpeech(wav, 'Hello there. This is a short test of the sidecar mode.', 0.5, 0.5);
  const clip = path.join(L.tmpdir(), 'clip.wav');
  L.makeSpeech(clip, 'One two three.', 0.3, 0.3);
  const clipDur = parseFloat(spawnSync('soxi', ['-D', clip], { encoding: 'utf8' }).stdout);

  // usage and connection errors
  let r = run(['http://127.0.0.1:1/']);
  L.check(r.code === 2 && /not a ws:\/\/ or wss:\/\/ URL/.test(r.err), 'bad scheme: ' + r.code + ' ' + r.err);
  r = run([]);
  L.check(r.code === 2 && /missing the daemon's URL/.test(r.err), 'no URL: ' + r.code + ' ' + r.err);
  r = run(['--rate', '500', 'ws://127.0.0.1:1/ws']);
  L.check(r.code === 2 && /--rate/.test(r.err), 'bad --rate: ' + r.code + ' ' + r.err);
  const nobody = await L.freePort();
  r = run(['ws://127.0.0.1:' + nobody + '/ws']);
  L.check(r.code === 1 && /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws/.test(r.err), 'refused: ' + r.code + ' ' + r.err);
  L.log('usage/refused errors ok:', r.err.trim());

  const port = await L.freePort();
  const url = 'ws://127.0.0.1:' + port + '/ws';
  let daemon = await L.startDaemon(port, ['--input', wav, '--keep-running']);

  // --raw --count
  r = run(['--raw', '--count', '15', url]);
  L.check(r.code === 0, '--raw --count exit ' + r.code + ': ' + r.err);
  const msgs = parseRaw(r.out);
  L.check(msgs[0].type === 'hello' && Array.isArray(msgs[0].labels), 'first --raw message is not hello: ' + r.out.slice(0, 100));
  const posts = msgs.filter((m) => m.type === 'posteriors');
  L.check(posts.length === 15, posts.length + ' posteriors with --count 15');
  for (let i = 1; i < posts.length; i++) L.check(posts[i].seq === posts[i - 1].seq + 1, 'seq gap in --raw output');
  L.log('--raw: hello +', posts.length, 'posteriors, seq', posts[0].seq, '..', posts[posts.length - 1].seq);

  // readable mode with frames, --duration
  r = run(['--frames', '--duration', '1.5', '--color', 'never', url]);
  L.check(r.code === 0, 'readable mode exit ' + r.code + ': ' + r.err);
  const lines = r.out.split('\n');
  L.check(/^connected to ws:\/\/127\.0\.0\.1:\d+\/ws: emotiond /.test(lines[0]), 'first line: ' + lines[0]);
  const postLines = lines.filter((l) => /^\s+\d+\.\d\ds {2}(\S+\s+\d+%  \S*|\S\s+no speech)$/.test(l));
  const frameLines = lines.filter((l) => /frames: \d+ x \d+ bands/.test(l));
  L.check(postLines.length >= 10, 'only ' + postLines.length + ' posteriors lines in 1.5 s:\n' + r.out);
  L.check(frameLines.length >= 5, 'only ' + frameLines.length + ' frames lines with --frames');
  L.log('readable:', postLines.length, 'posteriors lines, e.g.', JSON.stringify(postLines[postLines.length - 1]));

  // Ctrl-C
  let c = startListen('listen-int', ['--color', 'never', url]);
  await L.waitUntil(() => /\d+\.\d\ds {2}/.test(c.stdout), 5000, 'listen output before SIGINT');
  process.kill(c.proc.pid, 'SIGINT');
  await exited(c, 3000, 'listen to exit after SIGINT');
  L.check(c.code === 0 && /interrupted, closing the connection/.test(c.stderr), 'SIGINT: exit ' + c.code + ' ' + c.stderr);

  // daemon shutting down under a listener
  c = startListen('listen-shutdown', ['--color', 'never', url]);
  await L.waitUntil(() => /\d+\.\d\ds {2}/.test(c.stdout), 5000, 'listen output before the daemon stops');
  await L.stopProcess(daemon);
  await exited(c, 3000, 'listen to exit after the daemon stopped');
  // server.h promises a 1001 close frame; until the daemon sends one the client must still end
  // cleanly with a clear line.
  const closed = /daemon closed the connection \(1001/.test(c.stderr);
  L.check(c.code === 0 && (closed || /connection to ws:\S+ lost/.test(c.stderr)), 'daemon shutdown: exit ' + c.code + ' ' + c.stderr);
  if (!closed) L.log('NOTE: the daemon closed without a close frame (1006):', c.stderr.trim());
  L.log('SIGINT and daemon shutdown: clean exits');

  // sidecar: --send at --fast pace, against the daemon's own analysis of the same file
  daemon = await L.startDaemon(port, ['--input', wav, '--keep-running'], 'emotiond-2');
  const t0 = Date.now();
  r = run(['--send', wav, '--fast', '--raw', url], 30000);
  const fastMs = Date.now() - t0;
  L.check(r.code === 0, '--send --fast exit ' + r.code + ': ' + r.err);
  const side = parseRaw(r.out);
  const iAck = side.findIndex((m) => m.type === 'ack' && m.cmd === 'audio');
  const iHello = side.findIndex((m, i) => i > iAck && m.type === 'hello');
  L.check(iAck > 0 && iHello > iAck && side[iHello].input.kind === 'sidecar', 'no ack + sidecar hello: ' + r.out.slice(0, 300));
  const own = side.slice(iHello).filter((m) => m.type === 'posteriors');
  const ref = fastPass(wav);
  let compared = 0, maxDiff = 0;
  for (const m of own) {
    const p = ref.get(m.t.toFixed(3));
    if (!p) continue;
    compared++;
    for (let k = 0; k < p.length; k++) maxDiff = Math.max(maxDiff, Math.abs(p[k] - m.probs[k]));
  }
  L.log('sidecar --fast:', own.length, 'posteriors in', fastMs, 'ms; compared', compared, 'with --input --fast, max diff', maxDiff);
  L.check(own.length >= Math.floor(dur * 10) - 2 && own[own.length - 1].t >= dur - 0.25, 'sidecar results stop at t=' + (own.length ? own[own.length - 1].t : '-') + ' of ' + dur.toFixed(2) + ' s');
  L.check(own.some((m) => m.speech) && own.some((m) => !m.speech), 'sidecar speech flag never changes');
  L.check(compared >= own.length - 2 && maxDiff <= 1e-6, 'sidecar posteriors differ from the daemon\'s file analysis');

  // sidecar at real-time pace: takes about the clip's duration
  const t1 = Date.now();
  r = run(['--send', clip, '--color', 'never', url], 30000);
  const rtS = (Date.now() - t1) / 1000;
  L.check(r.code === 0, '--send real-time exit ' + r.code + ': ' + r.err);
  L.check(/input sidecar/.test(r.out), 'readable sidecar hello missing:\n' + r.out.slice(0, 300));
  L.log('sidecar real time:', clipDur.toFixed(2), 's clip took', rtS.toFixed(2), 's');
  L.check(rtS >= clipDur - 0.1 && rtS < clipDur + 3.5, 'real-time --send took ' + rtS.toFixed(2) + ' s for ' + clipDur.toFixed(2) + ' s of audio');
  await L.stopProcess(daemon);

  // a daemon that requires a token
  daemon = await L.startDaemon(port, ['--input', wav, '--keep-running', '--token', 's3cret'], 'emotiond-token');
  r = run(['--count', '2', url]);
  L.check(r.code === 1 && /unauthorized \(the daemon wants --token\)/.test(r.err), 'no token: ' + r.code + ' ' + r.err);
  r = run(['--count', '2', '--token', 'wrong', url]);
  L.check(r.code === 1 && /wrong --token/.test(r.err), 'wrong token: ' + r.code + ' ' + r.err);
  r = run(['--count', '2', '--raw', '--token', 's3cret', url]);
  L.check(r.code === 0 && parseRaw(r.out).filter((m) => m.type === 'posteriors').length === 2, 'with --token: ' + r.code + ' ' + r.err);
  L.log('token: refused without / with a wrong one, accepted with --token');
  await L.stopProcess(daemon);
});
