/*
 * libFuzzer harness: the CSV export reader (src/worker/import_csv.c).
 *
 * The input is the file's bytes (at most 1 MB): tt_csv_read() reads it
 * as `tracktik-worker import` would, every row is checked and read, the
 * header matched to the mappings and the rows checked by the importer
 * (fuzz/worker_import.c).  A file shorter than the reader's 256 kB block
 * is one block; -max_len beyond it tries the block boundaries.
 */

#include "worker_import.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_import(data, size, tt_csv_read);
}
