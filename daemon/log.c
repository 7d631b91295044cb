/* log: see log.h. The level is the only process-wide state of the daemon's logging. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int max_level = LOG_INFO;

void log_set_level(int level) { max_level = level; }
int log_level(void) { return max_level; }

void log_msg(int level, const char *fmt, ...)
{
    if (level > max_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* one write per line so lines from a crash handler or libraries do not interleave */
    fprintf(stderr, "<%d>%s\n", level, line);
}
