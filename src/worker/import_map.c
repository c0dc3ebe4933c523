/*
 * import_map: mapping files ({"name": ..., "columns": [{"header": "ID",
 * "target": "report_id", "required": true}, ...]}) read with yajl, and a
 * header row bound to one.  Header names compare without case and
 * surrounding spaces.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tt_json.h"
#include "import_map.h"


#define TT_MAP_FILE_MAX  (256 * 1024)


static const char  *tt_map_targets[TT_MAP_TARGETS] = {
    "report_id", "occurred_at", "updated_on", "client", "client_id",
    "site", "site_id", "severity", "category", "report_template",
    "status", "time_zone", "position", "field"
};


static int tt_mapping_read(const char *path, tt_mapping_t *m, char *err,
    size_t errlen);
static int tt_map_header_eq(const char *header, const char *name);
static int tt_map_find(const tt_import_row_t *header, const char *name);


int
tt_mapping_load(const char *dir, const char *name, tt_mapping_t *m,
    char *err, size_t errlen)
{
    char  path[4096];

    memset(m, 0, sizeof(*m));

    if (strchr(name, '/') != NULL || name[0] == '.') {
        snprintf(err, errlen, "mapping %s: not a mapping name", name);
        return -1;
    }

    snprintf(path, sizeof(path), "%s/%s.json", dir, name);

    return tt_mapping_read(path, m, err, errlen);
}


int
tt_mapping_detect(const char *dir, const tt_import_row_t *header,
    tt_mapping_t *m, char *err, size_t errlen)
{
    int              best_matched, best_missing, matched, missing;
    DIR             *d;
    char             path[4096], missing_names[512];
    size_t           i, len;
    tt_mapping_t     cand;
    struct dirent   *e;

    memset(m, 0, sizeof(*m));

    d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }

    best_matched = -1;
    best_missing = -1;
    missing_names[0] = '\0';

    while ((e = readdir(d)) != NULL) {
        len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (tt_mapping_read(path, &cand, err, errlen) != 0) {
            closedir(d);
            tt_mapping_free(m);
            return -1;
        }

        matched = 0;
        missing = 0;

        for (i = 0; i < cand.ncolumns; i++) {
            if (tt_map_find(header, cand.columns[i].header) >= 0) {
                matched++;
            } else if (cand.columns[i].required) {
                missing++;
            }
        }

        /* fewest missing, then most matched, then the later name */
        if (best_missing < 0 || missing < best_missing
            || (missing == best_missing
                && (matched > best_matched
                    || (matched == best_matched
                        && strcmp(cand.name, m->name) > 0))))
        {
            tt_mapping_free(m);
            *m = cand;
            best_missing = missing;
            best_matched = matched;

        } else {
            tt_mapping_free(&cand);
        }
    }

    closedir(d);

    if (m->name == NULL) {
        snprintf(err, errlen, "%s: no mapping files (*.json)", dir);
        return -1;
    }

    if (best_missing > 0) {
        for (i = 0; i < m->ncolumns; i++) {
            if (m->columns[i].required
                && tt_map_find(header, m->columns[i].header) < 0)
            {
                len = strlen(missing_names);
                snprintf(missing_names + len, sizeof(missing_names) - len,
                         "%s\"%s\"", len ? ", " : "", m->columns[i].header);
            }
        }

        snprintf(err, errlen, "no mapping fits the header row: the "
                 "closest, %s, requires column%s %s", m->name,
                 best_missing > 1 ? "s" : "", missing_names);
        tt_mapping_free(m);
        return -1;
    }

    return 0;
}


int
tt_mapping_bind(const tt_mapping_t *m, const tt_import_row_t *header,
    tt_map_binding_t *b, char *err, size_t errlen)
{
    int     k;
    size_t  i, j;

    memset(b, 0, sizeof(*b));

    for (i = 0; i < TT_MAP_TARGETS; i++) {
        b->target[i] = -1;
    }

    for (i = 0; i < m->ncolumns; i++) {
        if (m->columns[i].required
            && tt_map_find(header, m->columns[i].header) < 0)
        {
            snprintf(err, errlen, "column \"%s\", required by mapping %s, "
                     "is missing", m->columns[i].header, m->name);
            return -1;
        }
    }

    b->headers = calloc(header->nfields, sizeof(char *));
    b->column = calloc(header->nfields, sizeof(int));
    b->nheaders = header->nfields;

    if (b->headers == NULL || b->column == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < header->nfields; i++) {
        b->headers[i] = strdup(header->fields[i].data);
        if (b->headers[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        for (j = 0; j < i; j++) {
            if (tt_map_header_eq(b->headers[j], b->headers[i])) {
                snprintf(err, errlen, "column \"%s\" appears twice in the "
                         "header row", b->headers[i]);
                return -1;
            }
        }

        b->column[i] = -1;

        for (k = 0; k < (int) m->ncolumns; k++) {
            if (tt_map_header_eq(b->headers[i], m->columns[k].header)) {
                b->column[i] = k;

                if (m->columns[k].target != TT_MAP_FIELD) {
                    b->target[m->columns[k].target] = (int) i;
                }
                break;
            }
        }
    }

    return 0;
}


void
tt_mapping_free(tt_mapping_t *m)
{
    free(m->columns);
    yajl_tree_free(m->tree);
    memset(m, 0, sizeof(*m));
}


void
tt_map_binding_free(tt_map_binding_t *b)
{
    size_t  i;

    for (i = 0; b->headers != NULL && i < b->nheaders; i++) {
        free(b->headers[i]);
    }

    free(b->headers);
    free(b->column);
    memset(b, 0, sizeof(*b));
}


static int
tt_mapping_read(const char *path, tt_mapping_t *m, char *err,
    size_t errlen)
{
    int          t;
    FILE        *f;
    unsigned     have;
    char        *text, perr[256];
    size_t       len, i;
    yajl_val     cols, c, v;
    const char  *target;
    const char  *name_path[] = { "name", NULL };
    const char  *cols_path[] = { "columns", NULL };
    const char  *header_path[] = { "header", NULL };
    const char  *target_path[] = { "target", NULL };
    const char  *tag_path[] = { "tag", NULL };
    const char  *required_path[] = { "required", NULL };

    memset(m, 0, sizeof(*m));

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "mapping %s: %s", path, strerror(errno));
        return -1;
    }

    text = malloc(TT_MAP_FILE_MAX + 1);
    len = text != NULL ? fread(text, 1, TT_MAP_FILE_MAX + 1, f) : 0;
    fclose(f);

    if (text == NULL || len > TT_MAP_FILE_MAX) {
        snprintf(err, errlen, "mapping %s: %s", path,
                 text == NULL ? "out of memory" : "larger than 256 kB");
        free(text);
        return -1;
    }

    text[len] = '\0';
    m->tree = tt_json_tree(text, 8, perr, sizeof(perr));
    free(text);

    if (m->tree == NULL) {
        snprintf(err, errlen, "mapping %s: %s", path, perr);
        return -1;
    }

    v = yajl_tree_get(m->tree, name_path, yajl_t_string);
    cols = yajl_tree_get(m->tree, cols_path, yajl_t_array);

    if (v == NULL || cols == NULL || YAJL_GET_ARRAY(cols)->len == 0) {
        snprintf(err, errlen, "mapping %s: needs \"name\" and a non-empty "
                 "\"columns\" array", path);
        goto failed;
    }

    m->name = YAJL_GET_STRING(v);
    have = 0;
    m->ncolumns = YAJL_GET_ARRAY(cols)->len;
    m->columns = calloc(m->ncolumns, sizeof(tt_map_column_t));

    if (m->columns == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    for (i = 0; i < m->ncolumns; i++) {
        c = YAJL_GET_ARRAY(cols)->values[i];

        v = yajl_tree_get(c, header_path, yajl_t_string);
        if (v == NULL) {
            snprintf(err, errlen, "mapping %s: columns[%zu]: \"header\" "
                     "missing", path, i);
            goto failed;
        }
        m->columns[i].header = YAJL_GET_STRING(v);

        v = yajl_tree_get(c, target_path, yajl_t_string);
        target = v != NULL ? YAJL_GET_STRING(v) : "";

        for (t = 0; t < TT_MAP_TARGETS; t++) {
            if (strcmp(target, tt_map_targets[t]) == 0) {
                break;
            }
        }

        if (t == TT_MAP_TARGETS) {
            snprintf(err, errlen, "mapping %s: columns[%zu] (\"%s\"): "
                     "\"target\" must be one of report_id, occurred_at, "
                     "updated_on, client, client_id, site, site_id, "
                     "severity, category, report_template, status, "
                     "time_zone, position, field", path, i,
                     m->columns[i].header);
            goto failed;
        }
        m->columns[i].target = (tt_map_target_e) t;

        v = yajl_tree_get(c, tag_path, yajl_t_string);
        m->columns[i].tag = v != NULL ? YAJL_GET_STRING(v) : NULL;

        v = yajl_tree_get(c, required_path, yajl_t_any);
        m->columns[i].required = v != NULL && YAJL_IS_TRUE(v);

        if (m->columns[i].target == TT_MAP_REPORT_ID
            || m->columns[i].target == TT_MAP_OCCURRED_AT)
        {
            have |= 1u << m->columns[i].target;
            m->columns[i].required = 1;
        }
    }

    /* without these a row is no report */
    if (have != ((1u << TT_MAP_REPORT_ID) | (1u << TT_MAP_OCCURRED_AT))) {
        snprintf(err, errlen, "mapping %s: needs a report_id and an "
                 "occurred_at column", path);
        goto failed;
    }

    return 0;

failed:

    tt_mapping_free(m);
    return -1;
}


static int
tt_map_header_eq(const char *header, const char *name)
{
    size_t  len;

    while (*header == ' ') {
        header++;
    }

    len = strlen(header);
    while (len > 0 && header[len - 1] == ' ') {
        len--;
    }

    return len == strlen(name) && strncasecmp(header, name, len) == 0;
}


/* the header index named name, or -1 */
static int
tt_map_find(const tt_import_row_t *header, const char *name)
{
    size_t  i;

    for (i = 0; i < header->nfields; i++) {
        if (tt_map_header_eq(header->fields[i].data, name)) {
            return (int) i;
        }
    }

    return -1;
}
