/*
 * rules: contract rules.  A rule set is a JSON document (the format is in
 * doc/contract-rules.md); every rule says which reports it matches and
 * what one billing line it produces.  Pure functions of the document,
 * the report and the report's local time: no database here.
 *
 * The keys of a rule's "match" object (its dimensions) are one table,
 * tt_rule_dims[] in rules.c: a row names the key, its kind (how the
 * value is read and tested) and the report's value it is tested against.
 */

#ifndef TT_RULES_H
#define TT_RULES_H

#include <stddef.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "parse.h"


/* room for the rows of tt_rule_dims[] (checked where it is defined) */
#define TT_RULE_DIMS_MAX  16


/* a match list: ids (JSON numbers) and names (JSON strings), any one of
 * which matches; any = the key was absent (or "any" where the dimension
 * has a default); by_default = absent, so only the dimension's default
 * name matches */
typedef struct {
    int          any;
    int          by_default;
    size_t       n;
    yajl_val    *items;
} tt_match_t;


typedef struct {
    const char  *id;
    int          position;          /* index in the "rules" array */
    int          priority;          /* lower is tried first */
    int          cont;              /* "continue": later rules may bill */

    /* the list of each list dimension, by its row in tt_rule_dims[] */
    tt_match_t   lists[TT_RULE_DIMS_MAX];

    int          has_window;
    int          window_from;       /* minutes after local midnight */
    int          window_to;
    unsigned     weekdays;          /* bit n = tm_wday n; 0 = any day */

    const char  *effective_from;    /* local dates "YYYY-MM-DD" or NULL */
    const char  *effective_until;   /* exclusive */

    const char  *bill_code;
    const char  *quantity;          /* a constant, as JSON number text */
    const char  *quantity_field;    /* or the report field with this tag */
    const char  *unit_price;        /* JSON number text or NULL */
} tt_rule_t;


typedef struct {
    int          version;           /* contract_rule_sets.version */
    int          has_effective_from;
    long long    effective_from;    /* epoch seconds */
    const char  *name;
    tt_rule_t   *rules;             /* sorted by priority, then position */
    size_t       nrules;
    yajl_val     tree;
} tt_rule_set_t;


/* every rule set version loaded, any order */
typedef struct {
    tt_rule_set_t  *sets;
    size_t          nsets;
    int             max_version;
} tt_rulebook_t;


/* one billing line a rule asks for */
typedef struct {
    const char  *rule_id;
    int          rule_set_version;
    const char  *bill_code;
    const char  *quantity;
    const char  *unit_price;        /* NULL: priced by the TrackTik contract */
} tt_line_t;


/*
 * Parses and validates a rule set document (json NUL terminated).  Errors
 * name the rule: 'rule "alarm" (rules[1]): bill_code: missing'.
 */
int tt_rule_set_parse(const char *json, size_t len, tt_rule_set_t *set,
    char *err, size_t errlen);

void tt_rule_set_free(tt_rule_set_t *set);

void tt_rulebook_free(tt_rulebook_t *rb);

/* the set in force at an instant: latest effective_from <= t, ties to the
 * highest version; NULL when none */
const tt_rule_set_t *tt_rulebook_pick(const tt_rulebook_t *rb,
    long long t);

/* 1 when rule matches report r whose local time is *local */
int tt_rule_matches(const tt_rule_t *rule, const tt_report_t *r,
    const struct tm *local);

/*
 * The lines set bills for report r: rules in priority order, the first
 * match wins unless it says "continue".  Returns 0 with *n lines, or -1
 * when a matching rule cannot be applied (its quantity field is missing
 * or not a number): that is a property of the report and the rules.
 */
int tt_rules_bill(const tt_rule_set_t *set, const tt_report_t *r,
    const struct tm *local, tt_line_t *lines, size_t max, size_t *n,
    char *err, size_t errlen);

/*
 * Parts of a rule's parse that notification rules share: the id (where
 * becomes 'rule "ID" (rules[N])'), the "match" object (NULL: any; rules.c)
 * and what it allocated, a check that obj has no key outside keys (NULL
 * ended), and obj's value of key (NULL: absent or obj not an object).
 */
int tt_rule_id_parse(yajl_val v, int position, const char **id,
    char *where, size_t wherelen, char *err, size_t errlen);
int tt_rule_match_parse(yajl_val match, tt_rule_t *rule, const char *where,
    char *err, size_t errlen);
void tt_rule_match_free(tt_rule_t *rule);
int tt_rule_keys_check(yajl_val obj, const char **keys, const char *where,
    char *err, size_t errlen);
yajl_val tt_rule_get(yajl_val obj, const char *key);

/* 1 when s is a plain non-negative decimal ("2", "2.50", ".5") */
int tt_rules_decimal(const char *s);

#endif /* TT_RULES_H */
