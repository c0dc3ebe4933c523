/*
 * log: logfmt lines on stderr, written with one write() each so lines from
 * several worker processes sharing stderr never interleave.  When stderr
 * is the journal (systemd sets JOURNAL_STREAM to its device:inode), each
 * line starts with its syslog priority, "<3>" .. "<7>", which journald
 * takes off and keeps as the entry's priority.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "tt_time.h"
#include "log.h"


static const char  *tt_log_levels[] = { "debug", "info", "warn", "error" };

/* syslog priorities: debug 7, info 6, warning 4, err 3 */
static const char  *tt_log_priorities[] = { "<7>", "<6>", "<4>", "<3>" };

static char         tt_log_worker[128];
static int          tt_log_min = TT_LOG_DEBUG;
static int          tt_log_journal = -1;   /* not checked yet */


static int tt_log_to_journal(void);


void
tt_log_set_level(tt_log_level_e level)
{
    tt_log_min = level;
}


int
tt_log_level_parse(const char *name)
{
    int  i;

    for (i = TT_LOG_DEBUG; i <= TT_LOG_ERROR; i++) {
        if (strcmp(name, tt_log_levels[i]) == 0) {
            return i;
        }
    }

    return -1;
}


void
tt_log_set_worker(const char *worker)
{
    if (worker == NULL) {
        tt_log_worker[0] = '\0';
        return;
    }

    tt_log_quote(worker, tt_log_worker, sizeof(tt_log_worker));
}


void
tt_log(tt_log_level_e level, const char *fmt, ...)
{
    char            line[4096], ts[32];
    size_t          n;
    va_list         ap;
    struct timeval  tv;

    if ((int) level < tt_log_min) {
        return;
    }

    gettimeofday(&tv, NULL);
    tt_time_format_utc(tv.tv_sec, ts, sizeof(ts));
    ts[19] = '\0';                              /* drop the "Z" */

    n = snprintf(line, sizeof(line), "%sts=%s.%03dZ level=%s",
                 tt_log_to_journal() ? tt_log_priorities[level] : "", ts,
                 (int) (tv.tv_usec / 1000), tt_log_levels[level]);

    if (tt_log_worker[0] != '\0' && n < sizeof(line)) {
        n += snprintf(line + n, sizeof(line) - n, " worker=%s",
                      tt_log_worker);
    }

    if (n < sizeof(line) - 1) {
        line[n++] = ' ';
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
    }

    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';

    (void) !write(STDERR_FILENO, line, n);
}


/*
 * Whether stderr is still the stream systemd connected to the journal:
 * JOURNAL_STREAM is inherited, so a child whose stderr was redirected
 * elsewhere must not write priority prefixes into a file.
 */
static int
tt_log_to_journal(void)
{
    const char          *env;
    unsigned long long   dev, ino;
    struct stat          st;

    if (tt_log_journal >= 0) {
        return tt_log_journal;
    }

    tt_log_journal = 0;

    env = getenv("JOURNAL_STREAM");
    if (env != NULL
        && sscanf(env, "%llu:%llu", &dev, &ino) == 2
        && fstat(STDERR_FILENO, &st) == 0
        && (unsigned long long) st.st_dev == dev
        && (unsigned long long) st.st_ino == ino)
    {
        tt_log_journal = 1;
    }

    return tt_log_journal;
}


char *
tt_log_quote(const char *value, char *buf, size_t size)
{
    size_t       n;
    int          quote;
    const char  *p;

    if (size == 0) {
        return buf;
    }

    if (value == NULL) {
        value = "";
    }

    quote = (value[0] == '\0' || strpbrk(value, " \"=\\\n\r\t") != NULL);

    n = 0;
    if (quote && n + 1 < size) {
        buf[n++] = '"';
    }

    for (p = value; *p != '\0' && n + 3 < size; p++) {
        switch (*p) {
        case '"':
        case '\\':
            buf[n++] = '\\';
            buf[n++] = *p;
            break;
        case '\n':
            buf[n++] = '\\';
            buf[n++] = 'n';
            break;
        case '\r':
            buf[n++] = '\\';
            buf[n++] = 'r';
            break;
        case '\t':
            buf[n++] = ' ';
            break;
        default:
            buf[n++] = *p;
        }
    }

    if (quote && n + 1 < size) {
        buf[n++] = '"';
    }
    buf[n] = '\0';

    return buf;
}
