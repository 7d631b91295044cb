/* listen_print: see listen_print.h. */
#include "listen_print.h"

#include <stdio.h>
#include <string.h>

const char *listen_jstr(json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : dflt;
}

double listen_jnum(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static const char *ansi(const listen_printer *p, const char *code)
{
    return p->color ? code : "";
}

/* A 20-cell bar for v in [0, 1] with eighth-cell resolution; it ends the line, so no padding. */
static void print_bar(const listen_printer *p, double v)
{
    static const char *const eighths[] = {"", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b",
                                          "\u258a", "\u2589"};
    const int width = 20;
    if (!(v > 0)) v = 0;
    if (v > 1) v = 1;
    int units = (int)(v * width * 8 + 0.5);
    int cells = 0;
    for (; units >= 8 && cells < width; units -= 8, cells++)
        fputs(p->utf8 ? "\u2588" : "#", stdout);
    if (units > 0 && cells < width)
        fputs(p->utf8 ? eighths[units] : (units >= 4 ? "#" : ""), stdout);
}

void listen_print_hello(listen_printer *p, const char *url, json_t *m)
{
    json_t *in = json_object_get(m, "input");
    printf("%sconnected%s to %s: emotiond %s, model %s, hop %g ms, publish %g Hz, input %s %s",
           ansi(p, "\033[1m"), ansi(p, "\033[0m"), url, listen_jstr(m, "daemon", "?"),
           listen_jstr(m, "model", "?"), listen_jnum(m, "hop_ms", 0),
           listen_jnum(m, "publish_hz", 0), listen_jstr(in, "kind", "?"),
           listen_jstr(in, "device", ""));
    if (listen_jnum(in, "rate", 0) > 0)
        printf(" %g Hz", listen_jnum(in, "rate", 0));
    printf("\n  labels:");
    json_t *labels = json_object_get(m, "labels");
    for (size_t i = 0; i < json_array_size(labels); i++) {
        const char *l = json_string_value(json_array_get(labels, i));
        printf(" %s", l ? l : "?");
    }
    printf("\n");
}

void listen_print_posteriors(listen_printer *p, json_t *m)
{
    int speech = json_is_true(json_object_get(m, "speech"));
    const char *top = listen_jstr(m, "top", NULL);
    printf("%9.2fs  ", listen_jnum(m, "t", 0));
    if (!speech || !top) {
        printf("%s%-10s no speech%s\n", ansi(p, "\033[2m"), "\u00b7", ansi(p, "\033[0m"));
        return;
    }
    double conf = listen_jnum(m, "conf", 0);
    printf("%s%-10s%s %3.0f%%  ", ansi(p, "\033[1m"), top, ansi(p, "\033[0m"), conf * 100);
    print_bar(p, conf);
    printf("\n");
}

void listen_print_event(listen_printer *p, json_t *m)
{
    int onset = strcmp(listen_jstr(m, "state", ""), "onset") == 0;
    printf("%s%s%8.2fs  %-6s %-10s held %.1f s  p %.2f%s\n",
           ansi(p, onset ? "\033[1;33m" : "\033[36m"), p->utf8 ? "\u25b6" : ">",
           listen_jnum(m, "t", 0), onset ? "ONSET" : "offset", listen_jstr(m, "label", "?"),
           listen_jnum(m, "held_s", 0), listen_jnum(m, "prob", 0), ansi(p, "\033[0m"));
}

void listen_print_status(listen_printer *p, json_t *m)
{
    char line[256];
    snprintf(line, sizeof line, "%s %s, overruns %.0f, drops %.0f, subscribers %.0f",
             listen_jstr(m, "state", "?"), listen_jstr(m, "device", ""),
             listen_jnum(m, "overruns", 0), listen_jnum(m, "drops", 0),
             listen_jnum(m, "subscribers", 0));
    if (strcmp(line, p->last_status) == 0)
        return;
    snprintf(p->last_status, sizeof p->last_status, "%s", line);
    printf("%s  status: %s", ansi(p, "\033[2m"), line);
    json_t *lat = json_object_get(m, "lat_ms");
    if (lat)
        printf(", latency p50 %.1f ms p99 %.1f ms", listen_jnum(lat, "p50", 0),
               listen_jnum(lat, "p99", 0));
    printf("%s\n", ansi(p, "\033[0m"));
}

void listen_print_frames(listen_printer *p, json_t *m)
{
    json_t *gate = json_object_get(m, "gate");
    int open = 0;
    for (size_t i = 0; i < json_array_size(gate); i++)
        open += json_number_value(json_array_get(gate, i)) >= 0.5;
    printf("%s%9.2fs  frames: %.0f x %.0f bands, log-mel %.1f..%.1f, gate open %d/%.0f%s\n",
           ansi(p, "\033[2m"), listen_jnum(m, "t", 0), listen_jnum(m, "n", 0),
           listen_jnum(m, "bands", 0), listen_jnum(m, "lo", 0), listen_jnum(m, "hi", 0), open,
           listen_jnum(m, "n", 0), ansi(p, "\033[0m"));
}
