"""Harness for emotiond's integration tests: real binaries, real sockets, real audio devices.

What it promises:
- Every process it starts runs in its own process group with PR_SET_PDEATHSIG=SIGKILL, and is
  torn down (SIGTERM, then SIGKILL after a grace period) when its context manager exits, whether
  the test passed, failed, raised or was interrupted by meson's timeout (SIGTERM is turned into
  an exception so that the `with` blocks unwind).
- PulseAudio runs privately: its own runtime dir, HOME and socket under a temp dir, only the
  modules listed in its -F script (native protocol on a unix socket with anonymous auth and one
  null sink), no D-Bus, no autospawn, no shared memory. It runs as root too (PulseAudio only warns
  "not intended to be run as root" without --system; it refuses nothing).
- The daemon is started on a free loopback port and is ready when /healthz answers.
- `main(fn)` maps Skip to exit 77 (meson's "skipped") and any other exception to exit 1 with a
  traceback; skipping happens only when a required system program (pulseaudio, paplay,
  espeak-ng, sox, ...) is absent; a missing build product, test model or schema fails.

Tests use python's asyncio + websockets (10.x API) for clients (wsclient.py) and jsonschema for
validation.
"""
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

SKIP = 77
SRC = os.environ.get('EMOTIOND_SRC') or os.path.abspath(
    os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.environ.get('EMOTIOND_BUILD') or os.path.join(SRC, 'build')


class Skip(Exception):
    """A required program or file is genuinely missing: the test cannot run here."""


class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def log(*a):
    print('[%8.3f]' % (time.monotonic() - _T0), *a, flush=True)


_T0 = time.monotonic()


def _sigterm(signum, frame):
    # meson's timeout sends SIGTERM: unwind the with-blocks so children are torn down.
    raise KeyboardInterrupt('SIGTERM (test timeout?)')


def main(fn):
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        if asyncio.iscoroutinefunction(fn):
            asyncio.run(fn())
        else:
            fn()
    except Skip as e:
        print('SKIP: %s' % e, flush=True)
        sys.exit(SKIP)
    except BaseException:  # noqa: B902 - any failure, including timeouts, is a failed test
        traceback.print_exc()
        sys.stdout.flush()
        sys.exit(1)
    print('PASS', flush=True)
    sys.exit(0)


# ---------------------------------------------------------------- programs and paths

def need_program(name):
    path = shutil.which(name)
    if not path:
        raise Skip('program %r not found (install it with tools/install-deps.sh)' % name)
    return path


def build_file(*parts, what=None):
    # Our own build products are never "genuinely missing": their absence fails the test
    # rather than hiding it behind a skip.
    path = os.path.join(BUILD, *parts)
    if not os.path.exists(path):
        raise Fail('%s not built: %s missing (ninja -C %s)' % (what or parts[-1], path, BUILD))
    return path


def emotiond_bin():
    return build_file('daemon', 'emotiond', what='emotiond')


def emotion_bin():
    return build_file('tools', 'emotion', what='emotion CLI')


def test_model():
    """The small random model the tests use (written at build time by the model area)."""
    for cand in (os.path.join(BUILD, 'tests', 'fixtures', 'tiny.emod'),
                 os.path.join(SRC, 'tests', 'fixtures', 'tiny.emod')):
        if os.path.exists(cand):
            return cand
    raise Fail('test model tests/fixtures/tiny.emod not found (build dir or source)')


def schema():
    path = os.path.join(SRC, 'proto', 'schema', 'v1.json')
    if not os.path.exists(path):
        raise Fail('protocol schema %s missing' % path)
    import jsonschema
    with open(path) as f:
        sch = json.load(f)
    cls = jsonschema.validators.validator_for(sch)
    cls.check_schema(sch)
    return cls(sch)


def validate(validator, msg):
    errs = sorted(validator.iter_errors(msg), key=lambda e: list(e.path))
    if errs:
        raise Fail('message does not validate against proto/schema/v1.json: %s\n  message: %s'
                   % (errs[0].message, json.dumps(msg)[:400]))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    # Own process group (killable as a whole) and die with the test if it is SIGKILLed.
    os.setsid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv, env=None, stdout=None, stderr=None, stdin=subprocess.DEVNULL):
    return subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, stdin=stdin,
                            preexec_fn=_child_setup)


def terminate(proc, grace=5.0, sig=signal.SIGTERM):
    """Signal the whole group, wait up to grace s, then SIGKILL. Returns the exit status."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(5)


def run(argv, env=None, timeout=60, input=None):
    """Run to completion with a timeout; returns CompletedProcess (text)."""
    p = spawn(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        terminate(p, grace=1)
        raise Fail('%s did not finish within %s s' % (' '.join(argv[:3]), timeout))
    dec = (lambda b: b.decode(errors='replace') if isinstance(b, bytes) else b)
    return subprocess.CompletedProcess(argv, p.returncode, dec(out), dec(err))


async def wait_process(proc, timeout):
    """Awaits a Popen without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            terminate(proc, 1)
            raise Fail('process %s did not finish within %s s' % (proc.args[0], timeout))
        await asyncio.sleep(0.02)
    return proc.returncode


@contextlib.contextmanager
def tempdir(prefix='emotiond-it-'):
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- PulseAudio

class PulseAudio:
    """A private PulseAudio with one null sink (`emotiond_test`); its monitor is the daemon's mic.

    Clients reach it through env(): PULSE_SERVER=unix:<dir>/native, and PULSE_SOURCE selects the
    monitor so that ALSA's pulse plugin (what PortAudio's "pulse"/"default" devices go through)
    records from it.
    """
    SINK = 'emotiond_test'

    def __init__(self, workdir, rate=48000, channels=1):
        self.dir = os.path.join(workdir, 'pulse')
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.socket = os.path.join(self.dir, 'native')
        self.rate = rate
        self.channels = channels
        self.proc = None
        self.logpath = os.path.join(self.dir, 'pulseaudio.log')
        self.script = os.path.join(self.dir, 'default.pa')
        with open(self.script, 'w') as f:
            f.write('.fail\n'
                    'load-module module-native-protocol-unix socket=%s auth-anonymous=1\n'
                    'load-module module-null-sink sink_name=%s rate=%d channels=%d '
                    'sink_properties=device.description=emotiond_test\n'
                    'set-default-sink %s\n'
                    'set-default-source %s.monitor\n'
                    % (self.socket, self.SINK, rate, channels, self.SINK, self.SINK))

    def env(self, base=None):
        e = dict(os.environ if base is None else base)
        e.update({
            'HOME': self.dir,
            'XDG_RUNTIME_DIR': self.dir,
            'PULSE_RUNTIME_PATH': self.dir,
            'PULSE_STATE_PATH': self.dir,
            'PULSE_SERVER': 'unix:' + self.socket,
            'PULSE_SOURCE': self.SINK + '.monitor',
            'PULSE_SINK': self.SINK,
            # PortAudio probes JACK first; make that fail fast and quietly.
            'JACK_NO_START_SERVER': '1',
        })
        e.pop('DBUS_SESSION_BUS_ADDRESS', None)
        e.pop('DISPLAY', None)
        return e

    def start(self, timeout=10):
        need_program('pulseaudio')
        need_program('pactl')
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)
        logf = open(self.logpath, 'a')
        self.proc = spawn(['pulseaudio', '-n', '--daemonize=no', '--exit-idle-time=-1',
                           '--use-pid-file=no', '--disable-shm=yes', '--log-target=stderr',
                           '--realtime=no', '--high-priority=no', '-F', self.script],
                          env=self.env(), stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail('pulseaudio exited with %s:\n%s' % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.socket):
                r = run(['pactl', 'info'], env=self.env(), timeout=5)
                if r.returncode == 0:
                    return self
            time.sleep(0.1)
        raise Fail('pulseaudio did not come up within %s s:\n%s' % (timeout, self.log_tail()))

    def stop(self):
        terminate(self.proc, grace=3)
        self.proc = None

    def log_tail(self, n=20):
        with contextlib.suppress(OSError), open(self.logpath) as f:
            return ''.join(f.readlines()[-n:])
        return ''

    def play(self, wav, wait=True, timeout=60):
        """Play a file into the null sink (paplay). Returns the Popen when wait is False."""
        need_program('paplay')
        p = spawn(['paplay', '-d', self.SINK, wav], env=self.env(),
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait:
            return p
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            terminate(p, 1)
            raise Fail('paplay %s did not finish' % wav)
        check(p.returncode == 0, 'paplay %s failed: %s' % (wav, err.decode(errors='replace')))
        return p

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- audio made for the tests

def espeak(path, text, voice='en', speed=150):
    need_program('espeak-ng')
    r = run(['espeak-ng', '-v', voice, '-s', str(speed), '-w', path, text], timeout=30)
    check(r.returncode == 0, 'espeak-ng failed: %s' % r.stderr)
    return path


def sox(*args, timeout=30):
    need_program('sox')
    r = run(['sox'] + [str(a) for a in args], timeout=timeout)
    check(r.returncode == 0, 'sox %s failed: %s' % (' '.join(map(str, args)), r.stderr))


def silence(path, seconds, rate=16000):
    sox('-n', '-r', rate, '-c', 1, '-b', 16, path, 'trim', 0, seconds)
    return path


def noise(path, seconds, rate=16000, amp=0.05, color='whitenoise'):
    sox('-n', '-r', rate, '-c', 1, '-b', 16, path, 'synth', seconds, color, 'vol', amp)
    return path


def convert(src, dst, rate=16000, channels=1, bits=16):
    """Resample/convert with sox (also used to make raw PCM: dst ending in .raw)."""
    sox(src, '-r', rate, '-c', channels, '-b', bits, dst)
    return dst


def concat(dst, *srcs, rate=16000):
    """Concatenate files after bringing each to rate/mono/16 bit (sox needs equal formats)."""
    tmp = []
    for i, s in enumerate(srcs):
        t = dst + '.part%d.wav' % i
        convert(s, t, rate=rate)
        tmp.append(t)
    sox(*tmp, dst)
    for t in tmp:
        os.unlink(t)
    return dst


def duration(path):
    need_program('soxi')
    r = run(['soxi', '-D', path], timeout=10)
    check(r.returncode == 0, 'soxi %s: %s' % (path, r.stderr))
    return float(r.stdout)


SPEECH_TEXT = ('The quick brown fox jumps over the lazy dog, and then it runs back again '
               'across the green field while everybody is watching and shouting loudly.')


# ---------------------------------------------------------------- the daemon

class Daemon:
    """The real emotiond binary. `args` are extra CLI arguments (the input, --model, ...)."""

    def __init__(self, workdir, args, env=None, port=None, name='emotiond'):
        self.bin = emotiond_bin()
        self.workdir = workdir
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.port = port or free_port()
        self.proc = None
        self.name = name
        self.logpath = os.path.join(workdir, name + '.stderr')
        self.stdout_path = os.path.join(workdir, name + '.stdout')
        self.returncode = None

    @property
    def http(self):
        return 'http://127.0.0.1:%d' % self.port

    @property
    def ws(self):
        return 'ws://127.0.0.1:%d/ws' % self.port

    def argv(self):
        return [self.bin, '--listen', '127.0.0.1:%d' % self.port] + self.args

    def start(self, ready=True, timeout=20, stdout=None):
        err = open(self.logpath, 'ab')
        out = stdout if stdout is not None else open(self.stdout_path, 'ab')
        log('start:', ' '.join(self.argv()))
        self.proc = spawn(self.argv(), env=self.env, stdout=out, stderr=err)
        err.close()
        if stdout is None:
            out.close()
        if ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail('emotiond exited with %s before it was ready:\n%s'
                           % (self.proc.returncode, self.log_tail()))
            with contextlib.suppress(OSError, ValueError):
                code, _ = self.get('/healthz', timeout=1)
                if code == 200:
                    return
            time.sleep(0.1)
        raise Fail('emotiond did not answer /healthz within %s s:\n%s' % (timeout, self.log_tail()))

    def wait_streaming(self, timeout=20):
        """Waits until /healthz says the input runs and its hop counter advances (the HTTP
        side is up before PortAudio has opened the device)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            hz = self.healthz()
            if hz.get('state') == 'running' and last is not None and hz.get('hops', 0) > last:
                return hz
            last = hz.get('hops', 0) if hz.get('state') == 'running' else None
            time.sleep(0.2)
        raise Fail('input not streaming within %s s: /healthz %s' % (timeout, hz))

    def get(self, path, timeout=5):
        """HTTP GET on the daemon: (status, body text). 4xx/5xx are returned, not raised."""
        try:
            with urllib.request.urlopen(self.http + path, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors='replace')

    def healthz(self):
        code, body = self.get('/healthz')
        check(code == 200, '/healthz answered %s: %s' % (code, body[:200]))
        return json.loads(body)

    def metrics(self):
        code, body = self.get('/metrics')
        check(code == 200, '/metrics answered %s' % code)
        return parse_prometheus(body)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM the daemon alone and wait; returns its exit status (SIGKILL after timeout)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                terminate(self.proc, grace=1, sig=signal.SIGKILL)
                self.returncode = 'timeout'
                self.proc = None
                return self.returncode
        self.returncode = self.proc.returncode
        terminate(self.proc, grace=1)  # stray children of the group, if any
        self.proc = None
        return self.returncode

    def log_text(self):
        with contextlib.suppress(OSError), open(self.logpath, errors='replace') as f:
            return f.read()
        return ''

    def log_tail(self, n=30):
        return ''.join(self.log_text().splitlines(True)[-n:])

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        rc = self.stop()
        if exc_type is not None:
            print('---- %s stderr (tail) ----\n%s' % (self.name, self.log_tail(40)), flush=True)
        elif rc not in (0, None):
            raise Fail('emotiond exited with %s on SIGTERM:\n%s' % (rc, self.log_tail()))


def parse_prometheus(text):
    """Prometheus text format 0.0.4 -> {name: [(labels dict, value)]}; raises on bad lines."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith('#'):
            if line.startswith('# TYPE'):
                parts = line.split()
                check(len(parts) == 4 and parts[3] in
                      ('counter', 'gauge', 'histogram', 'summary', 'untyped'),
                      '/metrics line %d: bad TYPE line %r' % (n, line))
            continue
        name, labels, rest = line, {}, ''
        if '{' in line:
            name, _, tail = line.partition('{')
            body, _, rest = tail.rpartition('}')
            for item in _split_labels(body):
                k, _, v = item.partition('=')
                check(v.startswith('"') and v.endswith('"'),
                      '/metrics line %d: bad label %r' % (n, item))
                labels[k.strip()] = v[1:-1]
        else:
            name, _, rest = line.partition(' ')
        fields = rest.split()
        check(len(fields) in (1, 2), '/metrics line %d: bad sample %r' % (n, line))
        try:
            value = float(fields[0])
        except ValueError:
            raise Fail('/metrics line %d: value not a number: %r' % (n, line))
        check(name.replace('_', 'a').replace(':', 'a').isalnum(),
              '/metrics line %d: bad metric name %r' % (n, name))
        out.setdefault(name.strip(), []).append((labels, value))
    return out


def _split_labels(body):
    items, cur, inq, esc = [], '', False, False
    for ch in body:
        if esc:
            cur += ch
            esc = False
        elif ch == '\\':
            cur += ch
            esc = True
        elif ch == '"':
            cur += ch
            inq = not inq
        elif ch == ',' and not inq:
            items.append(cur)
            cur = ''
        else:
            cur += ch
    if cur.strip():
        items.append(cur)
    return items


def metric(m, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None when absent."""
    if name not in m:
        return None
    return sum(v for lab, v in m[name] if all(lab.get(k) == x for k, x in labels.items()))


# ---------------------------------------------------------------- daemon vs `emotion analyze`

RAW = ['--gate', 'off', '--smoothing', '1']  # published probabilities = the model's own


def analyze(path, model, hop_out_ms=100):
    """`emotion analyze` timeline of a file: {t in ms: probs}, plus the whole JSON."""
    r = run([emotion_bin(), 'analyze', path, '--model', model, '--hop-out', str(hop_out_ms)],
            timeout=120)
    check(r.returncode == 0, 'emotion analyze %s failed: %s' % (path, r.stderr))
    a = json.loads(r.stdout)
    return {round(row['t'] * 1000): row['probs'] for row in a['timeline']}, a


def json_lines(text, validator):
    msgs = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            m = json.loads(line)
        except ValueError:
            raise Fail('stdout line %d is not JSON: %r' % (n, line[:200]))
        validate(validator, m)
        msgs.append(m)
    return msgs


TOL = 1e-4  # messages carry 4 decimals (rounding <= 5e-5); the rest is float arithmetic


def compare_offline(post, offline, what, tol=TOL, min_matched=0.95):
    """Every offline time step must be published by the daemon with probs within tol.
    post: posteriors messages; offline: {t_ms: probs}. Returns (matched, max diff)."""
    by_t = {round(m['t'] * 1000): m['probs'] for m in post}
    matched, worst, missing = 0, 0.0, []
    for t, probs in sorted(offline.items()):
        if t not in by_t:
            missing.append(t)
            continue
        d = max(abs(a - b) for a, b in zip(by_t[t], probs))
        check(d <= tol, '%s: at t=%.3f s the daemon published %s, emotion analyze %s (diff %.2g)'
              % (what, t / 1000, by_t[t], probs, d))
        worst = max(worst, d)
        matched += 1
    check(offline, '%s: emotion analyze produced no timeline' % what)
    check(matched >= min_matched * len(offline), '%s: only %d of %d offline time steps published '
          '(missing t=%s ...; daemon t=%s ...)' % (what, matched, len(offline),
                                                   missing[:5], sorted(by_t)[:5]))
    return matched, worst
