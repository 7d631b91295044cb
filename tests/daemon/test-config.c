/* config: defaults, INI parsing with FILE:LINE errors, command-line options and their errors,
 * precedence (command line over INI), cross-field validation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char dir[] = "/tmp/emotiond-test-config-XXXXXX";

static const char *write_ini(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(config *c, char *err, size_t n, ...)
{
    char *argv[32] = { "emotiond" };
    int argc = 1;
    va_list ap;
    va_start(ap, n);
    for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
    va_end(ap);
    err[0] = '\0';
    return config_load(c, argc, argv, err, n);
}

static void defaults(void)
{
    config c;
    char err[512];
    CHECK(load(&c, err, sizeof err, NULL) == 0);
    CHECK(!strcmp(c.listen_host, "127.0.0.1"));
    CHECK(c.listen_port == 8765);
    CHECK(c.pipe.publish_hz == 10);
    CHECK(c.input == CONFIG_INPUT_MIC);
    CHECK(c.action == CONFIG_RUN);
    CHECK(config_host_is_loopback(c.listen_host));
    CHECK(!config_host_is_loopback("0.0.0.0"));
}

static void options(void)
{
    config c;
    char err[512];
    CHECK(load(&c, err, sizeof err, "--publish-hz", "5", "--smoothing=0.5", "--listen", "0.0.0.0:9000",
               "--gate", "off", "--stdin", "--format", "f32le", "--rate", "48000", "--channels", "2",
               "--event-on", "0.6", "--event-off", "0.4", "--event-min-duration", "2", NULL) == 0);
    CHECK(c.pipe.publish_hz == 5);
    CHECK(c.pipe.smoothing == 0.5);
    CHECK(!strcmp(c.listen_host, "0.0.0.0") && c.listen_port == 9000);
    CHECK(c.pipe.gate.mode == PIPELINE_GATE_OFF);
    CHECK(c.input == CONFIG_INPUT_STDIN && c.stdin_format == PIPELINE_F32LE);
    CHECK(c.stdin_rate == 48000 && c.stdin_channels == 2);
    CHECK(c.pipe.events.min_duration_s == 2);
    CHECK(c.pipe.speaker.prior_s == 3 && c.pipe.speaker.memory_s == 120 && c.pipe.speaker.var_floor == 0.5);
    CHECK(load(&c, err, sizeof err, "--speaker-prior-s", "0", "--speaker-memory-s=30",
               "--speaker-var-floor", "2", NULL) == 0);
    CHECK(c.pipe.speaker.prior_s == 0 && c.pipe.speaker.memory_s == 30 && c.pipe.speaker.var_floor == 2);

    CHECK(load(&c, err, sizeof err, "--listen", "[::1]:8000", NULL) == 0);
    CHECK(!strcmp(c.listen_host, "::1") && c.listen_port == 8000);
    CHECK(load(&c, err, sizeof err, "--listen", "9001", NULL) == 0);
    CHECK(!strcmp(c.listen_host, "127.0.0.1") && c.listen_port == 9001);
    CHECK(load(&c, err, sizeof err, "--input", "x.wav", "--fast", NULL) == 0);
    CHECK(c.input == CONFIG_INPUT_FILE && c.fast && !strcmp(c.file, "x.wav"));
    CHECK(load(&c, err, sizeof err, "--version", NULL) == 0 && c.action == CONFIG_VERSION);
    CHECK(load(&c, err, sizeof err, "-h", NULL) == 0 && c.action == CONFIG_HELP);
    CHECK(load(&c, err, sizeof err, "--check-config", NULL) == 0 && c.action == CONFIG_CHECK);
}

static void bad_options(void)
{
    config c;
    char err[512];
    CHECK(load(&c, err, sizeof err, "--no-such", NULL) == -2);
    CHECKF(strstr(err, "unknown option '--no-such'"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--model", NULL) == -2);
    CHECKF(strstr(err, "--model needs a value"), "%s", err);
    CHECK(load(&c, err, sizeof err, "stray", NULL) == -2);
    CHECK(load(&c, err, sizeof err, "--help=1", NULL) == -2);
    CHECK(load(&c, err, sizeof err, "--publish-hz", "0", NULL) == -1);
    CHECKF(strstr(err, "--publish-hz") && strstr(err, "out of range"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--publish-hz", "10x", NULL) == -1);
    CHECKF(strstr(err, "not a number"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--smoothing", "0", NULL) == -1);
    CHECK(load(&c, err, sizeof err, "--channels", "1.5", NULL) == -1);
    CHECKF(strstr(err, "--channels") && strstr(err, "not an integer"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--channels", "99999999999999999999", NULL) == -1);
    CHECK(load(&c, err, sizeof err, "--listen", "127.0.0.1:70000", NULL) == -1);
    CHECK(load(&c, err, sizeof err, "--listen", "256.0.0.1:8000", NULL) == -1);
    CHECKF(strstr(err, "neither an IPv4/IPv6 address"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--listen", "localhost:8000", NULL) == 0);
    CHECK(!strcmp(c.listen_host, "127.0.0.1"));
    CHECK(load(&c, err, sizeof err, "--listen", "lo:8000", NULL) == 0);
    CHECK(load(&c, err, sizeof err, "--listen", "::1:80", NULL) == -1);
    CHECKF(strstr(err, "[ADDR]:PORT"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--format", "u8", NULL) == -1);
    CHECK(load(&c, err, sizeof err, "--gate", "magic", NULL) == -1);
    CHECK(load(&c, err, sizeof err, "--fast", NULL) == -1);   /* needs --input */
    CHECKF(strstr(err, "--fast"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--event-on", "0.3", NULL) == -1); /* below event-off 0.35 */
    CHECKF(strstr(err, "event_off"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--speaker-memory-s", "0", NULL) == -1);
    CHECKF(strstr(err, "--speaker-memory-s") && strstr(err, "out of range"), "%s", err);
    CHECK(load(&c, err, sizeof err, "--speaker-var-floor", "-1", NULL) == -1);
    CHECK(load(&c, err, sizeof err, "--config", "/nonexistent/x.ini", NULL) == -1);
    CHECKF(strstr(err, "/nonexistent/x.ini") && strstr(err, "cannot open"), "%s", err);
}

static void ini_good(void)
{
    config c;
    char err[512];
    const char *p = write_ini("good.ini",
        "; emotiond settings\n"
        "[server]\n"
        "listen = 0.0.0.0:8000\n"
        "token = s3cret\n"
        "allow_origin = http://a.example,http://b.example\n"
        "max_subscribers = 50\n"
        "\n"
        "[pipeline]\n"
        "publish_hz = 4 ; inline comment\n"
        "smoothing = 0.2\n"
        "[gate]\n"
        "mode = energy\n"
        "threshold_db = 12\n"
        "[events]\n"
        "on_threshold = 0.7\n"
        "off_threshold = 0.5\n"
        "min_duration_s = 2\n"
        "[speaker]\n"
        "prior_s = 10\n"
        "var_floor = 0\n"
        "[output]\n"
        "json_lines = yes\n"
        "[log]\n"
        "level = debug\n");
    CHECK(load(&c, err, sizeof err, "--config", p, NULL) == 0);
    CHECKF(err[0] == '\0', "%s", err);
    CHECK(c.listen_port == 8000 && !strcmp(c.token, "s3cret"));
    CHECK(!strcmp(c.origins, "http://a.example,http://b.example"));
    CHECK(c.max_subscribers == 50);
    CHECK(c.pipe.publish_hz == 4 && c.pipe.smoothing == 0.2);
    CHECK(c.pipe.gate.threshold_db == 12);
    CHECK(c.pipe.events.on_threshold == 0.7 && c.pipe.events.min_duration_s == 2);
    CHECK(c.json_lines == 1 && c.log_level == 7);
    CHECK(c.pipe.speaker.prior_s == 10 && c.pipe.speaker.var_floor == 0 && c.pipe.speaker.memory_s == 120);
    /* the command line wins over the file, wherever --config appears */
    CHECK(load(&c, err, sizeof err, "--publish-hz", "20", "--config", p, NULL) == 0);
    CHECK(c.pipe.publish_hz == 20);
}

static void ini_bad(void)
{
    config c;
    char err[512];
    const char *p = write_ini("unknown.ini", "[server]\nlisten = 127.0.0.1:1\nbogus = 1\n");
    CHECK(load(&c, err, sizeof err, "--config", p, NULL) == -1);
    CHECKF(strstr(err, "unknown.ini:3: unknown setting 'bogus' in [server]"), "%s", err);

    p = write_ini("range.ini", "[pipeline]\n\npublish_hz = 1000\n");
    CHECK(load(&c, err, sizeof err, "--config", p, NULL) == -1);
    CHECKF(strstr(err, "range.ini:3: [pipeline] publish_hz: 1000 is out of range"), "%s", err);

    p = write_ini("syntax.ini", "[gate]\nthreshold_db = 9\nthis is not ini\n");
    CHECK(load(&c, err, sizeof err, "--config", p, NULL) == -1);
    CHECKF(strstr(err, "syntax.ini:3: not an INI line"), "%s", err);

    p = write_ini("nosection.ini", "listen = 1\n");
    CHECK(load(&c, err, sizeof err, "--config", p, NULL) == -1);
    CHECKF(strstr(err, "nosection.ini:1: 'listen' outside any [section]"), "%s", err);

    p = write_ini("bool.ini", "[input]\nfast = maybe\n");
    CHECK(load(&c, err, sizeof err, "--config", p, NULL) == -1);
    CHECKF(strstr(err, "bool.ini:2:") && strstr(err, "not a boolean"), "%s", err);

    p = write_ini("cross.ini", "[events]\non_threshold = 0.4\noff_threshold = 0.6\n");
    CHECK(load(&c, err, sizeof err, "--config", p, NULL) == -1);
    CHECKF(strstr(err, "event_off = 0.6"), "%s", err);
}

static void model_path(void)
{
    config c;
    char err[512], buf[1024];
    config_defaults(&c);
    snprintf(c.model, sizeof c.model, "/nonexistent/m.emod");
    CHECK(config_model_path(&c, buf, sizeof buf, err, sizeof err) == NULL);
    CHECKF(strstr(err, "/nonexistent/m.emod"), "%s", err);
}

int main(void)
{
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    RUN(defaults);
    RUN(options);
    RUN(bad_options);
    RUN(ini_good);
    RUN(ini_bad);
    RUN(model_path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_failures != 0;
}
