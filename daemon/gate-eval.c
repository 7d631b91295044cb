/* emotiond-gate-eval: measures the speech gate (gate.h) and, side by side, speexdsp's
 * preprocessor VAD on the same audio.
 *
 *   emotiond-gate-eval [--every N] [--gate-threshold-db DB] CORPUS_DIR...
 *
 * Speech: every Nth file of each CORPUS_DIR/labels.csv (16 kHz mono), clean and with white noise
 * mixed in at 20, 10 and 0 dB SNR. The reference speech frames of a file are those whose band
 * energy (200 Hz - 4 kHz) is above max(p99 - 30 dB, p10 + 15 dB) of the file's own frames: the
 * voiced part of the utterance, found with knowledge of the whole file (which a causal gate does
 * not have); with noise mixed in (SNR = mean in-band power of those frames over the noise's), only
 * those at least 3 dB above the noise in the band remain reference speech. Reported: frame miss rate (reference speech frames the gate called non-speech), the
 * share of utterances with >= 90 % of their speech frames found, false accepts in the recording's
 * silence before the utterance, and acceptance of all other non-reference frames (trailing
 * silence, pauses under the hangover, the weakest speech frames).
 * Silence and noise: 10 s each of digital silence, dither at -90 dBFS, white, pink and brown noise
 * at -60, -40 and -20 dBFS, and white noise stepping from -60 to -30 dBFS after 5 s; reported: the
 * share of frames called speech (false accepts).
 */
#include <math.h>
#include <sndfile.h>
#include <speex/speex_preprocess.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsp.h"
#include "gate.h"

#define SR 16000
#define HOP 160

static gate_params gp = { 6, -65, 30, 300, 8 };
static dsp_params fp;

static uint32_t rng = 12345;
static double gauss(void)
{
    rng = rng * 1664525u + 1013904223u;
    double u = ((rng >> 8) + 1.0) / 16777217.0;
    rng = rng * 1664525u + 1013904223u;
    double v = (rng >> 8) / 16777216.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* kind 0 white, 1 pink, 2 brown, 3 white with its level swaying +-4 dB at 0.3 Hz (a fan, traffic);
 * rms about dbfs */
static void add_noise(float *x, size_t n, int kind, double dbfs)
{
    double a = pow(10, dbfs / 20), b0 = 0, b1 = 0, b2 = 0, br = 0;
    for (size_t i = 0; i < n; i++) {
        double w = gauss();
        if (kind == 1) {
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            w = (b0 + b1 + b2 + w * 0.1848) / 3.0;
        } else if (kind == 2) {
            br = 0.995 * br + w * 0.1;
            w = br / 1.0;
        } else if (kind == 3) {
            w *= pow(10, 4.0 * sin(2 * M_PI * 0.3 * (double)i / SR) / 20);
        }
        x[i] += (float)(a * w);
    }
}

struct counts { long speech_frames, missed, other_frames, other_acc, utt, utt90, lead_frames, lead_acc; };

/* Runs our gate and speex's VAD over x; dec_g/dec_s receive one decision per log-mel frame.
 * Returns the frame count. */
static long decide(const float *x, size_t n, unsigned char *dec_g, unsigned char *dec_s, float *energy)
{
    long nf = (long)dsp_logmel_frame_count(&fp, n);
    float *fr = malloc((size_t)(nf > 0 ? nf : 1) * (size_t)fp.n_mels * sizeof *fr);
    dsp_logmel_batch(&fp, x, n, fr, (size_t)nf);
    gate *g = gate_new(&fp, &gp);
    SpeexPreprocessState *sp = speex_preprocess_state_init(HOP, SR);
    int on = 1;
    speex_preprocess_ctl(sp, SPEEX_PREPROCESS_SET_VAD, &on);
    /* speex's VAD decides from its denoiser's speech probability: keep the denoiser on (the
     * default; without it speex_preprocess_run calls everything speech), AGC off */
    int off = 0;
    speex_preprocess_ctl(sp, SPEEX_PREPROCESS_SET_AGC, &off);
    spx_int16_t buf[HOP];
    /* speex frame j covers [160 j, 160 j + 160); log-mel frame i covers [160 i, 160 i + 400):
     * pair frame i with speex frame i + 1 (the frame around its centre) */
    int sv = 0;
    long j = 0;
    for (long i = 0; i < nf; i++) {
        dec_g[i] = (unsigned char)gate_push(g, fr + (size_t)i * (size_t)fp.n_mels);
        energy[i] = gate_level_db(g);
        while (j <= i + 1 && (size_t)(j + 1) * HOP <= n) {
            for (int k = 0; k < HOP; k++) {
                float v = x[(size_t)j * HOP + (size_t)k] * 32768.0f;
                buf[k] = (spx_int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
            }
            sv = speex_preprocess_run(sp, buf);
            j++;
        }
        dec_s[i] = (unsigned char)sv;
    }
    speex_preprocess_state_destroy(sp);
    gate_free(g);
    free(fr);
    return nf;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Raw (unsmoothed) band energy per frame for the reference. */
static void band_energy(const float *x, size_t n, float *e, long nf)
{
    gate_params raw = gp;
    (void)raw;
    float *fr = malloc((size_t)nf * (size_t)fp.n_mels * sizeof *fr);
    dsp_logmel_batch(&fp, x, n, fr, (size_t)nf);
    /* same band as the gate: reuse the gate's level on a gate that is reset every frame */
    gate *g = gate_new(&fp, &gp);
    for (long i = 0; i < nf; i++) {
        gate_reset(g);
        gate_push(g, fr + (size_t)i * (size_t)fp.n_mels);
        e[i] = gate_level_db(g);
    }
    gate_free(g);
    free(fr);
}

static void eval_file(const char *path, double snr_db, struct counts *cg, struct counts *cs)
{
    SF_INFO si = { 0 };
    SNDFILE *f = sf_open(path, SFM_READ, &si);
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, sf_strerror(NULL));
        return;
    }
    if (si.samplerate != SR || si.channels != 1) {
        fprintf(stderr, "%s: %d Hz x %d, expected 16 kHz mono; skipped\n", path, si.samplerate, si.channels);
        sf_close(f);
        return;
    }
    size_t n = (size_t)si.frames;
    float *x = malloc(n * sizeof *x);
    sf_readf_float(f, x, (sf_count_t)n);
    sf_close(f);
    long nf = (long)dsp_logmel_frame_count(&fp, n);
    if (nf < 10) {
        free(x);
        return;
    }
    float *e = malloc((size_t)nf * sizeof *e), *es = malloc((size_t)nf * sizeof *es);
    float *lev = malloc((size_t)nf * sizeof *lev);
    unsigned char *ref = malloc((size_t)nf), *dg = malloc((size_t)nf), *ds = malloc((size_t)nf);
    band_energy(x, n, e, nf);
    memcpy(es, e, (size_t)nf * sizeof *e);
    qsort(es, (size_t)nf, sizeof *es, cmp_float);
    double p99 = es[(size_t)(0.99 * (double)(nf - 1))], p10 = es[(size_t)(0.10 * (double)(nf - 1))];
    double thr = fmax(p99 - 30, p10 + 15);
    double sp_pow = 0;
    long nsp = 0;
    for (long i = 0; i < nf; i++) {
        ref[i] = e[i] > thr;
        if (ref[i]) {
            sp_pow += pow(10, e[i] / 10);
            nsp++;
        }
    }
    if (nsp == 0) goto done;
    if (isfinite(snr_db)) {
        /* white noise whose in-band power is snr_db below the speech frames' mean in-band
         * power; white noise has (4000-200)/8000 of its power in the band */
        double band_db = 10 * log10(sp_pow / (double)nsp) - snr_db;
        add_noise(x, n, 0, band_db - 10 * log10(3800.0 / 8000.0));
        /* frames buried in the noise are not speech anybody could detect: the reference
         * keeps the frames at least 3 dB above the noise in the band */
        nsp = 0;
        for (long i = 0; i < nf; i++) {
            ref[i] = ref[i] && e[i] > band_db + 3;
            nsp += ref[i];
        }
        if (nsp == 0) goto done;
    }
    decide(x, n, dg, ds, lev);
    unsigned char *dec[2] = { dg, ds };
    struct counts *c[2] = { cg, cs };
    long first = 0;
    while (first < nf && !ref[first]) first++;
    for (int k = 0; k < 2; k++) {
        long found = 0;
        /* the recording's silence before the utterance: up to 100 ms before its first speech
         * frame (the corpora have 0.3-1 s of room tone there) */
        for (long i = 0; i + 10 < first; i++) {
            c[k]->lead_frames++;
            c[k]->lead_acc += dec[k][i];
        }
        for (long i = 0; i < nf; i++) {
            if (ref[i]) {
                c[k]->speech_frames++;
                if (!dec[k][i]) c[k]->missed++;
                else found++;
            } else {
                c[k]->other_frames++;
                c[k]->other_acc += dec[k][i];
            }
        }
        c[k]->utt++;
        if (found >= 0.9 * (double)nsp) c[k]->utt90++;
    }
done:
    free(x);
    free(e);
    free(es);
    free(lev);
    free(ref);
    free(dg);
    free(ds);
}

static void noise_case(const char *name, int kind, double db, double step_db)
{
    size_t n = 10 * SR;
    float *x = calloc(n, sizeof *x);
    if (kind >= 0) add_noise(x, n, kind, db);
    if (!isnan(step_db)) add_noise(x + n / 2, n / 2, 0, step_db);
    long nf = (long)dsp_logmel_frame_count(&fp, n);
    unsigned char *dg = malloc((size_t)nf), *ds = malloc((size_t)nf);
    float *lev = malloc((size_t)nf * sizeof *lev);
    decide(x, n, dg, ds, lev);
    long ag = 0, as = 0, ag2 = 0, as2 = 0;
    for (long i = 0; i < nf; i++) {
        ag += dg[i];
        as += ds[i];
        if (i >= nf / 2 + 200) { /* 2 s after a step */
            ag2 += dg[i];
            as2 += ds[i];
        }
    }
    printf("| %-34s | %6.2f %% | %6.2f %% |", name, 100.0 * (double)ag / (double)nf,
           100.0 * (double)as / (double)nf);
    if (!isnan(step_db))
        printf(" 2 s after the step: %.2f %% / %.2f %%", 100.0 * (double)ag2 / (double)(nf - nf / 2 - 200),
               100.0 * (double)as2 / (double)(nf - nf / 2 - 200));
    printf("\n");
    free(x);
    free(dg);
    free(ds);
    free(lev);
}

int main(int argc, char **argv)
{
    int every = 10, ndirs = 0;
    const char *dirs[8];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--every") && i + 1 < argc) every = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "--gate-threshold-db") && i + 1 < argc) gp.threshold_db = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--gate-contrast-db") && i + 1 < argc) gp.contrast_db = strtod(argv[++i], NULL);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--every N] [--gate-threshold-db DB] CORPUS_DIR...\n", argv[0]);
            return 2;
        } else if (ndirs < 8) dirs[ndirs++] = argv[i];
    }
    dsp_params_default(&fp);
    printf("gate: threshold %g dB over the floor, abs floor %g dBFS, onset %g ms, hangover %g ms, "
           "contrast %g dB\n\n", gp.threshold_db, gp.abs_floor_db, gp.onset_ms, gp.hangover_ms, gp.contrast_db);

    printf("Silence and noise (10 s each; share of frames called speech = false accepts)\n\n");
    printf("| %-34s | %8s | %8s |\n|---|---|---|\n", "signal", "gate", "speex");
    noise_case("digital silence", -1, 0, NAN);
    noise_case("white -90 dBFS (dither)", 0, -90, NAN);
    const char *kn[] = { "white", "pink", "brown" };
    for (int k = 0; k < 3; k++)
        for (double db = -60; db <= -20; db += 20) {
            char name[64];
            snprintf(name, sizeof name, "%s noise %g dBFS", kn[k], db);
            noise_case(name, k, db, NAN);
        }
    noise_case("white -40 dBFS swaying +-4 dB at 0.3 Hz", 3, -40, NAN);
    noise_case("white -60 dBFS, +30 dB step at 5 s", 0, -60, -30);

    if (ndirs == 0) return 0;
    double snrs[] = { INFINITY, 20, 10, 0 };
    printf("\nCorpus speech (every %d%s file of %d corpus dir%s)\n\n", every,
           every == 1 ? "st" : every == 2 ? "nd" : every == 3 ? "rd" : "th", ndirs, ndirs > 1 ? "s" : "");
    printf("| SNR | files | gate: frame miss | gate: utts >= 90 %% found | gate: accepts before the utterance "
           "| gate: accepts of other frames | speex: frame miss | speex: utts >= 90 %% | speex: accepts before "
           "| speex: other accepts |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int s = 0; s < 4; s++) {
        struct counts cg = { 0 }, cs = { 0 };
        for (int d = 0; d < ndirs; d++) {
            char lp[1024], line[2048], path[4096];
            snprintf(lp, sizeof lp, "%s/labels.csv", dirs[d]);
            FILE *f = fopen(lp, "r");
            if (!f) {
                fprintf(stderr, "%s: cannot open\n", lp);
                return 1;
            }
            long k = 0;
            if (!fgets(line, sizeof line, f)) { fclose(f); continue; } /* header */
            while (fgets(line, sizeof line, f)) {
                if (k++ % every) continue;
                char *comma = strchr(line, ',');
                if (!comma) continue;
                *comma = '\0';
                snprintf(path, sizeof path, "%s/%s", dirs[d], line);
                eval_file(path, snrs[s], &cg, &cs);
            }
            fclose(f);
        }
        char snr[16];
        if (isinf(snrs[s])) snprintf(snr, sizeof snr, "clean");
        else snprintf(snr, sizeof snr, "%g dB", snrs[s]);
        printf("| %s | %ld | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n",
               snr, cg.utt, 100.0 * (double)cg.missed / (double)cg.speech_frames,
               100.0 * (double)cg.utt90 / (double)cg.utt, 100.0 * (double)cg.lead_acc / (double)cg.lead_frames,
               100.0 * (double)cg.other_acc / (double)cg.other_frames,
               100.0 * (double)cs.missed / (double)cs.speech_frames, 100.0 * (double)cs.utt90 / (double)cs.utt,
               100.0 * (double)cs.lead_acc / (double)cs.lead_frames,
               100.0 * (double)cs.other_acc / (double)cs.other_frames);
        fflush(stdout);
    }
    return 0;
}
