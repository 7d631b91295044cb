/* Streaming resampler: channel downmix into a fixed scratch buffer, then libsoxr. */
#include "dsp_internal.h"

#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

/* Input frames downmixed per soxr call: bounds the scratch buffer, so large inputs need no
 * allocation (they are fed in slices of this size). */
#define DSP_RS_CHUNK 2048

struct dsp_resampler {
    double in_rate, out_rate;
    int channels;
    int passthrough;       /* in_rate == out_rate: downmix only */
    soxr_t soxr;           /* NULL when passthrough */
    float *mono;           /* DSP_RS_CHUNK downmixed samples, is malloc'd */
    float *scratch;        /* room for soxr's output of one DSP_RS_CHUNK slice, is malloc'd */
    size_t scratch_cap;
    uint64_t in_total;     /* frames given to soxr since creation/reset, priming included */
    uint64_t out_total;    /* samples soxr produced since creation/reset, priming included */
    uint64_t skip;         /* priming output still to drop before the stream's first sample */
    double latency;        /* output samples held back in steady state, measured in _new */
};

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Output room handed to soxr for n more input frames: what they can complete at most, never the
 * caller's whole buffer. soxr reserves FIFO space for the room it is given, so passing a large
 * out_cap would grow (realloc) its FIFOs on the per-hop path. */
static size_t soxr_room(const dsp_resampler *r, size_t n, size_t cap)
{
    double total = ceil((double)(r->in_total + n) * r->out_rate / r->in_rate) + 4.0;
    double have = (double)r->out_total;
    size_t room = total > have ? (size_t)(total - have) : 0;
    return room < cap ? room : cap;
}

/* soxr grows its internal FIFOs during the first calls of a stream (a FIFO is compacted only
 * once 16 KiB have been read from it, until then it grows). To keep that allocation in
 * _new/_reset, feed it ~1 s of silence now, half in the largest slices process() ever uses and
 * half in 10 ms slices (where soxr's occupancy peaks differ), and drop
 * exactly the output that silence stands for: L input frames with L*out/in an integer M, so the
 * stream's first sample lands on output M, on the same filter phase as in a fresh instance. The
 * silence's own output is exactly zero, and what soxr still holds of it leaves through `skip`.
 * Rates that are not integers have no such L and are not primed (their first hops allocate). */
#define PRIME_SECONDS 4.0
static int prime(dsp_resampler *r)
{
    double in = r->in_rate, out = r->out_rate;
    if (in != floor(in) || out != floor(out))
        return DSP_OK;
    uint64_t g = gcd_u64((uint64_t)in, (uint64_t)out);
    uint64_t lb = (uint64_t)in / g, mb = (uint64_t)out / g;
    uint64_t k = (uint64_t)ceil(PRIME_SECONDS * in / (double)lb);
    if (k == 0)
        k = 1;
    uint64_t L = k * lb, M = k * mb, fed = 0, produced = 0;
    uint32_t lcg = 12345;
    memset(r->mono, 0, sizeof(float) * DSP_RS_CHUNK);
    while (fed < L) {
        size_t n, got = 0;
        if (fed < L / 4)
            n = DSP_RS_CHUNK;
        else if (fed < L / 2)
            n = (size_t)ceil(in / 100.0);
        else { /* slices of 1..DSP_RS_CHUNK frames, deterministic */
            lcg = lcg * 1664525u + 1013904223u;
            n = 1 + (lcg >> 8) % DSP_RS_CHUNK;
        }
        if (n > L - fed)
            n = (size_t)(L - fed);
        size_t room = soxr_room(r, n, r->scratch_cap);
        if (soxr_process(r->soxr, r->mono, n, NULL, r->scratch, room, &got))
            return DSP_ESOXR;
        fed += n;
        produced += got;
        r->in_total = fed;
        r->out_total = produced;
    }
    if (produced > M)
        return DSP_ESOXR; /* soxr ran ahead of its input: the alignment above would be wrong */
    r->in_total = L;
    r->out_total = produced;
    r->skip = M - produced;
    return DSP_OK;
}

/* Drops what is left of the priming output from the got samples just written at out. */
static size_t drop_skip(dsp_resampler *r, float *out, size_t got)
{
    if (!r->skip || !got)
        return got;
    size_t d = r->skip < got ? (size_t)r->skip : got;
    memmove(out, out + d, sizeof(float) * (got - d));
    r->skip -= d;
    return got - d;
}

static int make_soxr(dsp_resampler *r, char *err, size_t errlen)
{
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    /* SOXR_HQ: 20-bit precision (~120 dB stop band), pass band to 91.3 % of the output Nyquist:
     * far below the float32 feature noise floor, at a fraction of VHQ's cost. Minimum phase: the
     * log-mel discards phase, and it cuts the latency soxr adds from 21 ms on average (37 ms at
     * worst, in bursts) to a steady 12.5 ms at 48 kHz; see docs/dsp.md for the measurements. */
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, SOXR_MINIMUM_PHASE);
    /* One thread: the loop thread does the work; soxr must not spawn OpenMP workers. */
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    r->soxr = soxr_create(r->in_rate, r->out_rate, 1, &e, &io, &q, &rt);
    if (!r->soxr || e)
        return dsp__fail(err, errlen, DSP_ESOXR, "libsoxr: %s (%g Hz -> %g Hz)",
                         e ? e : "create failed", r->in_rate, r->out_rate);
    return DSP_OK;
}

/* Feeds 300 ms of silence in 10 ms slices through a probe instance with r's configuration and
 * returns how many output samples it still holds back: the latency a stream sees. soxr_delay()
 * only reports its filter's part of it, not the block buffering. */
static int measure_latency(dsp_resampler *r, char *err, size_t errlen)
{
    dsp_resampler probe = *r;
    int rc = make_soxr(&probe, err, errlen);
    if (rc)
        return rc;
    size_t slice = (size_t)ceil(r->in_rate / 100.0), got = 0;
    uint64_t in = 0, produced = 0;
    memset(r->mono, 0, sizeof(float) * slice);
    for (int i = 0; i < 30; i++) {
        if (soxr_process(probe.soxr, r->mono, slice, NULL, r->scratch, r->scratch_cap, &got)) {
            rc = dsp__fail(err, errlen, DSP_ESOXR, "libsoxr failed on silence");
            goto done;
        }
        in += slice;
        produced += got;
    }
    r->latency = (double)in * r->out_rate / r->in_rate - (double)produced;
done:
    soxr_delete(probe.soxr);
    return rc;
}

int dsp_resampler_new(double in_rate, int channels, double out_rate, dsp_resampler **out,
                      char *err, size_t errlen)
{
    if (!(in_rate >= 8000.0 && in_rate <= 192000.0))
        return dsp__fail(err, errlen, DSP_EINVAL, "in_rate %g Hz out of range 8000..192000",
                         in_rate);
    if (!(out_rate >= 1000.0 && out_rate <= 384000.0))
        return dsp__fail(err, errlen, DSP_EINVAL, "out_rate %g Hz out of range 1000..384000",
                         out_rate);
    if (channels < 1 || channels > 32)
        return dsp__fail(err, errlen, DSP_EINVAL, "channels %d out of range 1..32", channels);
    dsp_resampler *r = calloc(1, sizeof *r);
    if (!r)
        return dsp__fail(err, errlen, DSP_ENOMEM, "dsp_resampler: out of memory");
    r->in_rate = in_rate;
    r->out_rate = out_rate;
    r->channels = channels;
    r->passthrough = in_rate == out_rate;
    int rc = DSP_OK;
    if (!r->passthrough) {
        r->scratch_cap = (size_t)ceil(DSP_RS_CHUNK * out_rate / in_rate) + 64;
        r->mono = malloc(sizeof(float) * DSP_RS_CHUNK);
        r->scratch = malloc(sizeof(float) * r->scratch_cap);
        if (!r->mono || !r->scratch) {
            rc = dsp__fail(err, errlen, DSP_ENOMEM, "dsp_resampler: out of memory");
            goto fail;
        }
        if ((rc = make_soxr(r, err, errlen)) || (rc = measure_latency(r, err, errlen)))
            goto fail;
        if ((rc = prime(r))) {
            dsp__fail(err, errlen, rc, "libsoxr failed while priming %g Hz -> %g Hz", in_rate,
                      out_rate);
            goto fail;
        }
    }
    *out = r;
    return DSP_OK;
fail:
    dsp_resampler_free(r);
    return rc;
}

void dsp_resampler_free(dsp_resampler *r)
{
    if (!r)
        return;
    if (r->soxr)
        soxr_delete(r->soxr);
    free(r->mono);
    free(r->scratch);
    free(r);
}

static void downmix(const float *in, size_t frames, int ch, float *out)
{
    if (ch == 1) {
        memcpy(out, in, frames * sizeof(float));
        return;
    }
    const float inv = 1.0f / (float)ch;
    for (size_t i = 0; i < frames; i++) {
        float acc = 0.0f;
        for (int c = 0; c < ch; c++)
            acc += in[i * (size_t)ch + (size_t)c];
        out[i] = ch == 2 ? acc * 0.5f : acc * inv;
    }
}

size_t dsp_resampler_max_out(const dsp_resampler *r, size_t in_frames)
{
    if (r->passthrough)
        return in_frames;
    /* soxr never gets ahead of its input: total output <= ceil(total input * ratio); the slack
     * covers rounding at non-integer ratios. */
    return soxr_room(r, in_frames, (size_t)-1);
}

int dsp_resampler_process(dsp_resampler *r, const float *in, size_t in_frames, float *out,
                          size_t out_cap, size_t *out_n)
{
    *out_n = 0;
    if (in_frames == 0)
        return DSP_OK;
    if (!in || !out || out_cap < dsp_resampler_max_out(r, in_frames))
        return DSP_EINVAL;
    /* Refused whole like dsp_logmel_push: a NaN inside soxr's FIR would smear over a filter
     * length of output. */
    if (!dsp__all_finite(in, in_frames * (size_t)r->channels))
        return DSP_ENONFINITE;
    if (!r->passthrough && !r->soxr)
        return DSP_ENOMEM;
    if (r->passthrough) {
        downmix(in, in_frames, r->channels, out);
        *out_n = in_frames;
        r->in_total += in_frames;
        r->out_total += in_frames;
        return DSP_OK;
    }
    size_t written = 0;
    while (in_frames > 0) {
        size_t n = in_frames < DSP_RS_CHUNK ? in_frames : DSP_RS_CHUNK;
        size_t odone = 0;
        downmix(in, n, r->channels, r->mono);
        /* idone NULL: soxr takes the whole slice regardless of the output room. */
        soxr_error_t e = soxr_process(r->soxr, r->mono, n, NULL, out + written,
                                      soxr_room(r, n, out_cap - written), &odone);
        if (e)
            return DSP_ESOXR;
        r->in_total += n;
        r->out_total += odone;
        written += drop_skip(r, out + written, odone);
        in += n * (size_t)r->channels;
        in_frames -= n;
    }
    *out_n = written;
    return DSP_OK;
}

int dsp_resampler_flush(dsp_resampler *r, float *out, size_t out_cap, size_t *out_n)
{
    *out_n = 0;
    if (r->passthrough)
        return DSP_OK;
    if (!out || out_cap < dsp_resampler_max_out(r, 0))
        return DSP_EINVAL;
    if (!r->soxr)
        return DSP_ENOMEM;
    size_t written = 0, odone;
    do {
        odone = 0;
        soxr_error_t e = soxr_process(r->soxr, NULL, 0, NULL, out + written,
                                      soxr_room(r, 0, out_cap - written), &odone);
        if (e)
            return DSP_ESOXR;
        r->out_total += odone;
        written += drop_skip(r, out + written, odone);
    } while (odone > 0 && written < out_cap);
    *out_n = written;
    /* A flushed soxr cannot take more input: start a fresh stream. */
    dsp_resampler_reset(r);
    return DSP_OK;
}

double dsp_resampler_delay(const dsp_resampler *r)
{
    return r->latency;
}

void dsp_resampler_reset(dsp_resampler *r)
{
    r->in_total = 0;
    r->out_total = 0;
    r->skip = 0;
    if (r->passthrough)
        return;
    /* soxr_clear() frees its internals and re-creates them lazily; a fresh object is the
     * documented way to a clean state. Reset is a stream boundary, not the per-hop path. */
    if (r->soxr)
        soxr_delete(r->soxr);
    r->soxr = NULL;
    /* On failure (out of memory) r->soxr stays NULL: process and flush then report DSP_ENOMEM
     * until a later reset succeeds, rather than resampling with stale history. */
    if (make_soxr(r, NULL, 0) == DSP_OK && prime(r) != DSP_OK) {
        soxr_delete(r->soxr);
        r->soxr = NULL;
    }
}
