/*
 * photos: the queue (tracktik_photos) to the attachment store.  Its own
 * database connection and API client, as enrichment has, so a pass never
 * touches a batch's transaction.  Nothing secret is logged: never a URL
 * (a storage link may be pre-signed), only file and report ids.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "api.h"
#include "channel.h"
#include "db.h"
#include "log.h"
#include "photos.h"


#define TT_PHOTOS_BATCH     "20"    /* rows read per query */
#define TT_PHOTOS_PASS_S    5.0     /* a pass yields to jobs after this */
#define TT_PHOTOS_LOCK      "7301001"
#define TT_PHOTOS_FIELDS    64      /* template field types remembered */


typedef enum {
    TT_PHOTO_STORED = 0,
    TT_PHOTO_LATER,                 /* transient: run_after in the future */
    TT_PHOTO_SKIP,                  /* permanent: never stored */
    TT_PHOTO_STOP                   /* the session is gone: end the pass */
} tt_photo_rc_e;


typedef struct {
    long long    id;
    int          picture;
    int          hidden;        /* confidential or adminOnly */
} tt_photos_field_t;


typedef struct {
    long long    file_id;
    long long    report_id;
    long long    template_field;    /* 0: unknown */
    int          year;
    int          attempts;
    const char  *url;
    const char  *name;
    const char  *field_type;        /* NULL: not in the body */
} tt_photo_t;


struct tt_photos_s {
    char                *dir;
    tt_channel_t         ch;
    tt_photos_field_t    fields[TT_PHOTOS_FIELDS];
};


static tt_photo_rc_e tt_photos_fetch(tt_photos_t *ph, const tt_photo_t *p,
    char *key, size_t keylen, const char **ctype, size_t *bytes, char *err,
    size_t errlen, tt_http_answer_t *answer);
static const char *tt_photos_canonical(const char *ext);
static tt_photo_rc_e tt_photos_is_picture(tt_photos_t *ph, long long id,
    char *err, size_t errlen);
static int tt_photos_write(tt_photos_t *ph, int year, const char *key,
    const char *data, size_t len, char *err, size_t errlen);
static int tt_photos_settle(tt_photos_t *ph, const tt_photo_t *p,
    tt_photo_rc_e rc, const char *key, const char *ctype, const char *why,
    char *err, size_t errlen);


tt_photos_t *
tt_photos_new(const tt_config_t *cfg, char *err, size_t errlen)
{
    size_t              len;
    struct stat         st;
    tt_photos_t        *ph;
    tt_api_settings_t   set;

    if (mkdir(cfg->attachment_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "--attachment-dir %s: %s", cfg->attachment_dir,
                 strerror(errno));
        return NULL;
    }

    if (stat(cfg->attachment_dir, &st) != 0 || !S_ISDIR(st.st_mode)
        || access(cfg->attachment_dir, W_OK | X_OK) != 0)
    {
        snprintf(err, errlen, "--attachment-dir %s: not a writable "
                 "directory", cfg->attachment_dir);
        return NULL;
    }

    if (strlen(cfg->attachment_dir) > 3000) {
        snprintf(err, errlen, "--attachment-dir: longer than 3000 "
                 "characters");
        return NULL;
    }

    ph = calloc(1, sizeof(tt_photos_t));
    if (ph == NULL || (ph->dir = strdup(cfg->attachment_dir)) == NULL) {
        free(ph);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    len = strlen(ph->dir);
    while (len > 1 && ph->dir[len - 1] == '/') {
        ph->dir[--len] = '\0';
    }

    tt_api_settings_from(cfg, &set);

    /* the pass retries later by itself: no long waits in one call */
    set.max_retries = 2;
    set.backoff_cap_ms = 2000;
    set.max_rate_limited = 3;

    tt_channel_init(&ph->ch, "photos", cfg->dsn, &set);

    return ph;
}


void
tt_photos_free(tt_photos_t *ph)
{
    if (ph == NULL) {
        return;
    }

    tt_channel_close(&ph->ch);
    free(ph->dir);
    free(ph);
}


int
tt_photos_pass(tt_photos_t *ph, volatile sig_atomic_t *stop)
{
    int                i, n, settled, due;
    char               err[1024], q[1100], key[64], why[600];
    double             start;
    size_t             bytes;
    PGresult          *res, *lock;
    tt_photo_t         p;
    tt_photo_rc_e      rc;
    const char        *ctype;
    tt_http_answer_t   answer;

    if (ph == NULL || !tt_channel_ready(&ph->ch)) {
        return 0;
    }

    /* one process at a time fetches; the others have jobs to do */
    lock = PQexec(ph->ch.conn, "SELECT pg_try_advisory_lock(" TT_PHOTOS_LOCK
                            ")");
    if (PQresultStatus(lock) != PGRES_TUPLES_OK) {
        tt_db_error(ph->ch.conn, lock, "locking the photo queue", err,
                    sizeof(err));
        PQclear(lock);
        tt_channel_lost(&ph->ch);
        tt_log(TT_LOG_ERROR, "event=photos_failed error=%s",
               tt_log_quote(err, q, sizeof(q)));
        return -1;
    }

    if (strcmp(PQgetvalue(lock, 0, 0), "t") != 0) {
        PQclear(lock);
        return 0;
    }
    PQclear(lock);

    settled = 0;
    start = tt_api_now();
    due = 1;

    while (due && !*stop && tt_api_now() - start < TT_PHOTOS_PASS_S) {

        res = PQexec(ph->ch.conn,
                  "SELECT file_id, report_id, url, name, year,"
                  "       coalesce(template_field_id, 0), field_type,"
                  "       attempts"
                  "  FROM tracktik_photos"
                  " WHERE state = 'pending' AND run_after <= now()"
                  " ORDER BY run_after, file_id LIMIT " TT_PHOTOS_BATCH);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            tt_db_error(ph->ch.conn, res, "reading tracktik_photos", err,
                        sizeof(err));
            PQclear(res);
            settled = -1;
            break;
        }

        n = PQntuples(res);
        due = n > 0;

        for (i = 0; i < n && !*stop; i++) {
            memset(&p, 0, sizeof(p));
            p.file_id = atoll(PQgetvalue(res, i, 0));
            p.report_id = atoll(PQgetvalue(res, i, 1));
            p.url = PQgetvalue(res, i, 2);
            p.name = PQgetvalue(res, i, 3);
            p.year = atoi(PQgetvalue(res, i, 4));
            p.template_field = atoll(PQgetvalue(res, i, 5));
            p.field_type = PQgetisnull(res, i, 6) ? NULL
                                                  : PQgetvalue(res, i, 6);
            p.attempts = atoi(PQgetvalue(res, i, 7));

            key[0] = '\0';
            ctype = NULL;
            bytes = 0;
            why[0] = '\0';

            rc = tt_photos_fetch(ph, &p, key, sizeof(key), &ctype, &bytes,
                                 why, sizeof(why), &answer);

            if (rc == TT_PHOTO_STOP) {
                tt_log(TT_LOG_WARN, "event=photos_paused error=%s",
                       tt_log_quote(why, q, sizeof(q)));
                tt_http_answer_free(&answer);
                due = 0;
                break;
            }

            if (tt_photos_settle(ph, &p, rc, key, ctype, why, err,
                                 sizeof(err)) != 0)
            {
                tt_http_answer_free(&answer);
                settled = -1;
                due = 0;
                break;
            }

            tt_http_answer_free(&answer);
            settled++;

            if (rc == TT_PHOTO_STORED) {
                tt_log(TT_LOG_INFO, "event=photo_stored file=%lld "
                       "report=%lld bytes=%zu key=%s", p.file_id,
                       p.report_id, bytes, key);
            }

            if (tt_api_now() - start >= TT_PHOTOS_PASS_S) {
                due = 0;
                break;
            }
        }

        PQclear(res);
    }

    if (settled < 0) {
        tt_log(TT_LOG_ERROR, "event=photos_failed error=%s",
               tt_log_quote(err, q, sizeof(q)));
    }

    if (PQstatus(ph->ch.conn) == CONNECTION_OK) {
        res = PQexec(ph->ch.conn, "SELECT pg_advisory_unlock(" TT_PHOTOS_LOCK
                               ")");
        PQclear(res);
    } else {
        tt_channel_lost(&ph->ch);
    }

    return settled;
}


/* the download and the file; answer is always safe to free */
static tt_photo_rc_e
tt_photos_fetch(tt_photos_t *ph, const tt_photo_t *p, char *key,
    size_t keylen, const char **ctype, size_t *bytes, char *err,
    size_t errlen, tt_http_answer_t *answer)
{
    char           reason[300], type[128];
    tt_api_rc_e    rc;
    tt_photo_rc_e  picture;
    const char    *ext;

    memset(answer, 0, sizeof(*answer));

    if (p->field_type == NULL && p->template_field != 0) {
        picture = tt_photos_is_picture(ph, p->template_field, err, errlen);
        if (picture != TT_PHOTO_STORED) {
            return picture;
        }

    } else if (p->field_type != NULL
               && strcmp(p->field_type, "PICTURE") != 0)
    {
        snprintf(err, errlen, "not a PICTURE field");
        return TT_PHOTO_SKIP;
    }

    rc = tt_api_get_bytes(&ph->ch.api, p->url, TT_PHOTOS_MAX_BYTES, answer,
                          err, errlen);

    switch (rc) {
    case TT_API_OK:
        break;
    case TT_API_LOGIN:
        return TT_PHOTO_STOP;
    case TT_API_ERROR:
        /* too large, or not on the tenant: asking again will not help */
        return TT_PHOTO_SKIP;
    default:
        return TT_PHOTO_LATER;
    }

    if (answer->status != 200) {
        snprintf(err, errlen, "%s",
                 tt_api_error_text(answer, reason, sizeof(reason)));
        return TT_PHOTO_LATER;
    }

    /* "image/png; charset=..." -> "image/png" */
    snprintf(type, sizeof(type), "%.*s",
             (int) strcspn(answer->content_type, "; \t"),
             answer->content_type);

    ext = tt_photos_extension(type);
    if (ext == NULL) {
        snprintf(err, errlen, "content type \"%s\" is not an image the "
                 "portal shows", type);
        return TT_PHOTO_SKIP;
    }

    if (answer->len == 0) {
        snprintf(err, errlen, "an empty answer");
        return TT_PHOTO_LATER;
    }

    /* the bytes must be what the server says: a page labelled image/png
     * is not stored, whatever the portal would later say it is */
    if (!tt_photos_looks_like(ext, (const unsigned char *) answer->body,
                              answer->len))
    {
        snprintf(err, errlen, "content type \"%s\" but the bytes are not "
                 "such an image", type);
        return TT_PHOTO_SKIP;
    }

    /* digits and a fixed extension: never '..', never absolute */
    snprintf(key, keylen, "%04d/%lld.%s", p->year, p->file_id, ext);

    if (tt_photos_write(ph, p->year, key, answer->body, answer->len, err,
                        errlen) != 0)
    {
        return TT_PHOTO_LATER;
    }

    /* the content type as stored: one of ours, not the server's text */
    *ctype = tt_photos_canonical(ext);

    *bytes = answer->len;
    return TT_PHOTO_STORED;
}


/* no SVG: a script in it would run on the portal's origin */
static const char  *tt_photos_types[][3] = {
    /* as served      extension  as stored */
    { "image/jpeg",   "jpg",     "image/jpeg" },
    { "image/jpg",    "jpg",     "image/jpeg" },
    { "image/pjpeg",  "jpg",     "image/jpeg" },
    { "image/png",    "png",     "image/png" },
    { "image/gif",    "gif",     "image/gif" },
    { "image/webp",   "webp",    "image/webp" },
    { "image/heic",   "heic",    "image/heic" },
    { "image/bmp",    "bmp",     "image/bmp" },
    { "image/tiff",   "tif",     "image/tiff" }
};

#define TT_PHOTOS_NTYPES \
    (sizeof(tt_photos_types) / sizeof(tt_photos_types[0]))


const char *
tt_photos_extension(const char *content_type)
{
    size_t  i;

    for (i = 0; i < TT_PHOTOS_NTYPES; i++) {
        if (strcasecmp(content_type, tt_photos_types[i][0]) == 0) {
            return tt_photos_types[i][1];
        }
    }

    return NULL;
}


/* the file signature of each extension (its first bytes) */
int
tt_photos_looks_like(const char *ext, const unsigned char *b, size_t len)
{
    if (strcmp(ext, "jpg") == 0) {
        return len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
    }

    if (strcmp(ext, "png") == 0) {
        return len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0;
    }

    if (strcmp(ext, "gif") == 0) {
        return len >= 6 && (memcmp(b, "GIF87a", 6) == 0
                            || memcmp(b, "GIF89a", 6) == 0);
    }

    if (strcmp(ext, "webp") == 0) {
        return len >= 12 && memcmp(b, "RIFF", 4) == 0
               && memcmp(b + 8, "WEBP", 4) == 0;
    }

    if (strcmp(ext, "heic") == 0) {
        return len >= 12 && memcmp(b + 4, "ftyp", 4) == 0;
    }

    if (strcmp(ext, "bmp") == 0) {
        return len >= 2 && b[0] == 'B' && b[1] == 'M';
    }

    if (strcmp(ext, "tif") == 0) {
        return len >= 4 && (memcmp(b, "II*\0", 4) == 0
                            || memcmp(b, "MM\0*", 4) == 0);
    }

    return 0;
}


static const char *
tt_photos_canonical(const char *ext)
{
    size_t  i;

    for (i = 0; i < TT_PHOTOS_NTYPES; i++) {
        if (strcmp(ext, tt_photos_types[i][1]) == 0) {
            return tt_photos_types[i][2];
        }
    }

    return "application/octet-stream";
}


/* TT_PHOTO_STORED: it is a PICTURE field */
static tt_photo_rc_e
tt_photos_is_picture(tt_photos_t *ph, long long id, char *err,
    size_t errlen)
{
    char                path[80], reason[300];
    yajl_val            tree, item, v;
    tt_api_rc_e         rc;
    tt_photos_field_t  *slot;
    tt_http_answer_t    answer;
    const char         *typepath[] = { "type", NULL };
    const char         *confidential[] = { "confidential", NULL };
    const char         *admin_only[] = { "adminOnly", NULL };

    slot = &ph->fields[(unsigned long long) id % TT_PHOTOS_FIELDS];

    if (slot->id != id) {
        snprintf(path, sizeof(path), "/rest/v1/report-template-fields/%lld",
                 id);
        rc = tt_api_request(&ph->ch.api, "GET", path, NULL, &answer, err,
                            errlen);
        if (rc == TT_API_LOGIN) {
            return TT_PHOTO_STOP;
        }
        if (rc != TT_API_OK) {
            return TT_PHOTO_LATER;
        }

        if (answer.status != 200) {
            snprintf(err, errlen, "template field %lld: %s", id,
                     tt_api_error_text(&answer, reason, sizeof(reason)));
            tt_http_answer_free(&answer);
            return TT_PHOTO_LATER;
        }

        item = tt_api_item(&answer, &tree);
        tt_http_answer_free(&answer);

        v = item ? yajl_tree_get(item, typepath, yajl_t_string) : NULL;

        if (v == NULL) {
            snprintf(err, errlen, "template field %lld: no type in the "
                     "answer", id);
            if (tree != NULL) {
                yajl_tree_free(tree);
            }
            return TT_PHOTO_LATER;
        }

        slot->id = id;
        slot->picture = strcmp(v->u.string, "PICTURE") == 0;
        slot->hidden =
            YAJL_IS_TRUE(yajl_tree_get(item, confidential, yajl_t_any))
            || YAJL_IS_TRUE(yajl_tree_get(item, admin_only, yajl_t_any));
        yajl_tree_free(tree);
    }

    if (!slot->picture) {
        snprintf(err, errlen, "template field %lld is not a PICTURE field",
                 id);
        return TT_PHOTO_SKIP;
    }

    /* a photo clients must never see is never fetched for the portal */
    if (slot->hidden) {
        snprintf(err, errlen, "template field %lld is confidential or "
                 "adminOnly", id);
        return TT_PHOTO_SKIP;
    }

    return TT_PHOTO_STORED;
}


/* <dir>/<key> by way of a temporary file, fsync and rename */
static int
tt_photos_write(tt_photos_t *ph, int year, const char *key,
    const char *data, size_t len, char *err, size_t errlen)
{
    int      fd;
    char     sub[4200], path[4200], tmp[4300];
    size_t   off;
    ssize_t  n;

    snprintf(sub, sizeof(sub), "%s/%04d", ph->dir, year);
    snprintf(path, sizeof(path), "%s/%s", ph->dir, key);
    snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", sub, key + 5,
             (int) getpid());

    if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir for %s: %s", key, strerror(errno));
        return -1;
    }

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "creating %s: %s", key, strerror(errno));
        return -1;
    }

    for (off = 0; off < len; off += (size_t) n) {
        n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n <= 0) {
            snprintf(err, errlen, "writing %s: %s", key,
                     n < 0 ? strerror(errno) : "no progress");
            goto failed;
        }
    }

    if (fsync(fd) != 0) {
        snprintf(err, errlen, "fsync of %s: %s", key, strerror(errno));
        goto failed;
    }

    if (close(fd) != 0) {
        fd = -1;
        snprintf(err, errlen, "closing %s: %s", key, strerror(errno));
        goto failed;
    }
    fd = -1;

    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "renaming to %s: %s", key, strerror(errno));
        goto failed;
    }

    /* the rename itself survives a crash once the directory is synced */
    fd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void) fsync(fd);
        close(fd);
    }

    return 0;

failed:

    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return -1;
}


/* the row's outcome, and the attachment row for a stored photo */
static int
tt_photos_settle(tt_photos_t *ph, const tt_photo_t *p, tt_photo_rc_e rc,
    const char *key, const char *ctype, const char *why, char *err,
    size_t errlen)
{
    int          last;
    char         id[32], report[32], delay[32], q[700];
    double       secs;
    PGresult    *res;
    const char  *params[5];

    snprintf(id, sizeof(id), "%lld", p->file_id);
    snprintf(report, sizeof(report), "%lld", p->report_id);

    if (rc == TT_PHOTO_STORED) {
        params[0] = id;
        params[1] = report;
        params[2] = p->name;
        params[3] = ctype;
        params[4] = key;

        res = PQexecParams(ph->ch.conn,
                  "WITH a AS ("
                  "  INSERT INTO portal_attachments (id, report_id, name,"
                  "      content_type, storage_key)"
                  "  VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING)"
                  " UPDATE tracktik_photos"
                  "    SET state = 'stored', attempts = attempts + 1,"
                  "        last_error = NULL, done_at = now()"
                  "  WHERE file_id = $1",
                  5, NULL, params, NULL, NULL, 0);

    } else {
        last = rc == TT_PHOTO_LATER
               && p->attempts + 1 >= TT_PHOTOS_MAX_ATTEMPTS;

        /* 30 s doubling up to an hour, in the upper half at random */
        secs = 30.0 * (1 << (p->attempts < 7 ? p->attempts : 7));
        secs = secs > 3600 ? 3600 : secs;
        secs = secs / 2 + secs / 2 * ((double) random() / RAND_MAX);
        snprintf(delay, sizeof(delay), "%.3f", secs);

        params[0] = id;
        params[1] = rc == TT_PHOTO_SKIP ? "skipped"
                    : last ? "failed" : "pending";
        params[2] = why;
        params[3] = delay;

        res = PQexecParams(ph->ch.conn,
                  "UPDATE tracktik_photos"
                  "   SET state = $2, attempts = attempts + 1,"
                  "       last_error = $3,"
                  "       run_after = now() + make_interval(secs => $4),"
                  "       done_at = CASE WHEN $2 = 'pending' THEN NULL"
                  "                      ELSE now() END"
                  " WHERE file_id = $1",
                  4, NULL, params, NULL, NULL, 0);

        if (rc == TT_PHOTO_LATER && !last) {
            tt_log(TT_LOG_WARN, "event=photo_retry file=%lld report=%lld "
                   "attempts=%d retry_in=%.1fs error=%s", p->file_id,
                   p->report_id, p->attempts + 1, secs,
                   tt_log_quote(why, q, sizeof(q)));
        } else {
            tt_log(TT_LOG_ERROR, "event=photo_%s file=%lld report=%lld "
                   "attempts=%d error=%s", params[1], p->file_id,
                   p->report_id, p->attempts + 1,
                   tt_log_quote(why, q, sizeof(q)));
        }
    }

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(ph->ch.conn, res, "storing a photo's outcome", err, errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);
    return 0;
}
