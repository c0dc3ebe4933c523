/*
 * lookup: a slot per id modulo nslots (a later id pushes an earlier one
 * out), each with the monotonic time it stays fresh until.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "lookup.h"


typedef struct {
    long long  id;              /* 0: empty */
    double     expires;         /* tt_api_now() */
} tt_lookup_slot_t;


/* a slot is its header and then the value, padded to 8 bytes */
#define tt_lookup_stride(size)                                              \
    (sizeof(tt_lookup_slot_t) + (((size) + 7) & ~(size_t) 7))

#define tt_lookup_slot(l, id)                                               \
    ((tt_lookup_slot_t *) ((l)->slots + ((unsigned long long) (id)          \
                                         % (l)->nslots)                     \
                          * tt_lookup_stride((l)->kind->size)))


int
tt_lookup_init(tt_lookup_t *l, const tt_lookup_kind_t *kind, void *ctx,
    int ttl, size_t nslots)
{
    memset(l, 0, sizeof(*l));
    l->kind = kind;
    l->ctx = ctx;
    l->ttl = ttl;

    if (nslots > 0) {
        l->slots = calloc(nslots, tt_lookup_stride(kind->size));
        if (l->slots == NULL) {
            return -1;
        }
        l->nslots = nslots;
    }

    return 0;
}


void
tt_lookup_free(tt_lookup_t *l)
{
    free(l->slots);
    l->slots = NULL;
    l->nslots = 0;
}


int
tt_lookup_get(tt_lookup_t *l, PGconn *conn, long long id, void *value,
    char *err, size_t errlen)
{
    int                rc;
    char               idbuf[32], ttl[16], what[64];
    double             now, left;
    PGresult          *res;
    const char        *params[2];
    tt_lookup_slot_t  *slot;

    now = tt_api_now();
    slot = l->nslots ? tt_lookup_slot(l, id) : NULL;

    if (slot != NULL && slot->id == id && slot->expires > now) {
        memcpy(value, slot + 1, l->kind->size);
        l->hits++;
        return 0;
    }

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    snprintf(ttl, sizeof(ttl), "%d", l->ttl);
    params[0] = idbuf;
    params[1] = ttl;

    res = PQexecParams(conn, l->kind->sql, 2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(what, sizeof(what), "reading %s", l->kind->what);
        tt_db_error(conn, res, what, err, errlen);
        PQclear(res);
        return -1;
    }

    memset(value, 0, l->kind->size);

    if (PQntuples(res) == 1) {
        l->kind->row(l->ctx, res, value);
        left = atof(PQgetvalue(res, 0, PQnfields(res) - 1));
        PQclear(res);
        l->hits++;

    } else {
        PQclear(res);

        rc = l->kind->fetch(l->ctx, id, value, err, errlen);
        if (rc != 0) {
            return rc;
        }

        left = l->ttl;
        l->fetches++;
    }

    if (slot != NULL) {
        slot->id = id;
        slot->expires = now + left;
        memcpy(slot + 1, value, l->kind->size);
    }

    return 0;
}
