/*
 * archive_queue: the portal's archive requests (tracktik_archives,
 * migrations/019_archives.sql) built one at a time (archive.h).
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "archive.h"
#include "db.h"
#include "log.h"


static int tt_archive_key_ok(const char *key);


int
tt_archive_build_next(PGconn *conn, const char *dir, char *err,
    size_t errlen)
{
    int                   rc;
    char                  id[24], key[64], path[PATH_MAX], why[1024],
                          size[24], n_inc[24], n_photos[24], quoted[1100];
    unsigned char         rnd[8];
    PGresult             *res;
    const char           *params[6];
    tt_archive_spec_t     spec;
    tt_archive_result_t   result;

    res = tt_db_query(conn, "claiming an archive request",
                      "SELECT id, client_id, site_ids, period_from, "
                      "period_to FROM tracktik_archive_claim()", 0, NULL,
                      err, errlen);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }

    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    spec.client = PQgetvalue(res, 0, 1);
    spec.sites = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
    spec.from = PQgetvalue(res, 0, 3);
    spec.to = PQgetvalue(res, 0, 4);
    spec.photo_dir = dir;

    /* a name no one can guess from the id alone */
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        memset(rnd, 0, sizeof(rnd));
    }

    snprintf(key, sizeof(key), "archives/%s-%02x%02x%02x%02x%02x%02x%02x%02x"
             ".zip", id, rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5], rnd[6], rnd[7]);

    snprintf(path, sizeof(path), "%s/archives", dir);
    rc = (mkdir(path, 0750) == 0 || errno == EEXIST) ? 0 : -1;

    if (rc != 0) {
        snprintf(why, sizeof(why), "creating %.900s: %s", path,
                 strerror(errno));
    } else {
        snprintf(path, sizeof(path), "%s/%s", dir, key);
        rc = tt_archive_write(conn, &spec, path, &result, why, sizeof(why));
    }

    params[0] = id;

    if (rc == 0) {
        snprintf(size, sizeof(size), "%lld", result.size);
        snprintf(n_inc, sizeof(n_inc), "%lld", result.incidents);
        snprintf(n_photos, sizeof(n_photos), "%lld", result.photos);
        params[1] = key;
        params[2] = result.sha256;
        params[3] = size;
        params[4] = n_inc;
        params[5] = n_photos;

        tt_log(TT_LOG_INFO, "event=archive_ready id=%s client=%s from=%s to=%s "
               "incidents=%lld photos=%lld bytes=%lld", id, spec.client,
               spec.from, spec.to, result.incidents, result.photos,
               result.size);

        PQclear(res);
        res = tt_db_query(conn, "recording the archive",
                          "SELECT tracktik_archive_ready($1, $2, $3, $4, $5, "
                          "$6)", 6, params, err, errlen);
    } else {
        tt_log(TT_LOG_ERROR, "event=archive_failed id=%s error=%s", id,
               tt_log_quote(why, quoted, sizeof(quoted)));

        params[1] = why;
        PQclear(res);
        res = tt_db_query(conn, "recording the archive's failure",
                          "SELECT tracktik_archive_failed($1, $2)", 2,
                          params, err, errlen);
    }

    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    return 1;
}


int
tt_archive_prune(PGconn *conn, const char *dir, int keep_days, char *err,
    size_t errlen)
{
    int          i, n;
    char         days[16], path[PATH_MAX], quoted[1100];
    PGresult    *res;
    const char  *params[1], *id, *key, *why;

    snprintf(days, sizeof(days), "%d", keep_days);
    params[0] = days;

    res = tt_db_query(conn, "pruning old archives",
                      "SELECT id, client_id, period_from, period_to, "
                      "file_key FROM tracktik_archive_prune($1)", 1, params,
                      err, errlen);
    if (res == NULL) {
        return -1;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        id = PQgetvalue(res, i, 0);
        key = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
        why = "";

        /*
         * Only a file the build named (the table's check holds the same
         * shape): never a path that leaves the archive directory.
         */
        if (key != NULL && tt_archive_key_ok(key)) {
            snprintf(path, sizeof(path), "%s/%s", dir, key);

            if (unlink(path) != 0 && errno != ENOENT) {
                why = strerror(errno);
            }

        } else if (key != NULL) {
            why = "not an archive's key, left alone";
        }

        tt_log(*why ? TT_LOG_WARN : TT_LOG_INFO,
               "event=archive_pruned id=%s client=%s from=%s to=%s "
               "key=%s%s%s", id, PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
               key ? key : "-", *why ? " error=" : "",
               *why ? tt_log_quote(why, quoted, sizeof(quoted)) : "");
    }

    PQclear(res);

    return n;
}


int
tt_archive_prune_all(PGconn *conn, const char *dir, int keep_days,
    volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    int  n;

    do {
        n = tt_archive_prune(conn, dir, keep_days, err, errlen);
        if (n < 0) {
            return -1;
        }
    } while (n == 100 && !*stop);

    return 0;
}


/* archives/<digits>-<16 lower-case hex digits>.zip */
static int
tt_archive_key_ok(const char *key)
{
    const char  *p;
    size_t       hex;

    if (strncmp(key, "archives/", 9) != 0) {
        return 0;
    }

    for (p = key + 9; *p >= '0' && *p <= '9'; p++) { /* void */ }

    if (p == key + 9 || *p++ != '-') {
        return 0;
    }

    for (hex = 0; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
         p++)
    {
        hex++;
    }

    return hex == 16 && strcmp(p, ".zip") == 0;
}
