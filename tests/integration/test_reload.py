#!/usr/bin/python3
"""SIGHUP reloads without dropping subscribers:
- the model file replaced by a corrupt one: the daemon stays up, logs the refusal, keeps the old
  model (same model id in /healthz), subscribers keep receiving contiguous posteriors;
- a good config change (publish rate 10 -> 5 Hz) is applied to the running stream."""
import asyncio
import os
import shutil
import signal
import time

import harness as h
import wsclient as wc

CONFIG = """# written by tests/integration/test_reload.py
[model]
path = {model}

[pipeline]
publish_hz = {hz}
"""


def write_config(path, model, hz):
    with open(path, 'w') as f:
        f.write(CONFIG.format(model=model, hz=hz))


def rate(col, since, until):
    post = col.posteriors(since, until)
    return len(post) / (until - since)


async def test():
    val = h.schema()
    model_src = h.test_model()
    with h.tempdir() as d, h.PulseAudio(d) as pa:
        model = os.path.join(d, 'model.emod')
        shutil.copy(model_src, model)
        cfg = os.path.join(d, 'emotiond.ini')
        write_config(cfg, model, 10)
        exe = h.emotiond_bin()
        r = h.run([exe, '--config', cfg, '--check-config'], env=pa.env(), timeout=10)
        h.check(r.returncode == 0, '--check-config refused the test config: %s' % r.stderr)
        with h.Daemon(d, ['--device', 'pulse', '--config', cfg], env=pa.env()) as dm:
            model_id = dm.wait_streaming()['model']
            ws = await wc.ws_connect(dm.ws)
            hello = await wc.hello(ws, val)
            col = wc.Collector(ws, val)
            await asyncio.sleep(2)

            # 1. corrupt model: flip bytes in the middle, keep the size
            with open(model, 'r+b') as f:
                f.seek(os.path.getsize(model) // 2)
                f.write(b'\xde\xad\xbe\xef' * 64)
            log0 = len(dm.log_text())
            dm.signal(signal.SIGHUP)
            await asyncio.sleep(2)
            h.check(dm.alive(), 'daemon died on SIGHUP with a corrupt model')
            log = dm.log_text()[log0:]
            h.log('log after bad reload: %s' % log.strip()[-300:])
            h.check('model' in log.lower(), 'the refused model is not mentioned in the log')
            h.check(dm.healthz()['model'] == model_id, 'model id changed after a refused reload')
            t1 = time.monotonic()
            await asyncio.sleep(2)
            h.check(rate(col, t1, time.monotonic()) > 7, 'posteriors stopped after a bad reload')

            # 2. good config change: publish 5 Hz (model restored)
            shutil.copy(model_src, model)
            write_config(cfg, model, 5)
            log0 = len(dm.log_text())
            dm.signal(signal.SIGHUP)
            await asyncio.sleep(1.5)
            want = 'reloaded: model %s (%s, 1 network)' % (model_id, model)
            h.check(want in dm.log_text()[log0:], 'no "%s" in the log after a good reload' % want)
            t2 = time.monotonic()
            await asyncio.sleep(4)
            r5 = rate(col, t2, time.monotonic())
            h.log('publish rate after reload: %.2f Hz' % r5)
            h.check(4 <= r5 <= 6, 'publish rate after reload to 5 Hz: %.2f Hz' % r5)
            await col.stop()
            h.check(col.closed is None, 'subscriber dropped by a reload: %s' % col.closed)
            wc.check_contiguous([m['seq'] for m in col.posteriors()])
            await ws.close()
            h.check(hello['publish_hz'] == 10, 'hello publish_hz %s' % hello['publish_hz'])


h.main(test)
