/*
 * photos: report photos (PICTURE report fields) from TrackTik into the
 * portal's attachment store.
 *
 * The batch transaction queues them (tracktik_photos_enqueue(),
 * sql/functions/worker.sql), so recording the ledger never waits for a
 * photo.  A pass, run by `run` when its queue is idle, takes the due rows
 * (one process at a time: an advisory lock), downloads each through the
 * API client (same tenant only, at most TT_PHOTOS_MAX_BYTES, image types
 * only), writes it atomically to <dir>/<yyyy>/<file id>.<ext> and
 * inserts its portal_attachments row.  A photo that cannot be fetched
 * now is tried again later, with backoff; one that can never be stored
 * is 'skipped' (or 'failed' after TT_PHOTOS_MAX_ATTEMPTS) with the
 * reason.
 *
 * Active only with --attachment-dir and a TrackTik session.
 */

#ifndef TT_PHOTOS_H
#define TT_PHOTOS_H

#include <signal.h>
#include <stddef.h>

#include "config.h"


#define TT_PHOTOS_MAX_BYTES     (20 * 1024 * 1024)
#define TT_PHOTOS_MAX_ATTEMPTS  10


typedef struct tt_photos_s  tt_photos_t;


/* NULL with err when the directory cannot be used (or out of memory) */
tt_photos_t *tt_photos_new(const tt_config_t *cfg, char *err,
    size_t errlen);
void tt_photos_free(tt_photos_t *ph);

/*
 * One pass over the due photos, until none is due, stop is set or the
 * pass has run for a few seconds.  Returns how many rows it settled
 * (stored, skipped, or put off until later); 0 when nothing was due or
 * photos are inactive; -1 on a database error (logged).
 */
int tt_photos_pass(tt_photos_t *ph, volatile sig_atomic_t *stop);

/* the file name extension for an image content type; NULL: refused */
const char *tt_photos_extension(const char *content_type);

/* 1 when the first bytes are the file signature of that extension */
int tt_photos_looks_like(const char *ext, const unsigned char *b,
    size_t len);

#endif /* TT_PHOTOS_H */
