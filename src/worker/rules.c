/*
 * rules: applying contract rule sets: which set is in force, which rules
 * match a report, and the billing lines they make.  Reading a rule set
 * is rules_parse.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tt_time.h"
#include "rules.h"


/* the text of a value already known to be a string */
#define TT_STR(v)  ((const char *) (v)->u.string)


static int tt_match_ref(const tt_match_t *m, const tt_ref_t *ref);
static int tt_match_text(const tt_match_t *m, const char *s);


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
    int   minutes, wday;
    char  date[48];

    if (!tt_match_ref(&rule->clients, &r->client)
        || !tt_match_ref(&rule->sites, &r->site)
        || !tt_match_ref(&rule->templates, &r->template)
        || !tt_match_ref(&rule->categories, &r->flag)
        || !tt_match_text(&rule->severities, r->severity)
        || !tt_match_text(&rule->statuses, r->status))
    {
        return 0;
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

    minutes = local->tm_hour * 60 + local->tm_min;
    wday = local->tm_wday;

    if (rule->has_window) {
        if (rule->window_from < rule->window_to) {
            if (minutes < rule->window_from || minutes >= rule->window_to) {
                return 0;
            }

        } else {
            /* across midnight: the early-morning part belongs to the
             * night that began the day before */
            if (minutes >= rule->window_from) {
                /* evening part: today */

            } else if (minutes < rule->window_to) {
                wday = (wday + 6) % 7;

            } else {
                return 0;
            }
        }
    }

    if (rule->weekdays != 0 && (rule->weekdays & (1u << wday)) == 0) {
        return 0;
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


static int
tt_match_ref(const tt_match_t *m, const tt_ref_t *ref)
{
    size_t    i;
    yajl_val  item;

    if (m->any) {
        return 1;
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


static int
tt_match_text(const tt_match_t *m, const char *s)
{
    size_t  i;

    if (m->any) {
        return 1;
    }

    if (s == NULL) {
        return 0;
    }

    for (i = 0; i < m->n; i++) {
        if (strcasecmp(s, TT_STR(m->items[i])) == 0) {
            return 1;
        }
    }

    return 0;
}
