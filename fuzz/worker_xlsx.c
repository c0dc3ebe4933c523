/*
 * libFuzzer harness: the XLSX export reader (src/worker/import_xlsx.c).
 *
 * The input is the file's bytes (at most 1 MB), a zip archive:
 * tt_xlsx_read() opens it with libzip, finds the first sheet through
 * xl/workbook.xml and its relationships, reads xl/sharedStrings.xml and
 * streams the sheet through expat; every row is checked and read, the
 * header matched to the mappings and the rows checked by the importer
 * (fuzz/worker_import.c).  The deflated members make mutation blind to
 * the XML, so the seeds include archives whose members are stored.
 */

#include "worker_import.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_import(data, size, tt_xlsx_read);
}
