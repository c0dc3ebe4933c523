/*
 * lookup: TrackTik reference data by id, nearest first: this process's
 * memory, then the reference table (while its row is fresher than the
 * TTL), then TrackTik itself (the kind's fetch, which stores the row).
 * Enrichment and billing sync look up accounts and posts this way.
 */

#ifndef TT_LOOKUP_H
#define TT_LOOKUP_H

#include <stddef.h>
#include <libpq-fe.h>


typedef struct {
    const char  *what;          /* "reading <what>" in errors */

    /* $1 the id, $2 the TTL in seconds: one row while fresh, whose last
     * column is the seconds it stays fresh */
    const char  *sql;

    size_t       size;          /* bytes of a value */

    /* a fresh row into value */
    void       (*row)(void *ctx, PGresult *res, void *value);

    /* from TrackTik into the table and value: 0, or a code > 0 that
     * tt_lookup_get() returns, with err */
    int        (*fetch)(void *ctx, long long id, void *value, char *err,
                        size_t errlen);
} tt_lookup_kind_t;


typedef struct {
    const tt_lookup_kind_t  *kind;
    void                    *ctx;       /* passed to row and fetch */
    int                      ttl;       /* seconds */
    size_t                   nslots;    /* 0: no memory layer */
    unsigned char           *slots;
    long long                hits;      /* answered from memory or table */
    long long                fetches;   /* answered by TrackTik */
} tt_lookup_t;


/* nslots: one per id modulo nslots; -1 without memory */
int tt_lookup_init(tt_lookup_t *l, const tt_lookup_kind_t *kind, void *ctx,
    int ttl, size_t nslots);
void tt_lookup_free(tt_lookup_t *l);

/*
 * 0 with value filled; -1 with err when the table cannot be read;
 * otherwise the fetch's code (> 0) and its err.
 */
int tt_lookup_get(tt_lookup_t *l, PGconn *conn, long long id, void *value,
    char *err, size_t errlen);

#endif /* TT_LOOKUP_H */
