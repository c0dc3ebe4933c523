/*
 * notify_rules: a notification rule file checked (every error names the
 * rule or recipient and the field) and stored as a new version.  The
 * "match" object is a contract rule's (rules.c), so the two kinds of
 * rules read alike; the recipients are notify_recipients.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tt_json.h"
#include "rules.h"
#include "contracts.h"
#include "notify.h"


#define TT_STR(v)  ((const char *) (v)->u.string)


#define TT_NOTIFY_FIELDS_MAX  16


/* what the check of one key of a rule may look at */
typedef struct {
    yajl_val     rule;
    yajl_val     recipients;
    const char  *where;             /* 'rule "ID" (rules[N])' */
} tt_notify_ctx_t;

/* x: the key's value, NULL when absent; 0, or -1 with err */
typedef int (*tt_notify_check_pt)(yajl_val x, const tt_notify_ctx_t *ctx,
    char *err, size_t errlen);

typedef struct {
    const char          *key;
    tt_notify_check_pt   check;
} tt_notify_field_t;


static int tt_notify_rule(yajl_val v, int position, yajl_val recipients,
    char *err, size_t errlen);
static int tt_notify_match(yajl_val x, const tt_notify_ctx_t *ctx,
    char *err, size_t errlen);
static int tt_notify_min_severity(yajl_val x, const tt_notify_ctx_t *ctx,
    char *err, size_t errlen);
static int tt_notify_to(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen);
static int tt_notify_mode(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen);
static int tt_notify_digest_at(yajl_val x, const tt_notify_ctx_t *ctx,
    char *err, size_t errlen);
static int tt_notify_digest_weekday(yajl_val x, const tt_notify_ctx_t *ctx,
    char *err, size_t errlen);
static const char *tt_notify_mode_of(yajl_val rule);


static const char  *tt_notify_top_keys[] = {
    "name", "description", "recipients", "rules", NULL
};

static const char   tt_notify_days[] = "sun mon tue wed thu fri sat";

static const char  *tt_notify_severities[] = {
    "INFO", "LOW", "MODERATE", "HIGH", "SEVERE", NULL
};


/*
 * The keys of a notification rule, checked in this order (the first
 * error wins; "id" is read before all, to name the rule).  A new key is
 * a row here and its check (NULL: any value).
 */
static const tt_notify_field_t  tt_notify_rule_fields[] = {
    { "id",             NULL },
    { "description",    NULL },
    { "match",          tt_notify_match },
    { "min_severity",   tt_notify_min_severity },
    { "notify",         tt_notify_to },
    { "mode",           tt_notify_mode },
    { "digest_at",      tt_notify_digest_at },
    { "digest_weekday", tt_notify_digest_weekday },
    { NULL, NULL }
};

_Static_assert(sizeof(tt_notify_rule_fields)
               / sizeof(tt_notify_rule_fields[0]) - 1 <= TT_NOTIFY_FIELDS_MAX,
               "tt_notify_rule_fields[]: raise TT_NOTIFY_FIELDS_MAX");


int
tt_notify_rules_parse(const char *json, size_t len, const char *dir,
    tt_notify_rules_t *nr, char *err, size_t errlen)
{
    char      ebuf[512];
    size_t    i, j;
    yajl_val  recipients, rules, id;

    (void) len;

    memset(nr, 0, sizeof(*nr));

    nr->tree = tt_json_tree(json, TT_JSON_MAX_DEPTH, ebuf, sizeof(ebuf));
    if (nr->tree == NULL) {
        snprintf(err, errlen, "not valid JSON: %s", ebuf);
        return -1;
    }

    if (!YAJL_IS_OBJECT(nr->tree)) {
        snprintf(err, errlen, "expected a JSON object with \"recipients\" "
                 "and \"rules\"");
        return -1;
    }

    if (tt_rule_keys_check(nr->tree, tt_notify_top_keys, "the file", err,
                           errlen) != 0)
    {
        return -1;
    }

    recipients = tt_rule_get(nr->tree, "recipients");
    if (recipients == NULL || !YAJL_IS_OBJECT(recipients)
        || recipients->u.object.len == 0)
    {
        snprintf(err, errlen, "recipients: expected an object of named "
                 "recipients, {\"ops\": {\"email\": \"ops@example.com\"}}");
        return -1;
    }

    if (tt_notify_recipients_parse(recipients, dir, &nr->secrets_json, err,
                                   errlen) != 0)
    {
        return -1;
    }

    nr->nrecipients = recipients->u.object.len;

    rules = tt_rule_get(nr->tree, "rules");
    if (rules == NULL || !YAJL_IS_ARRAY(rules) || rules->u.array.len == 0) {
        snprintf(err, errlen, "rules: expected a non-empty array of rules");
        return -1;
    }

    for (i = 0; i < rules->u.array.len; i++) {
        if (tt_notify_rule(rules->u.array.values[i], (int) i, recipients,
                           err, errlen) != 0)
        {
            return -1;
        }

        id = tt_rule_get(rules->u.array.values[i], "id");

        for (j = 0; j < i; j++) {
            if (strcmp(TT_STR(id), TT_STR(tt_rule_get(
                           rules->u.array.values[j], "id"))) == 0)
            {
                snprintf(err, errlen, "rule \"%s\" (rules[%zu]): id: "
                         "already used by rules[%zu]", TT_STR(id), i, j);
                return -1;
            }
        }
    }

    nr->nrules = rules->u.array.len;
    return 0;
}


int
tt_notify_rules_read(const char *file, char **text, tt_notify_rules_t *nr,
    char *err, size_t errlen)
{
    char        why[900], dir[1024];
    size_t      len;
    const char  *slash;

    memset(nr, 0, sizeof(*nr));

    *text = tt_contracts_slurp(file, &len, err, errlen);
    if (*text == NULL) {
        return -1;
    }

    /* a secret_file is named relative to the rule file */
    slash = strrchr(file, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int) (slash - file), file);
    }

    if (tt_notify_rules_parse(*text, len, dir, nr, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: %s", file, why);
        return -1;
    }

    return 0;
}


void
tt_notify_rules_free(tt_notify_rules_t *nr)
{
    if (nr->tree != NULL) {
        yajl_tree_free(nr->tree);
    }

    if (nr->secrets_json != NULL) {
        memset(nr->secrets_json, 0, strlen(nr->secrets_json));
        free(nr->secrets_json);
    }

    memset(nr, 0, sizeof(*nr));
}


int
tt_notify_rules_store(PGconn *conn, const char *file, const char *text,
    const tt_notify_rules_t *nr, int *version, char *err, size_t errlen)
{
    const char  *params[3], *base;
    PGresult    *res;

    base = strrchr(file, '/');
    params[0] = text;
    params[1] = base != NULL ? base + 1 : file;
    params[2] = nr->secrets_json;

    res = PQexecParams(conn, "SELECT notify_rules_load($1::jsonb, $2, "
                       "$3::jsonb)", 3, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "storing %s failed: %s", file,
                 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        PQclear(res);
        return -1;
    }

    *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);

    return 0;
}


static int
tt_notify_rule(yajl_val v, int position, yajl_val recipients, char *err,
    size_t errlen)
{
    char                        where[128];
    size_t                      k;
    const char                 *id, *keys[TT_NOTIFY_FIELDS_MAX + 1];
    tt_notify_ctx_t             ctx;
    const tt_notify_field_t    *f;

    if (!YAJL_IS_OBJECT(v)) {
        snprintf(err, errlen, "rules[%d]: expected a rule object", position);
        return -1;
    }

    for (k = 0; tt_notify_rule_fields[k].key != NULL; k++) {
        keys[k] = tt_notify_rule_fields[k].key;
    }
    keys[k] = NULL;

    if (tt_rule_id_parse(v, position, &id, where, sizeof(where), err,
                         errlen) != 0
        || tt_rule_keys_check(v, keys, where, err, errlen) != 0)
    {
        return -1;
    }

    ctx.rule = v;
    ctx.recipients = recipients;
    ctx.where = where;

    for (f = tt_notify_rule_fields; f->key != NULL; f++) {
        if (f->check != NULL
            && f->check(tt_rule_get(v, f->key), &ctx, err, errlen) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* "match": a contract rule's (rules.c), checked and let go */
static int
tt_notify_match(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen)
{
    int        ok;
    tt_rule_t  rule;

    if (x != NULL && !YAJL_IS_OBJECT(x)) {
        snprintf(err, errlen, "%s: match: expected an object", ctx->where);
        return -1;
    }

    memset(&rule, 0, sizeof(rule));
    ok = tt_rule_match_parse(x, &rule, ctx->where, err, errlen) == 0;

    tt_rule_match_free(&rule);

    return ok ? 0 : -1;
}


static int
tt_notify_min_severity(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen)
{
    size_t  k;

    if (x == NULL) {
        return 0;
    }

    for (k = 0; tt_notify_severities[k] != NULL; k++) {
        if (YAJL_IS_STRING(x)
            && strcasecmp(TT_STR(x), tt_notify_severities[k]) == 0)
        {
            return 0;
        }
    }

    snprintf(err, errlen, "%s: min_severity: expected one of INFO, LOW, "
             "MODERATE, HIGH, SEVERE", ctx->where);
    return -1;
}


/* "notify": the names of recipients of this file, one or a list */
static int
tt_notify_to(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen)
{
    size_t    i, n;
    yajl_val  item;

    n = x == NULL ? 0 : YAJL_IS_ARRAY(x) ? x->u.array.len : 1;
    if (n == 0) {
        snprintf(err, errlen, "%s: notify: missing (the names of the "
                 "recipients to tell)", ctx->where);
        return -1;
    }

    for (i = 0; i < n; i++) {
        item = YAJL_IS_ARRAY(x) ? x->u.array.values[i] : x;

        if (!YAJL_IS_STRING(item)) {
            snprintf(err, errlen, "%s: notify: expected recipient names",
                     ctx->where);
            return -1;
        }

        if (tt_rule_get(ctx->recipients, TT_STR(item)) == NULL) {
            snprintf(err, errlen, "%s: notify: \"%.64s\" is not a recipient "
                     "of this file", ctx->where, TT_STR(item));
            return -1;
        }
    }

    return 0;
}


static int
tt_notify_mode(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen)
{
    const char  *mode;

    (void) x;

    mode = tt_notify_mode_of(ctx->rule);

    if (strcmp(mode, "immediate") != 0 && strcmp(mode, "daily") != 0
        && strcmp(mode, "weekly") != 0)
    {
        snprintf(err, errlen, "%s: mode: expected \"immediate\", \"daily\" "
                 "or \"weekly\"", ctx->where);
        return -1;
    }

    return 0;
}


/* "digest_at": a digest's local time, HH:MM; an immediate rule has none */
static int
tt_notify_digest_at(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen)
{
    int  daily;

    daily = strcmp(tt_notify_mode_of(ctx->rule), "immediate") != 0;

    if (daily != (x != NULL)
        || (x != NULL && (!YAJL_IS_STRING(x) || strlen(TT_STR(x)) != 5
                          || TT_STR(x)[2] != ':'
                          || atoi(TT_STR(x)) > 23
                          || atoi(TT_STR(x) + 3) > 59)))
    {
        snprintf(err, errlen, "%s: digest_at: a digest needs its local time "
                 "\"HH:MM\"; an immediate rule has none", ctx->where);
        return -1;
    }

    return 0;
}


/* "digest_weekday": a weekly digest's day; other modes have none */
static int
tt_notify_digest_weekday(yajl_val x, const tt_notify_ctx_t *ctx, char *err,
    size_t errlen)
{
    const char  *day;

    if ((strcmp(tt_notify_mode_of(ctx->rule), "weekly") == 0) != (x != NULL)
        || (x != NULL && (!YAJL_IS_STRING(x) || strlen(TT_STR(x)) != 3
                          || (day = strstr(tt_notify_days, TT_STR(x)))
                             == NULL
                          || (day - tt_notify_days) % 4 != 0)))
    {
        snprintf(err, errlen, "%s: digest_weekday: a weekly digest needs "
                 "its day (\"mon\"..\"sun\"); other modes have none",
                 ctx->where);
        return -1;
    }

    return 0;
}


/* a rule's mode: "immediate" when absent, "" when not a string */
static const char *
tt_notify_mode_of(yajl_val rule)
{
    yajl_val  x;

    x = tt_rule_get(rule, "mode");

    return x == NULL ? "immediate" : YAJL_IS_STRING(x) ? TT_STR(x) : "";
}
