/*
 * pull: reports listed from TrackTik's /rest/v1/reports into the job
 * queue, where they take the webhook path (process.c): a pull of a date
 * range (`pull`), and the scheduled pull of the recent window that
 * recovers deliveries TrackTik never made (`schedule`).
 *
 * Windows slide over the range: each request lists reportDateTime:between
 * from the pull's cursor to a month later (TrackTik's limit on :between),
 * sorted by reportDateTime,id, limit=page_size (1000), with include=
 * naming the relations a webhook subscription includes, so the jobs carry
 * what a delivery carries and a page costs one request.  A full page
 * moves the cursor to its last reportDateTime (the reports of that second
 * already queued are skipped by offset, the last of them repeated as a
 * check), so only a month that really holds less than a page costs a
 * short one.  Sites and clients are listed once per pull (when the
 * reference table is older than half the enrichment TTL), posts only when
 * the reports do not include them (a page's included posts are stored),
 * so enrichment asks TrackTik nothing per report.  Every request goes
 * through api.c: the shared budget, 429/Retry-After, backoff, the gateway
 * timeout.  The cursor (the checkpoint): sql/functions/pull.sql.
 */

#ifndef TT_PULL_H
#define TT_PULL_H

#include <signal.h>
#include <stddef.h>

#include "config.h"


/* what a subscription's entityResponse.include asks for
 * (doc/connecting-a-tenant.md) */
#define TT_PULL_INCLUDE  "reportFields,reportTemplate,account,position," \
                         "reportFlag,createdOn,updatedOn"


/*
 * A pull's page hook (the schedule's audit: tt_audit_seen_page(),
 * audit.h): the listed page as TrackTik sent it, read into *items, a
 * malloc()ed JSON array that tracktik_pull_page() keeps beside the page
 * (pull.sql).  -1 with err: the page is still queued, not kept, and the
 * pull's audit will refuse a window it saw only in part.
 */
typedef int (*tt_pull_seen_pt)(void *ctx, const char *page, char **items,
    char *err, size_t errlen);


typedef struct {
    int          scheduled;     /* 0: manual (resumable) */
    long long    from;          /* epoch seconds, UTC */
    long long    to;            /* inclusive */
    long long    since;         /* updatedOn:gte; 0: none */
    long long    site;          /* 0: every site */
    long long    client;        /* 0: every client */
    const char  *include;
    int          page_size;     /* limit=, at least 2; 0: the API setting
                                   (1000) */
    tt_pull_seen_pt  seen;      /* NULL: the pages are not kept */
    void            *seen_ctx;
} tt_pull_spec_t;


typedef struct {
    long long    pull_id;
    int          resumed;
    long long    pages;
    long long    reports;       /* listed by TrackTik, each once */
    long long    queued;        /* became jobs (new or changed content) */
    long long    restarts;      /* a second listed again (changed under
                                   the pull) */
    long long    requests;      /* API calls made, retries not counted: */
    long long    page_requests; /*   for the reports */
    long long    reference_requests; /* for clients, sites, posts */
    long long    from;          /* the reportDateTime range pulled */
    long long    to;
} tt_pull_result_t;


/*
 * "YYYY-MM-DD" (from: its first second, to: its last) or a date-time
 * with an optional offset; the range must not end before it starts.  0,
 * or -1 with a message naming the option in err.
 */
int tt_pull_range(const char *from, const char *to, long long *from_t,
    long long *to_t, char *err, size_t errlen);

/*
 * Runs (or resumes) one pull, leaving its jobs queued.  0, or -1 with err
 * (the pull is then recorded as failed and resumable).  stop, set by a
 * signal, ends it after the page in hand.
 */
int tt_pull_run(const tt_config_t *cfg, const tt_pull_spec_t *spec,
    volatile sig_atomic_t *stop, tt_pull_result_t *result, char *err,
    size_t errlen);


typedef struct {
    int          interval_s;    /* between scheduled pulls */
    int          margin_s;      /* updatedOn overlap with the last pull */
    int          lookback_days; /* reportDateTime window looked at */
    int          lease_s;       /* the lease outlives a pull this long */
    tt_pull_seen_pt  seen;      /* the pulls' page hook; NULL: none */
    void            *seen_ctx;
} tt_schedule_spec_t;

/*
 * One step of the schedule: takes or renews the lease, and when this
 * process holds it and a pull is due, runs it.  1: a pull ran (result
 * filled), 0: nothing to do (not the holder, or not due), -1 with err.
 */
int tt_schedule_tick(const tt_config_t *cfg, const tt_schedule_spec_t *s,
    const char *holder, volatile sig_atomic_t *stop,
    tt_pull_result_t *result, char *err, size_t errlen);

/* gives the lease up */
void tt_schedule_release(const tt_config_t *cfg, const char *holder);

#endif /* TT_PULL_H */
