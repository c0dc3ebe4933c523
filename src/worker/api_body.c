/*
 * api_body: the bodies around an API call: an answer's JSON item, its
 * ids and its error text; a request's JSON text and query values.  No
 * HTTP here (api.c).
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tt_json.h"


void
tt_http_answer_free(tt_http_answer_t *answer)
{
    free(answer->body);
    answer->body = NULL;
    answer->len = 0;
}


yajl_val
tt_api_item(const tt_http_answer_t *answer, yajl_val *tree)
{
    yajl_val     data;
    const char  *path[] = { "data", NULL };

    *tree = NULL;

    if (answer->body == NULL) {
        return NULL;
    }

    *tree = tt_json_tree(answer->body, TT_JSON_MAX_DEPTH, NULL, 0);
    if (*tree == NULL || !YAJL_IS_OBJECT(*tree)) {
        return NULL;
    }

    data = yajl_tree_get(*tree, path, yajl_t_any);

    return data != NULL ? data : *tree;
}


long long
tt_api_id(yajl_val item, const char *key)
{
    char        *end;
    yajl_val     v;
    long long    id;
    const char  *path[] = { key, NULL }, *idpath[] = { "id", NULL };

    v = yajl_tree_get(item, path, yajl_t_any);

    if (v != NULL && YAJL_IS_OBJECT(v)) {
        v = yajl_tree_get(v, idpath, yajl_t_any);
    }

    if (v != NULL && YAJL_IS_INTEGER(v)) {
        id = YAJL_GET_INTEGER(v);
        return id > 0 ? id : 0;
    }

    if (v != NULL && YAJL_IS_STRING(v)) {
        id = strtoll(v->u.string, &end, 10);
        return (*end == '\0' && id > 0) ? id : 0;
    }

    return 0;
}


const char *
tt_api_error_text(const tt_http_answer_t *answer, char *buf, size_t size)
{
    yajl_val     tree, v;
    const char  *keys[][2] = { { "error", NULL }, { "message", NULL },
                               { "hint", NULL } };
    size_t       n;
    const char  *error, *message, *hint;

    error = NULL;
    message = NULL;
    hint = NULL;

    tree = answer->body ? tt_json_tree(answer->body, TT_JSON_MAX_DEPTH,
                                       NULL, 0)
                        : NULL;

    if (tree != NULL && YAJL_IS_OBJECT(tree)) {
        v = yajl_tree_get(tree, keys[0], yajl_t_string);
        error = v ? YAJL_GET_STRING(v) : NULL;
        v = yajl_tree_get(tree, keys[1], yajl_t_string);
        message = v ? YAJL_GET_STRING(v) : NULL;
        v = yajl_tree_get(tree, keys[2], yajl_t_string);
        hint = v ? YAJL_GET_STRING(v) : NULL;
    }

    n = (size_t) snprintf(buf, size, "HTTP %ld", answer->status);

    if (error != NULL && n < size) {
        n += (size_t) snprintf(buf + n, size - n, ": %s", error);
    }
    if (message != NULL && (error == NULL || strcmp(message, error) != 0)
        && n < size)
    {
        n += (size_t) snprintf(buf + n, size - n, " (%s)", message);
    }
    if (hint != NULL && n < size) {
        snprintf(buf + n, size - n, "; %s", hint);
    }

    if (tree != NULL) {
        yajl_tree_free(tree);
    }

    return buf;
}


char *
tt_api_json_text(yajl_gen g)
{
    char                 *out;
    size_t                len;
    const unsigned char  *buf;

    out = NULL;
    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
        out = strndup((const char *) buf, len);
    }

    yajl_gen_free(g);
    return out;
}


const char *
tt_api_escape(const char *s, char *buf, size_t size)
{
    size_t               o;
    const unsigned char *p;
    static const char    hex[] = "0123456789ABCDEF";

    o = 0;

    for (p = (const unsigned char *) s; *p && o + 4 < size; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.'
            || *p == '~')
        {
            buf[o++] = (char) *p;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[*p >> 4];
            buf[o++] = hex[*p & 15];
        }
    }

    buf[o] = '\0';
    return buf;
}
