/*
 * The export reader harnesses' shared part (fuzz/worker_import.c).
 */

#ifndef FUZZ_WORKER_IMPORT_H
#define FUZZ_WORKER_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "import_read.h"


/* a larger input is not tried (an export's size costs time, not code) */
#define FUZZ_IMPORT_MAX  (1024 * 1024)


typedef int (*fuzz_import_read_pt)(const char *file, tt_import_row_pt cb,
    void *ctx, char *err, size_t errlen);


/* the input through reader() and the importer's row checks; 0, or -1
 * when the input is too large to try */
int fuzz_import(const uint8_t *data, size_t size,
    fuzz_import_read_pt reader);

#endif /* FUZZ_WORKER_IMPORT_H */
