/*
 * tt_json: yajl trees with bounded nesting.  yajl_tree_parse() builds a
 * tree of any depth and yajl_tree_free() frees it recursively, so a deeply
 * nested document (a tenant's answer, a payload, a rule file)
 * would overflow the stack.  Every tree the worker builds goes through
 * tt_json_tree(), which measures the nesting first, without recursion.
 * (The module's one tree, a login body, is at most 4 KB.)
 */

#ifndef TT_JSON_H
#define TT_JSON_H

#include <stddef.h>

#include <yajl/yajl_tree.h>


/* deeper than any TrackTik document, shallow enough for any stack */
#define TT_JSON_MAX_DEPTH  64


/*
 * The deepest nesting of arrays and objects in the len bytes of text,
 * outside strings; stops counting (and returns max + 1) once it passes
 * max.  Never fails: malformed JSON is the parser's to refuse.
 */
unsigned tt_json_depth(const char *text, size_t len, unsigned max);

/*
 * yajl_tree_parse() of the NUL-terminated text, refused when nested
 * deeper than max_depth.  NULL with a one-line message in err (when err is
 * not NULL) for either reason.
 */
yajl_val tt_json_tree(const char *text, unsigned max_depth, char *err,
    size_t errlen);

#endif /* TT_JSON_H */
