/*
 * libFuzzer harness: contract rules (src/worker/rules.c), the validator
 * and the matcher.
 *
 * Input: a rule set document, optionally followed by a NUL byte and a job
 * payload.  The document is validated; when it is accepted, every report
 * of the payload (or of a built-in sample when there is none) is billed
 * with it at the report's local time, as the worker bills.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "rules.h"
#include "tz.h"


#define FUZZ_MAX_LINES  16


static const char  fuzz_sample[] =
    "{\"id\": 1, \"reportDateTime\": \"2026-01-03T22:15:00Z\","
    " \"status\": \"APPROVED\", \"reportTemplate\": 4, \"position\": 8,"
    " \"account\": {\"id\": 7, \"parentClient\": 2,"
    " \"timeZone\": \"Europe/Paris\"},"
    " \"reportFlag\": {\"id\": 5, \"name\": \"Theft\","
    " \"severityLevel\": \"LOW\"},"
    " \"reportFields\": [{\"fieldTag\": \"hours\", \"value\": \"1.75\"}]}";


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_bill(const tt_rule_set_t *set, const tt_payload_t *p)
{
    char                err[512];
    size_t              i, k, n;
    struct tm           local;
    tt_line_t           lines[FUZZ_MAX_LINES];
    const tt_report_t  *r;

    for (i = 0; i < p->nreports; i++) {
        r = &p->reports[i];

        if (tt_tz_local(r->occurred_at,
                        r->time_zone ? r->time_zone : "UTC", &local) != 0)
        {
            continue;
        }

        for (k = 0; k < set->nrules; k++) {
            (void) tt_rule_matches(&set->rules[k], r, &local);
        }

        n = 0;
        err[0] = '\0';
        if (tt_rules_bill(set, r, &local, lines, FUZZ_MAX_LINES, &n, err,
                          sizeof(err))
            == 0 && n > FUZZ_MAX_LINES)
        {
            abort();            /* more lines than room for them */
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *buf, *payload, err[512];
    size_t          len, plen;
    tt_payload_t    p;
    tt_rule_set_t   set;

    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    buf[size] = '\0';

    len = strlen(buf);
    payload = len < size ? buf + len + 1 : NULL;

    (void) tt_rules_decimal(buf);

    memset(&set, 0, sizeof(set));
    err[0] = '\0';

    if (tt_rule_set_parse(buf, len, &set, err, sizeof(err)) == 0) {
        memset(&p, 0, sizeof(p));

        if (payload != NULL) {
            plen = size - len - 1;
            if (tt_payload_parse(payload, plen, "UTC", &p, err,
                                 sizeof(err))
                == 0)
            {
                fuzz_bill(&set, &p);
            }

        } else if (tt_payload_parse(fuzz_sample, sizeof(fuzz_sample) - 1,
                                    "UTC", &p, err, sizeof(err))
                   == 0)
        {
            fuzz_bill(&set, &p);
        }

        tt_payload_free(&p);
    }

    tt_rule_set_free(&set);
    free(buf);

    return 0;
}
