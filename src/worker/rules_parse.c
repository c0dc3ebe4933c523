/*
 * rules_parse: a contract rule set document (JSON) checked and turned into
 * a tt_rule_set_t; every error names the rule and the field.  The keys of
 * a rule's "match" object are read in rules.c (tt_rule_dims[]).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_json.h"
#include "tt_time.h"
#include "rules.h"


/* the text of a value already known to be a string */
#define TT_STR(v)  ((const char *) (v)->u.string)


static int tt_rule_parse(yajl_val v, int position, tt_rule_t *rule,
    char *err, size_t errlen);
static int tt_rule_number(yajl_val v, const char *key, const char **out,
    const char *where, char *err, size_t errlen);
static int tt_rule_date(yajl_val v, const char *key, const char **out,
    const char *where, char *err, size_t errlen);
static int tt_rule_cmp(const void *a, const void *b);


static const char  *tt_rule_keys[] = {
    "id", "priority", "description", "match", "bill_code", "quantity",
    "quantity_field", "unit_price", "continue", "effective_from",
    "effective_until", NULL
};


int
tt_rule_set_parse(const char *json, size_t len, tt_rule_set_t *set,
    char *err, size_t errlen)
{
    char           ebuf[512];
    size_t         i, j, n;
    yajl_val       v, rules;
    const char    *s;
    tt_datetime_t  dt;

    (void) len;

    memset(set, 0, sizeof(*set));

    set->tree = tt_json_tree(json, TT_JSON_MAX_DEPTH, ebuf, sizeof(ebuf));

    if (set->tree == NULL) {
        snprintf(err, errlen, "not valid JSON: %s", ebuf);
        return -1;
    }

    if (!YAJL_IS_OBJECT(set->tree)) {
        snprintf(err, errlen, "expected a JSON object with \"rules\"");
        return -1;
    }

    for (i = 0; i < set->tree->u.object.len; i++) {
        s = set->tree->u.object.keys[i];
        if (strcmp(s, "name") != 0 && strcmp(s, "effective_from") != 0
            && strcmp(s, "description") != 0 && strcmp(s, "rules") != 0)
        {
            snprintf(err, errlen, "unknown key \"%.40s\" (expected name, "
                     "description, effective_from, rules)", s);
            return -1;
        }
    }

    v = tt_rule_get(set->tree, "name");
    if (v != NULL) {
        if (!YAJL_IS_STRING(v)) {
            snprintf(err, errlen, "name: expected a string");
            return -1;
        }
        set->name = TT_STR(v);
    }

    v = tt_rule_get(set->tree, "effective_from");
    if (v != NULL) {
        s = YAJL_IS_STRING(v) ? TT_STR(v) : NULL;
        if (s == NULL || tt_time_parse(s, strlen(s), &dt) != 0) {
            snprintf(err, errlen, "effective_from: expected a date "
                     "\"YYYY-MM-DD\" or an ISO 8601 date-time");
            return -1;
        }
        set->has_effective_from = 1;
        set->effective_from = tt_time_civil_to_epoch(dt.year, dt.month,
                                  dt.day, dt.hour, dt.minute, dt.second)
                              - dt.offset;
    }

    rules = tt_rule_get(set->tree, "rules");
    if (rules == NULL || !YAJL_IS_ARRAY(rules)) {
        snprintf(err, errlen, "rules: expected an array of rules");
        return -1;
    }

    n = rules->u.array.len;
    if (n == 0) {
        snprintf(err, errlen, "rules: empty; a rule set needs a rule");
        return -1;
    }

    set->rules = calloc(n, sizeof(tt_rule_t));
    if (set->rules == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        /* counted first: a half-parsed rule is freed with the set */
        set->nrules++;

        if (tt_rule_parse(rules->u.array.values[i], (int) i, &set->rules[i],
                          err, errlen) != 0)
        {
            return -1;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(set->rules[j].id, set->rules[i].id) == 0) {
                snprintf(err, errlen, "rule \"%.64s\" (rules[%zu]): id: "
                         "also used by rules[%zu]", set->rules[i].id, i, j);
                return -1;
            }
        }
    }

    qsort(set->rules, set->nrules, sizeof(tt_rule_t), tt_rule_cmp);

    return 0;
}


void
tt_rule_set_free(tt_rule_set_t *set)
{
    size_t  i;

    for (i = 0; i < set->nrules; i++) {
        tt_rule_match_free(&set->rules[i]);
    }

    free(set->rules);

    if (set->tree != NULL) {
        yajl_tree_free(set->tree);
    }

    memset(set, 0, sizeof(*set));
}


static int
tt_rule_parse(yajl_val v, int position, tt_rule_t *rule, char *err,
    size_t errlen)
{
    char         where[128];
    yajl_val     x;

    rule->position = position;

    if (!YAJL_IS_OBJECT(v)) {
        snprintf(err, errlen, "rules[%d]: expected a rule object", position);
        return -1;
    }

    if (tt_rule_id_parse(v, position, &rule->id, where, sizeof(where), err,
                         errlen) != 0)
    {
        return -1;
    }

    if (tt_rule_keys_check(v, tt_rule_keys, where, err, errlen) != 0) {
        return -1;
    }

    x = tt_rule_get(v, "priority");
    if (x != NULL) {
        if (!YAJL_IS_INTEGER(x) || YAJL_GET_INTEGER(x) < 0
            || YAJL_GET_INTEGER(x) > 1000000)
        {
            snprintf(err, errlen, "%s: priority: expected an integer "
                     "0..1000000", where);
            return -1;
        }
        rule->priority = (int) YAJL_GET_INTEGER(x);

    } else {
        rule->priority = 100;
    }

    x = tt_rule_get(v, "continue");
    if (x != NULL) {
        if (!YAJL_IS_TRUE(x) && !YAJL_IS_FALSE(x)) {
            snprintf(err, errlen, "%s: continue: expected true or false",
                     where);
            return -1;
        }
        rule->cont = YAJL_IS_TRUE(x);
    }

    x = tt_rule_get(v, "bill_code");
    if (x == NULL || !YAJL_IS_STRING(x) || TT_STR(x)[0] == '\0'
        || strlen(TT_STR(x)) > 64)
    {
        snprintf(err, errlen, "%s: bill_code: missing (a string of 1 to 64 "
                 "characters)", where);
        return -1;
    }
    rule->bill_code = TT_STR(x);

    if (tt_rule_number(v, "quantity", &rule->quantity, where, err, errlen)
        || tt_rule_number(v, "unit_price", &rule->unit_price, where, err,
                          errlen))
    {
        return -1;
    }

    x = tt_rule_get(v, "quantity_field");
    if (x != NULL) {
        if (!YAJL_IS_STRING(x) || TT_STR(x)[0] == '\0') {
            snprintf(err, errlen, "%s: quantity_field: expected the "
                     "fieldTag of a numeric report field", where);
            return -1;
        }
        rule->quantity_field = TT_STR(x);
    }

    if ((rule->quantity == NULL) == (rule->quantity_field == NULL)) {
        snprintf(err, errlen, "%s: give exactly one of quantity (a number) "
                 "and quantity_field (a report field tag)", where);
        return -1;
    }

    if (tt_rule_date(v, "effective_from", &rule->effective_from, where, err,
                     errlen)
        || tt_rule_date(v, "effective_until", &rule->effective_until, where,
                        err, errlen))
    {
        return -1;
    }

    return tt_rule_match_parse(tt_rule_get(v, "match"), rule, where, err,
                               errlen);
}


/* -1 with '<where>: unknown key "K"' when obj has a key not in keys */
int
tt_rule_keys_check(yajl_val obj, const char **keys, const char *where,
    char *err, size_t errlen)
{
    size_t       i, k;
    const char  *s;

    for (i = 0; i < obj->u.object.len; i++) {
        s = obj->u.object.keys[i];
        for (k = 0; keys[k] != NULL; k++) {
            if (strcmp(s, keys[k]) == 0) {
                break;
            }
        }
        if (keys[k] == NULL) {
            snprintf(err, errlen, "%s: unknown key \"%.40s\"", where, s);
            return -1;
        }
    }

    return 0;
}


/*
 * A rule's "id" (letters, digits, "-", "_", "."; at most 64), and where
 * set to 'rule "ID" (rules[N])' for the errors that follow.
 */
int
tt_rule_id_parse(yajl_val v, int position, const char **id, char *where,
    size_t wherelen, char *err, size_t errlen)
{
    yajl_val     x;
    const char  *p;

    x = tt_rule_get(v, "id");
    if (x == NULL || !YAJL_IS_STRING(x) || TT_STR(x)[0] == '\0') {
        snprintf(err, errlen, "rules[%d]: id: missing (every rule needs a "
                 "string id)", position);
        return -1;
    }
    *id = TT_STR(x);

    snprintf(where, wherelen, "rule \"%.64s\" (rules[%d])", *id,
             position);

    if (strlen(*id) > 64) {
        snprintf(err, errlen, "%s: id: longer than 64 characters", where);
        return -1;
    }

    for (p = *id; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == '.'))
        {
            snprintf(err, errlen, "%s: id: only letters, digits, \"-\", "
                     "\"_\" and \".\" are allowed", where);
            return -1;
        }
    }

    return 0;
}


static int
tt_rule_number(yajl_val v, const char *key, const char **out,
    const char *where, char *err, size_t errlen)
{
    char      *end;
    double     d;
    yajl_val   x;

    *out = NULL;

    x = tt_rule_get(v, key);
    if (x == NULL) {
        return 0;
    }

    if (YAJL_IS_NUMBER(x)) {
        d = strtod(YAJL_GET_NUMBER(x), &end);
        if (*end == '\0' && d >= 0 && d < 1e12) {
            *out = YAJL_GET_NUMBER(x);
            return 0;
        }
    }

    snprintf(err, errlen, "%s: %s: expected a non-negative number", where,
             key);
    return -1;
}


static int
tt_rule_date(yajl_val v, const char *key, const char **out,
    const char *where, char *err, size_t errlen)
{
    yajl_val       x;
    const char    *s;
    tt_datetime_t  dt;

    *out = NULL;

    x = tt_rule_get(v, key);
    if (x == NULL) {
        return 0;
    }

    s = YAJL_IS_STRING(x) ? TT_STR(x) : "";

    if (strlen(s) != 10 || tt_time_parse(s, 10, &dt) != 0) {
        snprintf(err, errlen, "%s: %s: expected a date \"YYYY-MM-DD\"",
                 where, key);
        return -1;
    }

    *out = s;
    return 0;
}


static int
tt_rule_cmp(const void *a, const void *b)
{
    const tt_rule_t  *ra = a, *rb = b;

    if (ra->priority != rb->priority) {
        return ra->priority < rb->priority ? -1 : 1;
    }

    return ra->position - rb->position;
}


yajl_val
tt_rule_get(yajl_val obj, const char *key)
{
    size_t  i;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0) {
            return obj->u.object.values[i];
        }
    }

    return NULL;
}
