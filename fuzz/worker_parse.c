/*
 * libFuzzer harness: the worker's job payload parser (src/worker/parse.c).
 *
 * The input is a payload exactly as the webhook stored it (any bytes, any
 * length; the parser is given a NUL-terminated copy and the length, as
 * the worker does).  Every report it accepts is walked the way the worker
 * walks it: its fields looked up, its local time computed in its zone.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "tz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *json, err[512];
    size_t          i, j, n;
    struct tm       local;
    tt_payload_t    p;
    tt_report_t    *r;

    json = malloc(size + 1);
    if (json == NULL) {
        return 0;
    }

    memcpy(json, data, size);
    json[size] = '\0';

    memset(&p, 0, sizeof(p));
    err[0] = '\0';

    if (tt_payload_parse(json, size, "UTC", &p, err, sizeof(err)) == 0) {
        for (i = 0; i < p.nreports; i++) {
            r = &p.reports[i];

            (void) tt_report_field(r, "hours");

            for (j = 0; j < r->nfields; j++) {
                n = r->fields[j].value ? strlen(r->fields[j].value) : 0;
                if (r->fields[j].tag != NULL) {
                    n += strlen(r->fields[j].tag);
                }
                (void) n;
            }

            if (r->time_zone != NULL) {
                (void) tt_tz_local(r->occurred_at, r->time_zone, &local);
            }
        }

    } else if (memchr(err, '\0', sizeof(err)) == NULL) {
        abort();                /* the message must be terminated */
    }

    tt_payload_free(&p);
    free(json);

    return 0;
}
