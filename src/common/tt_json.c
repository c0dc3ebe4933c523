/*
 * tt_json: yajl trees with bounded nesting (see tt_json.h).
 */

#include <stdio.h>
#include <string.h>

#include "tt_json.h"


unsigned
tt_json_depth(const char *text, size_t len, unsigned max)
{
    int          in_string, escaped;
    size_t       i;
    unsigned     depth, deepest;

    in_string = 0;
    escaped = 0;
    depth = 0;
    deepest = 0;

    for (i = 0; i < len; i++) {

        if (in_string) {
            if (escaped) {
                escaped = 0;

            } else if (text[i] == '\\') {
                escaped = 1;

            } else if (text[i] == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (text[i]) {

        case '"':
            in_string = 1;
            break;

        case '[':
        case '{':
            if (++depth > deepest) {
                deepest = depth;

                if (deepest > max) {
                    return max + 1;
                }
            }
            break;

        case ']':
        case '}':
            if (depth > 0) {
                depth--;
            }
            break;

        default:
            break;
        }
    }

    return deepest;
}


yajl_val
tt_json_tree(const char *text, unsigned max_depth, char *err, size_t errlen)
{
    char      ebuf[512], *nl;
    yajl_val  tree;

    if (tt_json_depth(text, strlen(text), max_depth) > max_depth) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "nested deeper than %u levels", max_depth);
        }

        return NULL;
    }

    ebuf[0] = '\0';
    tree = yajl_tree_parse(text, ebuf, sizeof(ebuf));

    if (tree == NULL && err != NULL && errlen > 0) {
        nl = strchr(ebuf, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }

        snprintf(err, errlen, "%s", ebuf[0] ? ebuf : "not valid JSON");
    }

    return tree;
}
