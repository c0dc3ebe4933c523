/*
 * audit_stage: a source's reports as the audit stages them.
 *
 * A page of /rest/v1/reports (tt_audit_items()): each report read as
 * `run` reads a pulled report's job, parsed (parse.c) and enriched
 * (enrich.c: the client is the site's parent client, as the ledger has
 * it), then written as the JSON array tracktik_audit_items() reads
 * (audit.sql).  `audit --source api` stages its own listing's pages so;
 * a scheduled pull hands every page it lists through
 * tt_audit_seen_page(), and tracktik_pull_page() keeps the result for
 * the pull's audit (pull.sql), so that audit lists nothing itself.
 *
 * An export's rows, lean.  The
 * importer reads and checks each row (import.c, import_row.c: the same
 * rejects as an import); only the compared columns of a good row are
 * written, in COPY's binary format, into tracktik_audit_source
 * (sql/functions/audit.sql).  No raw record, no billing lines, no text
 * to escape or for the database to parse back: ids and times go as the
 * 8-byte integers the columns hold, and the rows go in large chunks.
 */

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "audit.h"
#include "enrich.h"
#include "import_row.h"
#include "ledger.h"
#include "parse.h"


/* the rows are handed to libpq this many bytes at a time */
#define TT_AUDIT_STAGE_CHUNK  (256 * 1024)

/* PostgreSQL's timestamps count microseconds from 2000-01-01 UTC */
#define TT_AUDIT_PG_EPOCH     946684800LL


static int tt_audit_stage_room(tt_audit_stage_t *st, size_t need);
static int tt_audit_stage_flush(tt_audit_stage_t *st);
static void tt_audit_stage_i16(tt_audit_stage_t *st, int v);
static void tt_audit_stage_i32(tt_audit_stage_t *st, long v);
static void tt_audit_stage_i64(tt_audit_stage_t *st, long long v);
static void tt_audit_stage_int8(tt_audit_stage_t *st, long long v,
    int has);
static void tt_audit_stage_time(tt_audit_stage_t *st, long long t,
    int has);
static void tt_audit_stage_text(tt_audit_stage_t *st, const char *s);
static int tt_audit_page_empty(const char *body);


const char  *tt_audit_stage_copy = "COPY tracktik_audit_source (line,"
    " report_id, occurred_at, client_id, site_id, severity, category,"
    " report_template, status, updated_on) FROM STDIN (FORMAT binary)";


int
tt_audit_items(tt_enrich_t *enrich, const char *default_time_zone,
    const char *body, char **json, int *items, long long *last_id,
    char *err, size_t errlen)
{
    char              msg[512];
    size_t            i;
    tt_payload_t      p;
    tt_ledger_item_t *it;

    *json = NULL;
    *items = 0;
    memset(&p, 0, sizeof(p));

    if (tt_payload_parse(body, strlen(body), default_time_zone, &p, msg,
                         sizeof(msg)) != 0)
    {
        tt_payload_free(&p);

        /* a window with no report, or a last page that is empty */
        if (tt_audit_page_empty(body)) {
            return 0;
        }

        snprintf(err, errlen, "a page of /rest/v1/reports: %s", msg);
        return -1;
    }

    if (tt_enrich_reports(enrich, &p, default_time_zone, msg,
                          sizeof(msg)) != 0)
    {
        snprintf(err, errlen, "a page of /rest/v1/reports: %s", msg);
        tt_payload_free(&p);
        return -1;
    }

    it = calloc(p.nreports + 1, sizeof(*it));
    if (it == NULL) {
        tt_payload_free(&p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < p.nreports; i++) {
        it[i].report = &p.reports[i];
        it[i].service_date = "";
        it[i].lines_json = "[]";

        if (last_id != NULL && p.reports[i].report_id > *last_id) {
            *last_id = p.reports[i].report_id;
        }
    }

    *items = (int) p.nreports;
    *json = tt_ledger_batch_json(it, p.nreports);
    free(it);
    tt_payload_free(&p);

    if (*json == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


/* 1 when the page's data is an empty list (parse.c refuses a payload
 * without a report) */
static int
tt_audit_page_empty(const char *body)
{
    int          empty;
    yajl_val     tree, data;
    const char  *path[] = { "data", NULL };

    tree = yajl_tree_parse(body, NULL, 0);
    data = tree != NULL ? yajl_tree_get(tree, path, yajl_t_array) : NULL;
    empty = data != NULL && data->u.array.len == 0;
    yajl_tree_free(tree);

    return empty;
}


int
tt_audit_seen_open(tt_audit_seen_t *seen, const tt_config_t *cfg)
{
    seen->default_time_zone = cfg->default_time_zone;
    seen->enrich = tt_enrich_new(cfg);

    if (seen->enrich == NULL) {
        return -1;
    }

    tt_enrich_no_posts(seen->enrich);

    return 0;
}


void
tt_audit_seen_close(tt_audit_seen_t *seen)
{
    tt_enrich_free(seen->enrich);
    seen->enrich = NULL;
}


/* an empty page is an empty array: nothing to keep, nothing missed */
int
tt_audit_seen_page(void *ctx, const char *page, char **items, char *err,
    size_t errlen)
{
    int               n;
    tt_audit_seen_t  *seen;

    seen = ctx;

    if (tt_audit_items(seen->enrich, seen->default_time_zone, page, items,
                       &n, NULL, err, errlen) != 0)
    {
        return -1;
    }

    if (*items == NULL) {
        *items = strdup("[]");
    }

    return *items != NULL ? 0 : -1;
}


/* the file's signature, flags and header extension (none) */
static const char  tt_audit_stage_header[19] = {
    'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0',
    0, 0, 0, 0, 0, 0, 0, 0
};


int
tt_audit_stage_row(void *ctx, long long line,
    const struct tt_import_values_s *x)
{
    size_t             need;
    int                i;
    tt_audit_stage_t  *st;

    st = ctx;

    /* a row: 2 + 10 fields of a 4-byte length, 8 bytes each for the
     * numbers and times, the text as it is */
    need = 2 + 10 * 4 + 6 * 8;
    for (i = TT_MAP_SEVERITY; i <= TT_MAP_STATUS; i++) {
        need += x->v[i] != NULL ? strlen(x->v[i]) : 0;
    }

    if (tt_audit_stage_room(st, need) != 0) {
        return -1;
    }

    /* the columns of tt_audit_stage_copy, in its order */
    tt_audit_stage_i16(st, 10);
    tt_audit_stage_int8(st, line, 1);
    tt_audit_stage_int8(st, x->report_id, 1);
    tt_audit_stage_time(st, x->occurred_at, 1);
    tt_audit_stage_int8(st, x->client_id, x->has_client_id);
    tt_audit_stage_int8(st, x->site_id, x->has_site_id);
    tt_audit_stage_text(st, x->v[TT_MAP_SEVERITY]);
    tt_audit_stage_text(st, x->v[TT_MAP_CATEGORY]);
    tt_audit_stage_text(st, x->v[TT_MAP_TEMPLATE]);
    tt_audit_stage_text(st, x->v[TT_MAP_STATUS]);
    tt_audit_stage_time(st, x->updated_on, x->has_updated_on);

    st->rows++;

    /* ids strictly increasing: no report repeats (the comparison then
     * need not sort the source) */
    if (x->report_id <= st->last_id) {
        st->unsorted = 1;
    }
    st->last_id = x->report_id;

    return 0;
}


/* the header when no row was written, the trailer, the last chunk */
int
tt_audit_stage_end(void *ctx)
{
    tt_audit_stage_t  *st;

    st = ctx;

    if (tt_audit_stage_room(st, 2) != 0) {
        return -1;
    }

    tt_audit_stage_i16(st, -1);

    return tt_audit_stage_flush(st);
}


void
tt_audit_stage_free(tt_audit_stage_t *st)
{
    free(st->buf);
    st->buf = NULL;
    st->len = 0;
    st->size = 0;
}


/* need more bytes in the buffer, after the header */
static int
tt_audit_stage_room(tt_audit_stage_t *st, size_t need)
{
    need += sizeof(tt_audit_stage_header);

    if (st->len + need > st->size) {
        if (tt_audit_stage_flush(st) != 0) {
            return -1;
        }

        if (need > st->size) {
            free(st->buf);
            st->size = need > TT_AUDIT_STAGE_CHUNK ? need
                       : TT_AUDIT_STAGE_CHUNK;
            st->buf = malloc(st->size);
            if (st->buf == NULL) {
                st->size = 0;
                return -1;
            }
        }
    }

    if (!st->started) {
        memcpy(st->buf + st->len, tt_audit_stage_header,
               sizeof(tt_audit_stage_header));
        st->len += sizeof(tt_audit_stage_header);
        st->started = 1;
    }

    return 0;
}


static int
tt_audit_stage_flush(tt_audit_stage_t *st)
{
    if (st->len > 0
        && PQputCopyData(st->conn, st->buf, (int) st->len) != 1)
    {
        return -1;
    }

    st->len = 0;

    return 0;
}


/* network byte order, as binary COPY has every number */
static void
tt_audit_stage_i16(tt_audit_stage_t *st, int v)
{
    unsigned char  *p;

    p = (unsigned char *) st->buf + st->len;
    p[0] = (unsigned char) ((unsigned int) v >> 8);
    p[1] = (unsigned char) v;
    st->len += 2;
}


static void
tt_audit_stage_i32(tt_audit_stage_t *st, long v)
{
    int             i;
    unsigned char  *p;
    unsigned long   u;

    p = (unsigned char *) st->buf + st->len;
    u = (unsigned long) v;

    for (i = 3; i >= 0; i--) {
        p[i] = (unsigned char) u;
        u >>= 8;
    }

    st->len += 4;
}


static void
tt_audit_stage_i64(tt_audit_stage_t *st, long long v)
{
    int                  i;
    unsigned char       *p;
    unsigned long long   u;

    p = (unsigned char *) st->buf + st->len;
    u = (unsigned long long) v;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char) u;
        u >>= 8;
    }

    st->len += 8;
}


/* a bigint column; length -1 is NULL */
static void
tt_audit_stage_int8(tt_audit_stage_t *st, long long v, int has)
{
    if (!has) {
        tt_audit_stage_i32(st, -1);
        return;
    }

    tt_audit_stage_i32(st, 8);
    tt_audit_stage_i64(st, v);
}


/* a timestamptz column from seconds since the epoch */
static void
tt_audit_stage_time(tt_audit_stage_t *st, long long t, int has)
{
    tt_audit_stage_int8(st, (t - TT_AUDIT_PG_EPOCH) * 1000000LL, has);
}


/* a text column: the bytes, checked as UTF-8 by the importer */
static void
tt_audit_stage_text(tt_audit_stage_t *st, const char *s)
{
    size_t  len;

    if (s == NULL) {
        tt_audit_stage_i32(st, -1);
        return;
    }

    len = strlen(s);
    tt_audit_stage_i32(st, (long) len);
    memcpy(st->buf + st->len, s, len);
    st->len += len;
}
