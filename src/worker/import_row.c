/*
 * import_row: an export row into the staging COPY.  Every check that
 * could make the COPY or the merge fail is made here, so a bad row is a
 * reject with a reason and never reaches the database: field count,
 * over-long fields, invalid UTF-8 and NUL bytes, the report id, dates,
 * ids and the time zone.  The raw record keeps every column: the mapped
 * ones in the shape of a TrackTik report entity (so the portal and the
 * rules read it as they read a webhook's), the others under
 * "import"."extra".  Cells that begin like a formula are kept as text and
 * named in "import"."formulaCells".
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_time.h"
#include "billing.h"
#include "tz.h"
#include "import_row.h"


#define TT_IMPORT_MAX_LINES  32


static int tt_import_check(tt_import_rows_t *ir, const tt_import_row_t *row,
    tt_import_values_t *x, char *reason, size_t reasonlen);
static int tt_import_id(const char *v, long long *id);
static int tt_import_ref(const char *id_value, const char *name,
    long long *id, int *has_id);
static int tt_import_when(tt_import_rows_t *ir, const char *v,
    const char *zone, long long *t, long *offset);
static int tt_import_civil(tt_import_rows_t *ir, const tt_datetime_t *dt,
    const char *zone, long long *t, long *offset);
static void tt_import_quote(const char *v, char *out, size_t size);
static int tt_import_raw(tt_import_rows_t *ir, const tt_import_row_t *row,
    const tt_import_values_t *x, int *formulas);
static int tt_import_bill(tt_import_rows_t *ir, const tt_import_row_t *row,
    const tt_import_values_t *x, char **lines, char *reason,
    size_t reasonlen);
static int tt_import_text(tt_import_rows_t *ir, const char *s, size_t len,
    int last);
static int tt_import_num(tt_import_rows_t *ir, long long n, int has);
static void tt_import_gen_str(yajl_gen g, const char *s);
static void tt_import_gen_ref(yajl_gen g, const char *key,
    const char *name, long long id, int has_id);


int
tt_import_row(tt_import_rows_t *ir, const tt_import_row_t *row,
    int *formulas, char *reason, size_t reasonlen)
{
    int                   rc;
    char                 *lines, num[32];
    size_t                len;
    const unsigned char  *raw;
    tt_import_values_t    x;

    *formulas = 0;

    rc = tt_import_check(ir, row, &x, reason, reasonlen);
    if (rc != 0) {
        return rc;
    }

    if (ir->values != NULL) {
        if (ir->values(ir->put_ctx, row->line, &x) != 0) {
            snprintf(reason, reasonlen, "the database refused the COPY "
                     "data");
            return -1;
        }
        return 0;
    }

    lines = NULL;
    rc = tt_import_bill(ir, row, &x, &lines, reason, reasonlen);
    if (rc != 0) {
        return rc;
    }

    if (tt_import_raw(ir, row, &x, formulas) != 0
        || yajl_gen_get_buf(ir->gen, &raw, &len) != yajl_gen_status_ok)
    {
        free(lines);
        snprintf(reason, reasonlen, "out of memory");
        return -1;
    }

    snprintf(num, sizeof(num), "%lld\t", row->line);

    rc = ir->put(ir->put_ctx, num, strlen(num))
         | tt_import_num(ir, x.report_id, 1)
         | tt_import_text(ir, x.occurred, strlen(x.occurred), 0)
         | tt_import_num(ir, x.client_id, x.has_client_id)
         | tt_import_num(ir, x.site_id, x.has_site_id)
         | tt_import_text(ir, x.v[TT_MAP_SEVERITY], 0, 0)
         | tt_import_text(ir, x.v[TT_MAP_CATEGORY], 0, 0)
         | tt_import_text(ir, x.v[TT_MAP_TEMPLATE], 0, 0)
         | tt_import_text(ir, x.v[TT_MAP_STATUS], 0, 0)
         | tt_import_text(ir, x.zone, strlen(x.zone), 0)
         | tt_import_text(ir, x.has_updated_on ? x.updated : NULL,
                          x.has_updated_on ? strlen(x.updated) : 0, 0)
         | tt_import_text(ir, x.service_date, strlen(x.service_date), 0)
         | tt_import_text(ir, (const char *) raw, len, 0)
         | tt_import_text(ir, lines, strlen(lines), 1);

    free(lines);

    if (rc != 0) {
        snprintf(reason, reasonlen, "the database refused the COPY data");
        return -1;
    }

    return 0;
}


void
tt_import_rows_free(tt_import_rows_t *ir)
{
    if (ir->gen != NULL) {
        yajl_gen_free(ir->gen);
        ir->gen = NULL;
    }
}


/* every check; 1 with reason for a reject */
static int
tt_import_check(tt_import_rows_t *ir, const tt_import_row_t *row,
    tt_import_values_t *x, char *reason, size_t reasonlen)
{
    int                       i;
    long                      offset, updated_offset;
    size_t                    k;
    char                      q[64];
    const char               *v;
    const tt_map_binding_t   *b;
    const tt_import_field_t  *f;

    b = ir->binding;
    memset(x, 0, sizeof(*x));

    if (row->nfields > b->nheaders) {
        snprintf(reason, reasonlen, "%zu fields, the header row has %zu",
                 row->nfields, b->nheaders);
        return 1;
    }

    for (k = 0; k < row->nfields; k++) {
        f = &row->fields[k];

        if (f->too_long) {
            snprintf(reason, reasonlen, "column \"%s\": longer than %d "
                     "bytes", b->headers[k], TT_IMPORT_FIELD_MAX);
            return 1;
        }

        if (!tt_import_utf8(f->data, f->len)) {
            snprintf(reason, reasonlen, "column \"%s\": %s", b->headers[k],
                     memchr(f->data, '\0', f->len) != NULL
                     ? "contains a NUL byte" : "invalid UTF-8");
            return 1;
        }
    }

    for (i = 0; i < TT_MAP_TARGETS; i++) {
        k = (size_t) b->target[i];
        if (b->target[i] >= 0 && k < row->nfields
            && row->fields[k].len > 0)
        {
            x->v[i] = row->fields[k].data;
        }
    }

#define TT_IMPORT_BAD(t, what)                                              \
    do {                                                                    \
        tt_import_quote(x->v[t], q, sizeof(q));                             \
        snprintf(reason, reasonlen, "column \"%s\": " what ": %s",          \
                 b->headers[b->target[t]], q);                              \
        return 1;                                                           \
    } while (0)

    /* a required column must be there; only these two must be filled */
    if (x->v[TT_MAP_REPORT_ID] == NULL) {
        snprintf(reason, reasonlen, "column \"%s\": empty",
                 b->headers[b->target[TT_MAP_REPORT_ID]]);
        return 1;
    }

    if (tt_import_id(x->v[TT_MAP_REPORT_ID], &x->report_id) != 0) {
        TT_IMPORT_BAD(TT_MAP_REPORT_ID, "not a report id");
    }

    x->zone = ir->default_time_zone;
    v = x->v[TT_MAP_TIME_ZONE];

    if (v != NULL) {
        if (!tt_tz_valid(v)) {
            TT_IMPORT_BAD(TT_MAP_TIME_ZONE, "not a time zone");
        }
        x->zone = v;
    }

    if (x->v[TT_MAP_OCCURRED_AT] == NULL) {
        snprintf(reason, reasonlen, "column \"%s\": empty",
                 b->headers[b->target[TT_MAP_OCCURRED_AT]]);
        return 1;
    }

    if (tt_import_when(ir, x->v[TT_MAP_OCCURRED_AT], x->zone,
                       &x->occurred_at, &offset) != 0)
    {
        TT_IMPORT_BAD(TT_MAP_OCCURRED_AT, "not a date-time");
    }

    if (x->v[TT_MAP_UPDATED_ON] != NULL) {
        if (tt_import_when(ir, x->v[TT_MAP_UPDATED_ON], x->zone,
                           &x->updated_on, &updated_offset) != 0)
        {
            TT_IMPORT_BAD(TT_MAP_UPDATED_ON, "not a date-time");
        }
        x->has_updated_on = 1;
        tt_time_format_utc(x->updated_on, x->updated, sizeof(x->updated));
    }

    if (tt_import_ref(x->v[TT_MAP_CLIENT_ID], x->v[TT_MAP_CLIENT],
                      &x->client_id, &x->has_client_id) != 0)
    {
        TT_IMPORT_BAD(TT_MAP_CLIENT_ID, "not an id");
    }

    if (tt_import_ref(x->v[TT_MAP_SITE_ID], x->v[TT_MAP_SITE], &x->site_id,
                      &x->has_site_id) != 0)
    {
        TT_IMPORT_BAD(TT_MAP_SITE_ID, "not an id");
    }

#undef TT_IMPORT_BAD

    tt_time_format_utc(x->occurred_at, x->occurred, sizeof(x->occurred));

    /* the local time the rules and the service date read: known already
     * unless the text carried its own offset */
    if (offset != TT_IMPORT_OFFSET_UNKNOWN) {
        tt_time_epoch_to_civil(x->occurred_at + offset, &x->local);

    } else if (tt_tz_local(x->occurred_at, x->zone, &x->local) != 0) {
        snprintf(reason, reasonlen, "time zone %s is not usable", x->zone);
        return 1;
    }

    snprintf(x->service_date, sizeof(x->service_date), "%04d-%02d-%02d",
             x->local.tm_year + 1900, x->local.tm_mon + 1,
             x->local.tm_mday);

    return 0;
}


/* a positive integer of at most 18 digits */
static int
tt_import_id(const char *v, long long *id)
{
    size_t  i;

    for (i = 0; v[i] >= '0' && v[i] <= '9'; i++) {
        /* digits */
    }

    if (i == 0 || i > 18 || v[i] != '\0') {
        return -1;
    }

    *id = atoll(v);

    return *id > 0 ? 0 : -1;
}


/* the id of a client or site: its id column, else a name column that
 * holds an id; -1 when the id column holds something else */
static int
tt_import_ref(const char *id_value, const char *name, long long *id,
    int *has_id)
{
    if (id_value != NULL) {
        *has_id = tt_import_id(id_value, id) == 0;
        return *has_id ? 0 : -1;
    }

    *has_id = name != NULL && tt_import_id(name, id) == 0;

    return 0;
}


/*
 * An ISO 8601 date-time (its own offset, else civil time in zone), or a
 * spreadsheet serial date (days since 1899-12-30, civil time in zone).
 */
static int
tt_import_when(tt_import_rows_t *ir, const char *v, const char *zone,
    long long *t, long *offset)
{
    char           *end;
    double          days;
    long long       civil;
    struct tm       tm;
    tt_datetime_t   dt;

    if (v[0] >= '0' && v[0] <= '9' && strchr(v, '-') == NULL) {
        days = strtod(v, &end);
        if (*end != '\0' || days < 1 || days > 2958465) {
            return -1;
        }

        civil = (long long) ((days - 25569) * 86400 + 0.5);
        tt_time_epoch_to_civil(civil, &tm);

        memset(&dt, 0, sizeof(dt));
        dt.year = tm.tm_year + 1900;
        dt.month = tm.tm_mon + 1;
        dt.day = tm.tm_mday;
        dt.hour = tm.tm_hour;
        dt.minute = tm.tm_min;
        dt.second = tm.tm_sec;
        dt.has_time = 1;

    } else if (tt_time_parse(v, strlen(v), &dt) != 0) {
        return -1;
    }

    return tt_import_civil(ir, &dt, zone, t, offset);
}


/*
 * The instant of a date-time, through a cache of zone offsets per civil
 * hour: rows of many sites alternate between zones, and each switch of
 * tz.c's zone re-reads the zone file (tzset), which made it most of the
 * import's own time.  An offset holds for a whole civil hour (DST moves
 * on the hour); the first time of an hour decides an ambiguous one, the
 * same for every row.  *offset: the zone's offset at the instant, or
 * TT_IMPORT_OFFSET_UNKNOWN when the text carried its own.
 */
static int
tt_import_civil(tt_import_rows_t *ir, const tt_datetime_t *dt,
    const char *zone, long long *t, long *offset)
{
    size_t                   k;
    long long                civil, hour;
    const char              *p;
    tt_import_offset_t      *e;

    if (dt->has_offset) {
        *offset = TT_IMPORT_OFFSET_UNKNOWN;
        return tt_tz_instant(dt, zone, t);
    }

    civil = tt_time_civil_to_epoch(dt->year, dt->month, dt->day, dt->hour,
                                   dt->minute, dt->second);
    hour = civil >= 0 ? civil / 3600 : (civil - 3599) / 3600;

    k = (size_t) hour * 31;
    for (p = zone; *p != '\0'; p++) {
        k = k * 33 + (unsigned char) *p;
    }
    e = &ir->offsets[k % TT_IMPORT_OFFSETS];

    if (e->hour != hour || strcmp(e->zone, zone) != 0) {
        if (tt_tz_instant(dt, zone, t) != 0) {
            return -1;
        }

        if (strlen(zone) < sizeof(e->zone)) {
            snprintf(e->zone, sizeof(e->zone), "%s", zone);
            e->hour = hour;
            e->offset = (long) (civil - *t);
        }

        *offset = (long) (civil - *t);
        return 0;
    }

    *t = civil - e->offset;
    *offset = e->offset;

    return 0;
}


/* "value" in double quotes, cut at a character boundary */
static void
tt_import_quote(const char *v, char *out, size_t size)
{
    size_t  len;

    len = strlen(v);

    if (len > size - 6) {
        len = size - 6;
        while (len > 0 && ((unsigned char) v[len] & 0xC0) == 0x80) {
            len--;
        }
        snprintf(out, size, "\"%.*s...\"", (int) len, v);
        return;
    }

    snprintf(out, size, "\"%s\"", v);
}


/* the raw record into ir->gen (cleared first) */
static int
tt_import_raw(tt_import_rows_t *ir, const tt_import_row_t *row,
    const tt_import_values_t *x, int *formulas)
{
    int                       c, any;
    size_t                    k;
    yajl_gen                  g;
    const char               *v;
    const tt_map_binding_t   *b;

    if (ir->gen == NULL) {
        ir->gen = yajl_gen_alloc(NULL);
        if (ir->gen == NULL) {
            return -1;
        }
    }

    g = ir->gen;
    b = ir->binding;
    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);

    yajl_gen_map_open(g);
    tt_import_gen_str(g, "id");
    yajl_gen_integer(g, x->report_id);
    tt_import_gen_str(g, "reportDateTime");
    tt_import_gen_str(g, x->occurred);

    if (x->has_updated_on) {
        tt_import_gen_str(g, "updatedOn");
        tt_import_gen_str(g, x->updated);
    }

    if (x->v[TT_MAP_STATUS] != NULL) {
        tt_import_gen_str(g, "status");
        tt_import_gen_str(g, x->v[TT_MAP_STATUS]);
    }

    tt_import_gen_str(g, "timeZone");
    tt_import_gen_str(g, x->zone);

    tt_import_gen_str(g, "account");
    yajl_gen_map_open(g);
    tt_import_gen_ref(g, NULL, x->has_site_id && x->v[TT_MAP_SITE_ID] == NULL
                      ? NULL : x->v[TT_MAP_SITE], x->site_id,
                      x->has_site_id);
    tt_import_gen_ref(g, "parentClient", x->has_client_id
                      && x->v[TT_MAP_CLIENT_ID] == NULL
                      ? NULL : x->v[TT_MAP_CLIENT], x->client_id,
                      x->has_client_id);
    yajl_gen_map_close(g);

    tt_import_gen_str(g, "reportFlag");
    yajl_gen_map_open(g);
    tt_import_gen_ref(g, NULL, x->v[TT_MAP_CATEGORY], 0, 0);
    if (x->v[TT_MAP_SEVERITY] != NULL) {
        tt_import_gen_str(g, "severityLevel");
        tt_import_gen_str(g, x->v[TT_MAP_SEVERITY]);
    }
    yajl_gen_map_close(g);

    if (x->v[TT_MAP_TEMPLATE] != NULL) {
        tt_import_gen_ref(g, "reportTemplate", x->v[TT_MAP_TEMPLATE], 0, 0);
    }

    if (x->v[TT_MAP_POSITION] != NULL) {
        tt_import_gen_ref(g, "position", x->v[TT_MAP_POSITION], 0, 0);
    }

    tt_import_gen_str(g, "reportFields");
    yajl_gen_array_open(g);

    for (k = 0; k < row->nfields; k++) {
        c = b->column[k];
        if (c < 0 || ir->mapping->columns[c].target != TT_MAP_FIELD
            || row->fields[k].len == 0)
        {
            continue;
        }

        yajl_gen_map_open(g);
        if (ir->mapping->columns[c].tag != NULL) {
            tt_import_gen_str(g, "fieldTag");
            tt_import_gen_str(g, ir->mapping->columns[c].tag);
        }
        tt_import_gen_str(g, "label");
        tt_import_gen_str(g, ir->mapping->columns[c].header);
        tt_import_gen_str(g, "value");
        tt_import_gen_str(g, row->fields[k].data);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    tt_import_gen_str(g, "import");
    yajl_gen_map_open(g);
    tt_import_gen_str(g, "mapping");
    tt_import_gen_str(g, ir->mapping->name);

    tt_import_gen_str(g, "extra");
    yajl_gen_map_open(g);

    for (k = 0; k < row->nfields; k++) {
        if (b->column[k] < 0 && row->fields[k].len > 0) {
            tt_import_gen_str(g, b->headers[k]);
            tt_import_gen_str(g, row->fields[k].data);
        }
    }

    yajl_gen_map_close(g);

    any = 0;

    for (k = 0; k < row->nfields; k++) {
        v = row->fields[k].data;

        if (tt_import_formula(v)) {
            if (!any) {
                tt_import_gen_str(g, "formulaCells");
                yajl_gen_array_open(g);
                any = 1;
            }
            tt_import_gen_str(g, b->headers[k]);
            (*formulas)++;
        }
    }

    if (any) {
        yajl_gen_array_close(g);
    }

    yajl_gen_map_close(g);
    yajl_gen_map_close(g);

    return 0;
}


/* the rules' lines for the row, as the run loop bills a report */
static int
tt_import_bill(tt_import_rows_t *ir, const tt_import_row_t *row,
    const tt_import_values_t *x, char **lines, char *reason,
    size_t reasonlen)
{
    int                   c;
    size_t                k, n, nf;
    tt_line_t             out[TT_IMPORT_MAX_LINES];
    tt_field_t            fields[64];
    tt_report_t           r;
    const tt_rule_set_t  *set;

    memset(&r, 0, sizeof(r));
    r.report_id = x->report_id;
    r.occurred_at = x->occurred_at;
    r.time_zone = x->zone;
    r.severity = x->v[TT_MAP_SEVERITY];
    r.status = x->v[TT_MAP_STATUS];
    r.has_updated_on = x->has_updated_on;
    r.updated_on = x->updated_on;

    r.client.present = x->v[TT_MAP_CLIENT] != NULL || x->has_client_id;
    r.client.has_id = x->has_client_id;
    r.client.id = x->client_id;
    r.client.name = x->v[TT_MAP_CLIENT];
    r.site.present = x->v[TT_MAP_SITE] != NULL || x->has_site_id;
    r.site.has_id = x->has_site_id;
    r.site.id = x->site_id;
    r.site.name = x->v[TT_MAP_SITE];
    r.flag.present = x->v[TT_MAP_CATEGORY] != NULL;
    r.flag.name = x->v[TT_MAP_CATEGORY];
    r.template.present = x->v[TT_MAP_TEMPLATE] != NULL;
    r.template.name = x->v[TT_MAP_TEMPLATE];
    r.position.present = x->v[TT_MAP_POSITION] != NULL;
    r.position.name = x->v[TT_MAP_POSITION];

    nf = 0;
    for (k = 0; k < row->nfields && nf < 64; k++) {
        c = ir->binding->column[k];
        if (c >= 0 && ir->mapping->columns[c].target == TT_MAP_FIELD
            && ir->mapping->columns[c].tag != NULL)
        {
            fields[nf].tag = ir->mapping->columns[c].tag;
            fields[nf].value = row->fields[k].data;
            nf++;
        }
    }

    r.fields = fields;
    r.nfields = nf;

    n = 0;
    set = ir->rulebook != NULL ? tt_rulebook_pick(ir->rulebook,
                                                  r.occurred_at)
                               : NULL;

    if (set != NULL
        && tt_rules_bill(set, &r, &x->local, out, TT_IMPORT_MAX_LINES, &n,
                         reason, reasonlen) != 0)
    {
        return 1;
    }

    *lines = tt_billing_lines_json(out, n);
    if (*lines == NULL) {
        snprintf(reason, reasonlen, "out of memory");
        return -1;
    }

    return 0;
}


/* one COPY text column (NULL: \N), then a tab or, when last, a newline */
static int
tt_import_text(tt_import_rows_t *ir, const char *s, size_t len, int last)
{
    char    out[1024], c;
    size_t  i, n;

    n = 0;

    if (s == NULL) {
        out[n++] = '\\';
        out[n++] = 'N';
        len = 0;

    } else if (len == 0) {
        len = strlen(s);
    }

    for (i = 0; i < len; i++) {
        if (n > sizeof(out) - 4) {
            if (ir->put(ir->put_ctx, out, n) != 0) {
                return -1;
            }
            n = 0;
        }

        c = s[i];

        switch (c) {
        case '\\': out[n++] = '\\'; out[n++] = '\\'; break;
        case '\t': out[n++] = '\\'; out[n++] = 't'; break;
        case '\n': out[n++] = '\\'; out[n++] = 'n'; break;
        case '\r': out[n++] = '\\'; out[n++] = 'r'; break;
        default: out[n++] = c;
        }
    }

    out[n++] = last ? '\n' : '\t';

    return ir->put(ir->put_ctx, out, n);
}


static int
tt_import_num(tt_import_rows_t *ir, long long n, int has)
{
    char  buf[32];

    if (!has) {
        return ir->put(ir->put_ctx, "\\N\t", 3);
    }

    snprintf(buf, sizeof(buf), "%lld\t", n);

    return ir->put(ir->put_ctx, buf, strlen(buf));
}


static void
tt_import_gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *) s, strlen(s));
}


/* "key": {"id": id, "name": name} (key NULL: the two members only) */
static void
tt_import_gen_ref(yajl_gen g, const char *key, const char *name,
    long long id, int has_id)
{
    if (key != NULL) {
        tt_import_gen_str(g, key);
        yajl_gen_map_open(g);
    }

    if (has_id) {
        tt_import_gen_str(g, "id");
        yajl_gen_integer(g, id);
    }

    if (name != NULL) {
        tt_import_gen_str(g, "name");
        tt_import_gen_str(g, name);
    }

    if (key != NULL) {
        yajl_gen_map_close(g);
    }
}
