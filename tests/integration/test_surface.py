#!/usr/bin/python3
"""The daemon's surface: unknown options exit 2 naming the option; --help/--version exit 0;
--check-config accepts a good file and names FILE:LINE of a bad one; /healthz is JSON with the
documented fields; /metrics is Prometheus text with hops, overruns, a per-hop latency histogram,
subscribers and drops; SIGTERM with subscribers connected exits 0 promptly and closes them."""
import asyncio
import json
import os
import signal
import time

import harness as h
import wsclient as wc


def cli_checks(d, model):
    exe = h.emotiond_bin()
    r = h.run([exe, '--frobnicate'], timeout=10)
    h.check(r.returncode == 2, 'unknown option: exit %s, expected 2' % r.returncode)
    h.check('--frobnicate' in r.stderr, 'unknown option not named: %r' % r.stderr)
    h.check(len(r.stderr.strip().splitlines()) <= 3, 'too much output for one error: %r' % r.stderr)
    r = h.run([exe, '--listen'], timeout=10)
    h.check(r.returncode == 2 and '--listen' in r.stderr,
            'missing argument: exit %s, %r' % (r.returncode, r.stderr))
    r = h.run([exe, '--listen', '127.0.0.1:99999', '--check-config', '--model', model], timeout=10)
    h.check(r.returncode != 0 and 'listen' in r.stderr,
            'bad port accepted by --check-config: %s %r' % (r.returncode, r.stderr))
    r = h.run([exe, '--help'], timeout=10)
    h.check(r.returncode == 0 and '--device' in r.stdout and '--input' in r.stdout,
            '--help: exit %s, output lacks options' % r.returncode)
    r = h.run([exe, '--version'], timeout=10)
    h.check(r.returncode == 0 and '0.' in r.stdout, '--version: %s %r' % (r.returncode, r.stdout))

    bad = os.path.join(d, 'bad.ini')
    with open(bad, 'w') as f:
        f.write('# a config with an error on line 3\n[server]\nlisten = not-an-address:port\n')
    r = h.run([exe, '--config', bad, '--check-config'], timeout=10)
    h.check(r.returncode != 0, '--check-config accepted a bad file')
    h.check('bad.ini:3' in r.stderr, 'error does not name FILE:LINE (bad.ini:3): %r' % r.stderr)
    missing = os.path.join(d, 'missing.ini')
    r = h.run([exe, '--config', missing, '--check-config'], timeout=10)
    h.check(r.returncode != 0 and 'missing.ini' in r.stderr,
            'missing config file: %s %r' % (r.returncode, r.stderr))

    # start-up errors: exit 1 with one line naming the culprit
    r = h.run([exe, '--input', os.path.join(d, 'nonexistent.wav'), '--listen', '0',
               '--model', model], timeout=20)
    h.check(r.returncode == 1 and 'nonexistent.wav' in r.stderr,
            'missing --input file: %s %r' % (r.returncode, r.stderr))
    corrupt = os.path.join(d, 'corrupt.emod')
    with open(model, 'rb') as f, open(corrupt, 'wb') as g:
        g.write(f.read()[:1000])
    r = h.run([exe, '--stdin', '--listen', '0', '--model', corrupt], input=b'', timeout=20)
    h.check(r.returncode == 1 and 'corrupt.emod' in r.stderr,
            'truncated model: %s %r' % (r.returncode, r.stderr))
    import socket
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = h.run([exe, '--stdin', '--listen', '127.0.0.1:%d' % port, '--model', model],
                  input=b'', timeout=20)
    h.check(r.returncode == 1 and str(port) in r.stderr,
            'port in use: %s %r' % (r.returncode, r.stderr))
    # no --model: the shipped model (found next to the build for an uninstalled daemon)
    r = h.run([exe, '--check-config'], timeout=20)
    h.check(r.returncode == 0 and 'emotiond-default' in r.stdout,
            '--check-config without --model does not load the shipped model: %s %r %r'
            % (r.returncode, r.stdout, r.stderr))
    h.log('CLI errors ok')


def check_http(dm):
    hz = dm.healthz()
    for k in ('state', 'input', 'model', 'uptime_s'):
        h.check(k in hz, '/healthz lacks %r: %s' % (k, hz))
    h.log('/healthz %s' % json.dumps(hz)[:300])
    m = dm.metrics()
    names = sorted(m)
    for n in ('emotiond_hops_total', 'emotiond_overruns_total', 'emotiond_subscribers',
              'emotiond_dropped_messages_total', 'emotiond_hop_seconds_bucket',
              'emotiond_latency_seconds_bucket'):
        h.check(n in names, '/metrics has no %s: %s' % (n, names))
    hist = [n for n in names if n.endswith('_bucket')]
    for n in hist:
        buckets = m[n]
        h.check(any(lab.get('le') == '+Inf' for lab, _ in buckets), '%s has no +Inf bucket' % n)
        vals = [v for _, v in buckets]
        h.check(vals == sorted(vals), '%s buckets are not cumulative' % n)
    hops = h.metric(m, 'emotiond_hops_total')
    h.check(hops > 0, 'no hops counted after streaming: %s' % hops)
    h.check(h.metric(m, 'emotiond_subscribers') == 3, 'emotiond_subscribers is %s with 3 '
            'connected' % h.metric(m, 'emotiond_subscribers'))
    h.check(h.metric(m, 'emotiond_hop_seconds_count') > 0, 'per-hop histogram is empty')
    code, body = dm.get('/no-such-page')
    h.check(code == 404, '/no-such-page answered %s' % code)
    h.log('/metrics: %d names, hops %g' % (len(names), hops))


async def over_limit(dm):
    """--max-subscribers 3 with 3 connected: a 4th is refused (busy), the 3 are untouched."""
    import websockets
    try:
        ws = await wc.ws_connect(dm.ws)
    except (websockets.InvalidStatusCode, websockets.InvalidHandshake) as e:
        h.log('4th connection refused at the handshake: %s' % e)
        return
    got = []
    try:
        while True:
            got.append(await wc.recv_json(ws, 3))
    except websockets.ConnectionClosed as e:
        h.log('4th connection: %s, closed %s' % ([m.get('code') for m in got], e))
        h.check(any(m.get('type') == 'error' and m.get('code') == 'busy' for m in got) or
                (e.rcvd is not None and e.rcvd.code == 1013),
                '4th connection closed without saying busy: %s %s' % (got, e))
        return
    except asyncio.TimeoutError:
        pass
    raise h.Fail('4th connection accepted with --max-subscribers 3: %s' % got[:3])


async def token_checks(d, model, val):
    """--token end to end on the real daemon: /ws and /metrics need it (header or ?token=),
    /healthz does not."""
    import websockets
    wav = h.silence(os.path.join(d, 'tok.wav'), 2.0)
    with h.Daemon(d, ['--input', wav, '--keep-running', '--token', 's3cret', '--model', model],
                  name='emotiond-token') as dm:
        try:
            ws = await wc.ws_connect(dm.ws)
            await ws.close()
            raise h.Fail('/ws accepted without the token')
        except websockets.InvalidStatusCode as e:
            h.check(e.status_code in (401, 403), '/ws without token: HTTP %s' % e.status_code)
        ws = await wc.ws_connect(dm.ws + '?token=s3cret')
        await wc.hello(ws, val)
        await ws.close()
        ws = await wc.ws_connect(dm.ws, extra_headers={'Authorization': 'Bearer s3cret'})
        await wc.hello(ws, val)
        await ws.close()
        h.check(dm.get('/metrics')[0] == 401, '/metrics without token not refused')
        h.check(dm.get('/metrics?token=s3cret')[0] == 200, '/metrics with token refused')
        h.check(dm.get('/healthz')[0] == 200, '/healthz needs a token')
    h.log('token: /ws and /metrics need it, /healthz does not')


async def test():
    model = h.test_model()
    val = h.schema()
    with h.tempdir() as d:
        cli_checks(d, model)
        await token_checks(d, model, val)
        with h.PulseAudio(d) as pa:
            r = h.run([h.emotiond_bin(), '--list-devices'], env=pa.env(), timeout=30)
            h.check(r.returncode == 0, '--list-devices exited %s: %s' % (r.returncode, r.stderr))
            names = [line.split()[1] for line in r.stdout.splitlines()[1:] if line.split()]
            h.check('pulse' in names, '--list-devices does not list the pulse device:\n%s'
                    % r.stdout)
            h.log('--list-devices: %s' % names)
            dm = h.Daemon(d, ['--device', 'pulse', '--model', model, '--max-subscribers', '3'],
                          env=pa.env())
            with dm:
                dm.wait_streaming()
                socks = [await wc.ws_connect(dm.ws) for _ in range(3)]
                for ws in socks:
                    await wc.hello(ws, val)
                await over_limit(dm)
                await asyncio.sleep(1.5)
                check_http(dm)
                t0 = time.monotonic()
                dm.signal(signal.SIGTERM)
                rc = await asyncio.get_event_loop().run_in_executor(None, dm.proc.wait, 10)
                dt = time.monotonic() - t0
                h.check(rc == 0, 'SIGTERM: exit status %s' % rc)
                h.check(dt < 3, 'SIGTERM took %.1f s' % dt)
                for ws in socks:
                    try:
                        while True:
                            await asyncio.wait_for(ws.recv(), 3)
                    except Exception as e:  # noqa: B902 - closed is what we expect
                        h.check(type(e).__name__.startswith('ConnectionClosed'),
                                'subscriber not closed after SIGTERM: %r' % e)
                h.log('SIGTERM -> exit 0 in %.2f s' % dt)


h.main(test)
