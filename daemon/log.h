/* log: one line per message on stderr, prefixed with the journald/syslog priority ("<3>" err,
 * "<4>" warning, "<6>" info, "<7>" debug) so journald files it at the right level, and
 * readable as is on a terminal. Lines above the configured level are dropped. */
#ifndef EMOTIOND_LOG_H
#define EMOTIOND_LOG_H

enum { LOG_ERR = 3, LOG_WARNING = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

void log_set_level(int level);
int log_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
