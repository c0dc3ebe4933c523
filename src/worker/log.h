/*
 * log: one logfmt line per event on stderr, e.g.
 *   ts=2026-01-01T00:00:00.123Z level=info worker=host:42 job=7 \
 *   outcome=done reports=1 versions=1 lines=1
 * Values with spaces, quotes or "=" are double quoted with \" and \\
 * escapes; newlines become \n.  Nothing secret is ever passed in.
 * Under systemd (stderr is the journal) each line is prefixed with its
 * syslog priority: <7> debug, <6> info, <4> warn, <3> error.
 */

#ifndef TT_LOG_H
#define TT_LOG_H

typedef enum {
    TT_LOG_DEBUG = 0,
    TT_LOG_INFO,
    TT_LOG_WARN,
    TT_LOG_ERROR
} tt_log_level_e;


/* lines below level are dropped (default: every line) */
void tt_log_set_level(tt_log_level_e level);

/* "debug", "info", "warn", "error": the level, or -1 */
int tt_log_level_parse(const char *name);

/* the worker identity stamped on every line (NULL: none) */
void tt_log_set_worker(const char *worker);

/*
 * fmt is a printf format of "key=value" fields separated by spaces; pass
 * free text (errors, names) through tt_log_quote() first.
 */
void tt_log(tt_log_level_e level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* logfmt-quote value into buf; returns buf */
char *tt_log_quote(const char *value, char *buf, size_t size);

#endif /* TT_LOG_H */
