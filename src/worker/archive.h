/*
 * archive: the auditor's archive of one client and period (doc/archive.md,
 * sql/functions/portal_archive.sql): a zip of incidents.csv, billing_lines.csv,
 * billing_totals.csv, workbook.xlsx (sheets incidents and billing, with
 * the totals), the photos a client may see and manifest.json (the SHA-256
 * and size of every other file, the period, the ledger chain's head and
 * the rows' chain range).  Only what the client may see goes in, whoever
 * asks.  Streamed: rows are read one at a time (single-row mode) and
 * written to temporary files beside the zip, so memory stays flat
 * whatever the period holds; one REPEATABLE READ snapshot, so the rows
 * and the chain head agree.
 */

#ifndef TT_ARCHIVE_H
#define TT_ARCHIVE_H

#include <signal.h>
#include <stddef.h>
#include <libpq-fe.h>


/* how often a daemon (archive build, run) prunes, seconds */
#define TT_ARCHIVE_PRUNE_EVERY  300


typedef struct {
    const char  *client;        /* client id, digits */
    const char  *sites;         /* PostgreSQL array "{1,2}"; NULL: all */
    const char  *from;          /* YYYY-MM-DD, UTC days, both included */
    const char  *to;
    const char  *photo_dir;     /* the attachment store; NULL: a period
                                   with photos is refused */
} tt_archive_spec_t;


typedef struct {
    char         sha256[65];    /* of the zip */
    long long    size;
    long long    incidents;
    long long    billing_lines;
    long long    photos;
} tt_archive_result_t;


/*
 * Writes the archive to path (atomically: libzip renames it into place
 * when complete).  0, or -1 with err; the connection must be idle and
 * outside a transaction.
 */
int tt_archive_write(PGconn *conn, const tt_archive_spec_t *spec,
    const char *path, tt_archive_result_t *result, char *err, size_t errlen);

/*
 * The queue (tracktik_archives): claims the oldest queued request,
 * builds it into dir/archives/ and records it ready (or failed, with the
 * reason).  1 when one was taken, 0 when none was queued, -1 with err
 * when the database failed.
 */
int tt_archive_build_next(PGconn *conn, const char *dir, char *err,
    size_t errlen);

/*
 * The retention: removes up to 100 finished archives older than
 * keep_days (their rows, then their files under dir/archives/, and only
 * files those rows name).  The number removed, or -1 with err when the
 * database failed.
 */
int tt_archive_prune(PGconn *conn, const char *dir, int keep_days,
    char *err, size_t errlen);

/*
 * The daemons' retention pass (archive build, run): tt_archive_prune()
 * until fewer than 100 are left or *stop is set.  0, or -1 with err.
 */
int tt_archive_prune_all(PGconn *conn, const char *dir, int keep_days,
    volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif /* TT_ARCHIVE_H */
