/*
 * rules: the dimensions of a rule's "match" object (one table: each key,
 * how it is read and how it is tested against a report), and applying
 * contract rule sets: which set is in force, which rules match a report,
 * and the billing lines they make.  The rest of a rule set document is
 * read in rules_parse.c.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tt_time.h"
#include "rules.h"


/* the text of a value already known to be a string */
#define TT_STR(v)  ((const char *) (v)->u.string)

/* where a dimension's value sits in the report */
#define TT_REPORT(field)  offsetof(tt_report_t, field)


typedef struct tt_rule_dim_s  tt_rule_dim_t;

/*
 * A kind of dimension: how the value of its key is read (parse: v is the
 * key's value, NULL when absent) and how a rule's reading is tested
 * against a report at its local time (match: 1 when it matches).  m is
 * the rule's list for the dimension.
 */
typedef struct {
    int    (*parse)(const tt_rule_dim_t *dim, yajl_val v, tt_rule_t *rule,
               tt_match_t *m, const char *where, char *err, size_t errlen);
    int    (*match)(const tt_rule_dim_t *dim, const tt_rule_t *rule,
               const tt_match_t *m, const tt_report_t *r,
               const struct tm *local);
    int      accepts;           /* lists: 1 integer ids, 0 ids or names,
                                   -1 names */
} tt_rule_kind_t;

struct tt_rule_dim_s {
    const char            *key;         /* in a rule's "match" */
    const tt_rule_kind_t  *kind;
    size_t                 report;      /* TT_REPORT(): the value tested
                                           (a tt_ref_t for ids, a string
                                           for names) */
    const char            *absent;      /* NULL: an absent key matches any;
                                           else only this name, and "any"
                                           matches any */
};


static int tt_rule_list_parse(const tt_rule_dim_t *dim, yajl_val v,
    tt_rule_t *rule, tt_match_t *m, const char *where, char *err,
    size_t errlen);
static int tt_rule_window_parse(const tt_rule_dim_t *dim, yajl_val w,
    tt_rule_t *rule, tt_match_t *m, const char *where, char *err,
    size_t errlen);
static int tt_rule_weekdays_parse(const tt_rule_dim_t *dim, yajl_val w,
    tt_rule_t *rule, tt_match_t *m, const char *where, char *err,
    size_t errlen);
static int tt_rule_ref_match(const tt_rule_dim_t *dim, const tt_rule_t *rule,
    const tt_match_t *m, const tt_report_t *r, const struct tm *local);
static int tt_rule_name_match(const tt_rule_dim_t *dim,
    const tt_rule_t *rule, const tt_match_t *m, const tt_report_t *r,
    const struct tm *local);
static int tt_rule_window_match(const tt_rule_dim_t *dim,
    const tt_rule_t *rule, const tt_match_t *m, const tt_report_t *r,
    const struct tm *local);
static int tt_rule_weekdays_match(const tt_rule_dim_t *dim,
    const tt_rule_t *rule, const tt_match_t *m, const tt_report_t *r,
    const struct tm *local);
static int tt_rule_hhmm(const char *s, int *minutes);


static const tt_rule_kind_t  tt_rule_ids = {
    tt_rule_list_parse, tt_rule_ref_match, 1
};

static const tt_rule_kind_t  tt_rule_refs = {
    tt_rule_list_parse, tt_rule_ref_match, 0
};

static const tt_rule_kind_t  tt_rule_names = {
    tt_rule_list_parse, tt_rule_name_match, -1
};

static const tt_rule_kind_t  tt_rule_time_of_day = {
    tt_rule_window_parse, tt_rule_window_match, 0
};

static const tt_rule_kind_t  tt_rule_weekdays = {
    tt_rule_weekdays_parse, tt_rule_weekdays_match, 0
};


/*
 * The dimensions of "match", in the order they are read (the first
 * error wins) and listed in the "unknown key" error.  A new dimension is
 * a row here (and, for a new kind, its parse and match functions).
 */
static const tt_rule_dim_t  tt_rule_dims[] = {
    { "client",          &tt_rule_ids,         TT_REPORT(client),   NULL },
    { "site",            &tt_rule_ids,         TT_REPORT(site),     NULL },
    { "report_template", &tt_rule_refs,        TT_REPORT(template), NULL },
    { "category",        &tt_rule_refs,        TT_REPORT(flag),     NULL },
    { "severity",        &tt_rule_names,       TT_REPORT(severity), NULL },
    /* by default only approved reports bill */
    { "status",          &tt_rule_names,       TT_REPORT(status),
      "APPROVED" },
    { "time_of_day",     &tt_rule_time_of_day, 0,                   NULL },
    { "weekdays",        &tt_rule_weekdays,    0,                   NULL },
    { NULL, NULL, 0, NULL }
};

_Static_assert(sizeof(tt_rule_dims) / sizeof(tt_rule_dims[0]) - 1
               <= TT_RULE_DIMS_MAX, "tt_rule_dims[]: raise TT_RULE_DIMS_MAX");


static const char  *tt_rule_days[] = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat"
};


/*
 * The "match" object of a rule (NULL: match any), shared by contract
 * and notification rules.  What it allocates is freed by
 * tt_rule_match_free(), whether it succeeds or not.
 */
int
tt_rule_match_parse(yajl_val match, tt_rule_t *rule, const char *where,
    char *err, size_t errlen)
{
    char                  keys[256];
    size_t                i, k, len;
    const char           *s;
    const tt_rule_dim_t  *dim;

    if (match != NULL && !YAJL_IS_OBJECT(match)) {
        snprintf(err, errlen, "%s: match: expected an object", where);
        return -1;
    }

    for (i = 0; match != NULL && i < match->u.object.len; i++) {
        s = match->u.object.keys[i];

        for (k = 0; tt_rule_dims[k].key != NULL; k++) {
            if (strcmp(s, tt_rule_dims[k].key) == 0) {
                break;
            }
        }

        if (tt_rule_dims[k].key == NULL) {
            len = 0;
            keys[0] = '\0';

            for (k = 0; tt_rule_dims[k].key != NULL && len < sizeof(keys);
                 k++)
            {
                len += snprintf(keys + len, sizeof(keys) - len, "%s%s",
                                k > 0 ? ", " : "", tt_rule_dims[k].key);
            }

            snprintf(err, errlen, "%s: match: unknown key \"%.40s\" "
                     "(expected %s)", where, s, keys);
            return -1;
        }
    }

    for (dim = tt_rule_dims; dim->key != NULL; dim++) {
        if (dim->kind->parse(dim, tt_rule_get(match, dim->key), rule,
                             &rule->lists[dim - tt_rule_dims], where, err,
                             errlen)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


void
tt_rule_match_free(tt_rule_t *rule)
{
    size_t  i;

    for (i = 0; i < TT_RULE_DIMS_MAX; i++) {
        free(rule->lists[i].items);
        rule->lists[i].items = NULL;
    }
}


void
tt_rulebook_free(tt_rulebook_t *rb)
{
    size_t  i;

    for (i = 0; i < rb->nsets; i++) {
        tt_rule_set_free(&rb->sets[i]);
    }

    free(rb->sets);
    memset(rb, 0, sizeof(*rb));
}


const tt_rule_set_t *
tt_rulebook_pick(const tt_rulebook_t *rb, long long t)
{
    size_t                i;
    const tt_rule_set_t  *best, *s;

    best = NULL;

    for (i = 0; i < rb->nsets; i++) {
        s = &rb->sets[i];

        if (s->effective_from > t) {
            continue;
        }

        if (best == NULL || s->effective_from > best->effective_from
            || (s->effective_from == best->effective_from
                && s->version > best->version))
        {
            best = s;
        }
    }

    return best;
}


int
tt_rule_matches(const tt_rule_t *rule, const tt_report_t *r,
    const struct tm *local)
{
    char                  date[48];
    const tt_rule_dim_t  *dim;

    for (dim = tt_rule_dims; dim->key != NULL; dim++) {
        if (!dim->kind->match(dim, rule, &rule->lists[dim - tt_rule_dims], r,
                              local))
        {
            return 0;
        }
    }

    if (rule->effective_from != NULL || rule->effective_until != NULL) {
        snprintf(date, sizeof(date), "%04d-%02d-%02d",
                 local->tm_year + 1900, local->tm_mon + 1, local->tm_mday);

        if (rule->effective_from != NULL
            && strcmp(date, rule->effective_from) < 0)
        {
            return 0;
        }

        if (rule->effective_until != NULL
            && strcmp(date, rule->effective_until) >= 0)
        {
            return 0;
        }
    }

    return 1;
}


int
tt_rules_bill(const tt_rule_set_t *set, const tt_report_t *r,
    const struct tm *local, tt_line_t *lines, size_t max, size_t *n,
    char *err, size_t errlen)
{
    size_t            i;
    const char       *q;
    const tt_rule_t  *rule;

    *n = 0;

    for (i = 0; i < set->nrules; i++) {
        rule = &set->rules[i];

        if (!tt_rule_matches(rule, r, local)) {
            continue;
        }

        if (rule->quantity_field != NULL) {
            q = tt_report_field(r, rule->quantity_field);

            if (q == NULL) {
                snprintf(err, errlen, "rule \"%s\" (rule set %d): the "
                         "report has no field tagged \"%s\" to bill as "
                         "quantity", rule->id, set->version,
                         rule->quantity_field);
                return -1;
            }

            if (!tt_rules_decimal(q)) {
                snprintf(err, errlen, "rule \"%s\" (rule set %d): report "
                         "field \"%s\" is \"%.32s\", not a non-negative "
                         "number", rule->id, set->version,
                         rule->quantity_field, q);
                return -1;
            }

        } else {
            q = rule->quantity;
        }

        if (*n == max) {
            snprintf(err, errlen, "more than %zu rules bill one report",
                     max);
            return -1;
        }

        lines[*n].rule_id = rule->id;
        lines[*n].rule_set_version = set->version;
        lines[*n].bill_code = rule->bill_code;
        lines[*n].quantity = q;
        lines[*n].unit_price = rule->unit_price;
        (*n)++;

        if (!rule->cont) {
            break;
        }
    }

    return 0;
}


int
tt_rules_decimal(const char *s)
{
    int  digits, dot;

    digits = 0;
    dot = 0;

    for ( /* void */ ; *s != '\0'; s++) {
        if (*s >= '0' && *s <= '9') {
            digits++;

        } else if (*s == '.' && !dot) {
            dot = 1;

        } else {
            return 0;
        }
    }

    return digits > 0 && digits <= 30;
}


/*
 * A list dimension: one id or name, or a list of them; kind->accepts
 * says which.  Absent: any (or, with a default, only the default).
 */
static int
tt_rule_list_parse(const tt_rule_dim_t *dim, yajl_val v, tt_rule_t *rule,
    tt_match_t *m, const char *where, char *err, size_t errlen)
{
    int       ids;
    size_t    i, n;
    yajl_val  item;

    (void) rule;

    ids = dim->kind->accepts;
    m->any = 1;

    if (v == NULL) {
        if (dim->absent != NULL) {
            m->any = 0;
            m->by_default = 1;
        }
        return 0;
    }

    if (dim->absent != NULL && YAJL_IS_STRING(v)
        && strcasecmp(TT_STR(v), "any") == 0)
    {
        return 0;
    }

    n = YAJL_IS_ARRAY(v) ? v->u.array.len : 1;

    if (n == 0) {
        snprintf(err, errlen, "%s: match.%s: empty list matches nothing; "
                 "leave the key out to match any", where, dim->key);
        return -1;
    }

    m->items = calloc(n, sizeof(yajl_val));
    if (m->items == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        item = YAJL_IS_ARRAY(v) ? v->u.array.values[i] : v;

        if ((ids >= 0 && YAJL_IS_INTEGER(item))
            || (ids <= 0 && YAJL_IS_STRING(item)))
        {
            m->items[m->n++] = item;
            continue;
        }

        snprintf(err, errlen, "%s: match.%s: expected %s", where, dim->key,
                 ids > 0 ? "integer ids"
                 : ids == 0 ? "integer ids or names" : "names (strings)");
        return -1;
    }

    m->any = 0;
    return 0;
}


static int
tt_rule_window_parse(const tt_rule_dim_t *dim, yajl_val w, tt_rule_t *rule,
    tt_match_t *m, const char *where, char *err, size_t errlen)
{
    yajl_val  from, to;

    (void) dim;
    (void) m;

    if (w == NULL) {
        return 0;
    }

    from = tt_rule_get(w, "from");
    to = tt_rule_get(w, "to");

    if (!YAJL_IS_OBJECT(w) || from == NULL || to == NULL
        || !YAJL_IS_STRING(from) || !YAJL_IS_STRING(to))
    {
        snprintf(err, errlen, "%s: match.time_of_day: expected {\"from\": "
                 "\"HH:MM\", \"to\": \"HH:MM\"}", where);
        return -1;
    }

    if (tt_rule_hhmm(TT_STR(from), &rule->window_from) != 0
        || tt_rule_hhmm(TT_STR(to), &rule->window_to) != 0)
    {
        snprintf(err, errlen, "%s: match.time_of_day: \"from\" and \"to\" "
                 "must be 24-hour times \"HH:MM\" (00:00..24:00)", where);
        return -1;
    }

    if (rule->window_from == rule->window_to
        || (rule->window_from == 0 && rule->window_to == 1440))
    {
        snprintf(err, errlen, "%s: match.time_of_day: an empty or all-day "
                 "window; leave time_of_day out to match any time", where);
        return -1;
    }

    if (rule->window_from == 1440) {
        rule->window_from = 0;
    }

    rule->has_window = 1;
    return 0;
}


static int
tt_rule_weekdays_parse(const tt_rule_dim_t *dim, yajl_val w,
    tt_rule_t *rule, tt_match_t *m, const char *where, char *err,
    size_t errlen)
{
    int          d;
    size_t       i, n;
    yajl_val     item;
    const char  *s;

    (void) dim;
    (void) m;

    if (w == NULL) {
        return 0;
    }

    n = YAJL_IS_ARRAY(w) ? w->u.array.len : 0;

    if (n == 0) {
        snprintf(err, errlen, "%s: match.weekdays: expected a non-empty "
                 "list such as [\"mon\", \"tue\"]", where);
        return -1;
    }

    for (i = 0; i < n; i++) {
        item = w->u.array.values[i];
        s = YAJL_IS_STRING(item) ? TT_STR(item) : "";

        for (d = 0; d < 7; d++) {
            if (strlen(s) >= 3 && strncasecmp(s, tt_rule_days[d], 3) == 0) {
                break;
            }
        }

        if (d == 7) {
            snprintf(err, errlen, "%s: match.weekdays: \"%.20s\" is not a "
                     "day (mon, tue, wed, thu, fri, sat, sun)", where, s);
            return -1;
        }

        rule->weekdays |= 1u << d;
    }

    return 0;
}


/* an id matches the report's id, a name its name (any case) */
static int
tt_rule_ref_match(const tt_rule_dim_t *dim, const tt_rule_t *rule,
    const tt_match_t *m, const tt_report_t *r, const struct tm *local)
{
    size_t           i;
    yajl_val         item;
    const tt_ref_t  *ref;

    (void) rule;
    (void) local;

    if (m->any) {
        return 1;
    }

    ref = (const tt_ref_t *) ((const char *) r + dim->report);

    if (m->by_default) {
        return ref->name != NULL && strcasecmp(ref->name, dim->absent) == 0;
    }

    for (i = 0; i < m->n; i++) {
        item = m->items[i];

        if (YAJL_IS_INTEGER(item)) {
            if (ref->has_id && ref->id == YAJL_GET_INTEGER(item)) {
                return 1;
            }

        } else if (ref->name != NULL
                   && strcasecmp(ref->name, TT_STR(item)) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* a name matches the report's text in any case; no text matches none */
static int
tt_rule_name_match(const tt_rule_dim_t *dim, const tt_rule_t *rule,
    const tt_match_t *m, const tt_report_t *r, const struct tm *local)
{
    size_t       i;
    const char  *s;

    (void) rule;
    (void) local;

    if (m->any) {
        return 1;
    }

    s = *(const char *const *) ((const char *) r + dim->report);

    if (s == NULL) {
        return 0;
    }

    if (m->by_default) {
        return strcasecmp(s, dim->absent) == 0;
    }

    for (i = 0; i < m->n; i++) {
        if (strcasecmp(s, TT_STR(m->items[i])) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
tt_rule_window_match(const tt_rule_dim_t *dim, const tt_rule_t *rule,
    const tt_match_t *m, const tt_report_t *r, const struct tm *local)
{
    int  minutes;

    (void) dim;
    (void) m;
    (void) r;

    if (!rule->has_window) {
        return 1;
    }

    minutes = local->tm_hour * 60 + local->tm_min;

    if (rule->window_from < rule->window_to) {
        return minutes >= rule->window_from && minutes < rule->window_to;
    }

    /* across midnight: the evening part or the early morning */
    return minutes >= rule->window_from || minutes < rule->window_to;
}


static int
tt_rule_weekdays_match(const tt_rule_dim_t *dim, const tt_rule_t *rule,
    const tt_match_t *m, const tt_report_t *r, const struct tm *local)
{
    int  wday;

    (void) dim;
    (void) m;
    (void) r;

    if (rule->weekdays == 0) {
        return 1;
    }

    wday = local->tm_wday;

    /* the early-morning part of a window across midnight belongs to the
     * night that began the day before */
    if (rule->has_window && rule->window_from > rule->window_to
        && local->tm_hour * 60 + local->tm_min < rule->window_to)
    {
        wday = (wday + 6) % 7;
    }

    return (rule->weekdays & (1u << wday)) != 0;
}


static int
tt_rule_hhmm(const char *s, int *minutes)
{
    int  h, m;

    if (strlen(s) != 5 || s[2] != ':'
        || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9'
        || s[3] < '0' || s[3] > '9' || s[4] < '0' || s[4] > '9')
    {
        return -1;
    }

    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');

    if (m > 59 || h > 24 || (h == 24 && m != 0)) {
        return -1;
    }

    *minutes = h * 60 + m;
    return 0;
}
