/*
 * libFuzzer harness: the webhook body check (src/ngx_http_tracktik_json.c,
 * ngx_http_tracktik_json_check()), "is this a JSON object PostgreSQL's
 * jsonb will take?"
 *
 * The input is the body, in a buffer of exactly its size.  A recognizer
 * written here from RFC 8259 and PostgreSQL's json lexer is the
 * reference:
 *
 *   - every body the check accepts must be an object by the grammar, with
 *     PostgreSQL's whitespace (space, tab, CR, LF), nesting of at most
 *     128, no \u0000, no \u escape of an unpaired UTF-16 surrogate, and
 *     numbers numeric_in takes (at most 256 characters, exponent within
 *     +-1000): anything else would fail the INSERT, not the request;
 *   - every such body that is also valid UTF-8 must be accepted.
 *
 * Whether invalid UTF-8 in a string is accepted is left open (the check
 * may route it elsewhere), so neither direction depends on it.
 *
 * Bodies the check accepts although jsonb refuses them are allowed only
 * when ngx_http_tracktik_json_jsonb_refuses() names them (an unpaired
 * surrogate escape, a \u0000, invalid UTF-8): those are stored as dead
 * letters, never given to jsonb.  The fuzzer found, and the check now
 * refuses, \f and \v as whitespace and an unfinished string after the
 * object (yajl accepts both).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tracktik_json.h"
#include "ngx_stubs.h"


#define FUZZ_JSON_MAX_DEPTH   128
#define FUZZ_JSON_MAX_NUMBER  256
#define FUZZ_JSON_MAX_EXP     1000


typedef struct {
    const uint8_t  *p;
    const uint8_t  *last;
    ngx_uint_t      depth;
    ngx_uint_t      max_depth;
    unsigned        bad:1;        /* refused by the grammar or jsonb */
    unsigned        utf8:1;       /* a string holds invalid UTF-8 */
    unsigned        surrogate:1;  /* an unpaired surrogate escape */
    unsigned        space:1;      /* yajl's whitespace \f or \v */
    unsigned        trailing:1;   /* an unfinished token after the object */
} fuzz_json_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json_value(fuzz_json_t *j);


static void
fuzz_json_space(fuzz_json_t *j)
{
    for ( /* void */ ; j->p < j->last; j->p++) {

        if (*j->p == '\f' || *j->p == '\v') {
            j->bad = 1;                     /* yajl's, not jsonb's */
            j->space = 1;
            continue;
        }

        if (*j->p != ' ' && *j->p != '\t' && *j->p != '\n'
            && *j->p != '\r')
        {
            break;
        }
    }
}


static ngx_int_t
fuzz_json_hex4(fuzz_json_t *j, uint32_t *u)
{
    ngx_uint_t  i;
    uint8_t     c;

    *u = 0;

    if (j->last - j->p < 4) {
        return NGX_ERROR;
    }

    for (i = 0; i < 4; i++) {
        c = *j->p++;

        if (c >= '0' && c <= '9') {
            *u = *u << 4 | (c - '0');
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            *u = *u << 4 | ((c | 0x20) - 'a' + 10);
        } else {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
fuzz_json_string(fuzz_json_t *j)
{
    size_t    n;
    uint32_t  u, low;

    j->p++;                                 /* the opening quote */

    while (j->p < j->last && *j->p != '"') {

        if (*j->p < 0x20) {
            j->bad = 1;
            return;
        }

        if (*j->p >= 0x80) {
            n = fuzz_ngx_utf8(j->p, j->last);
            if (n == 0) {
                j->utf8 = 1;
                n = 1;
            }

            j->p += n;
            continue;
        }

        if (*j->p++ != '\\') {
            continue;
        }

        if (j->p == j->last) {
            j->bad = 1;
            return;
        }

        switch (*j->p++) {

        case '"': case '\\': case '/': case 'b': case 'f': case 'n':
        case 'r': case 't':
            break;

        case 'u':
            if (fuzz_json_hex4(j, &u) != NGX_OK) {
                j->bad = 1;
                return;
            }

            if (u == 0) {
                j->bad = 1;                 /* jsonb: no \u0000 */
            }

            if (u >= 0xdc00 && u <= 0xdfff) {
                j->bad = 1;                 /* a low surrogate alone */
                j->surrogate = 1;
            }

            if (u >= 0xd800 && u <= 0xdbff) {
                if (j->last - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
                {
                    j->bad = 1;             /* a high surrogate alone */
                    j->surrogate = 1;
                    break;
                }

                j->p += 2;

                if (fuzz_json_hex4(j, &low) != NGX_OK) {
                    j->bad = 1;
                    return;
                }

                if (low < 0xdc00 || low > 0xdfff) {
                    j->bad = 1;
                    j->surrogate = 1;
                }
            }

            break;

        default:
            j->bad = 1;
            return;
        }
    }

    if (j->p == j->last) {
        j->bad = 1;
        return;
    }

    j->p++;                                 /* the closing quote */
}


static void
fuzz_json_number(fuzz_json_t *j)
{
    const uint8_t  *start, *digits;
    ngx_int_t       exp;

    start = j->p;

    if (*j->p == '-') {
        j->p++;
    }

    if (j->p < j->last && *j->p == '0') {
        j->p++;

    } else if (j->p < j->last && *j->p >= '1' && *j->p <= '9') {
        while (j->p < j->last && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }

    } else {
        j->bad = 1;
        return;
    }

    if (j->p < j->last && *j->p == '.') {
        j->p++;
        digits = j->p;

        while (j->p < j->last && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }

        if (j->p == digits) {
            j->bad = 1;
            return;
        }
    }

    if (j->p < j->last && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;

        if (j->p < j->last && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }

        digits = j->p;
        exp = 0;

        while (j->p < j->last && *j->p >= '0' && *j->p <= '9') {
            if (exp <= FUZZ_JSON_MAX_EXP) {
                exp = exp * 10 + (*j->p - '0');
            }
            j->p++;
        }

        if (j->p == digits || exp > FUZZ_JSON_MAX_EXP) {
            j->bad = 1;
            return;
        }
    }

    if (j->p - start > FUZZ_JSON_MAX_NUMBER) {
        j->bad = 1;
    }
}


static void
fuzz_json_literal(fuzz_json_t *j, const char *word)
{
    size_t  len;

    len = strlen(word);

    if ((size_t) (j->last - j->p) < len || memcmp(j->p, word, len) != 0) {
        j->bad = 1;
        return;
    }

    j->p += len;
}


static void
fuzz_json_container(fuzz_json_t *j, uint8_t close)
{
    ngx_uint_t  first;

    if (++j->depth > j->max_depth) {
        j->max_depth = j->depth;
    }

    if (j->depth > FUZZ_JSON_MAX_DEPTH) {
        j->bad = 1;                         /* and stop recursing */
        return;
    }

    j->p++;
    fuzz_json_space(j);

    for (first = 1; !j->bad; first = 0) {

        if (j->p == j->last) {
            j->bad = 1;
            return;
        }

        if (*j->p == close && first) {
            j->p++;
            break;
        }

        if (close == '}') {
            if (*j->p != '"') {
                j->bad = 1;
                return;
            }

            fuzz_json_string(j);
            fuzz_json_space(j);

            if (j->bad || j->p == j->last || *j->p != ':') {
                j->bad = 1;
                return;
            }

            j->p++;
        }

        fuzz_json_value(j);
        fuzz_json_space(j);

        if (j->bad || j->p == j->last) {
            j->bad = 1;
            return;
        }

        if (*j->p == close) {
            j->p++;
            break;
        }

        if (*j->p != ',') {
            j->bad = 1;
            return;
        }

        j->p++;
        fuzz_json_space(j);
    }

    j->depth--;
}


static void
fuzz_json_value(fuzz_json_t *j)
{
    fuzz_json_space(j);

    if (j->p == j->last) {
        j->bad = 1;
        return;
    }

    switch (*j->p) {

    case '{':
        fuzz_json_container(j, '}');
        break;

    case '[':
        fuzz_json_container(j, ']');
        break;

    case '"':
        fuzz_json_string(j);
        break;

    case 't':
        fuzz_json_literal(j, "true");
        break;

    case 'f':
        fuzz_json_literal(j, "false");
        break;

    case 'n':
        fuzz_json_literal(j, "null");
        break;

    default:
        fuzz_json_number(j);
    }
}


/* trailing bytes that open a string and never close it */

static ngx_uint_t
fuzz_json_unfinished(fuzz_json_t *j)
{
    const uint8_t  *p;

    if (*j->p != '"') {
        return 0;
    }

    for (p = j->p + 1; p < j->last; p++) {
        if (*p == '"') {
            return 0;
        }

        if (*p == '\\') {
            p++;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char       *copy;
    ngx_str_t     body;
    fuzz_json_t   j;
    const char   *error, *refuses;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);
    body.data = copy;
    body.len = size;

    error = ngx_http_tracktik_json_check(&body);

    if (body.data != copy || body.len != size || memcmp(copy, data, size)) {
        abort();                            /* the check changed the body */
    }

    ngx_memzero(&j, sizeof(fuzz_json_t));
    j.p = data;
    j.last = data + size;

    fuzz_json_space(&j);

    if (j.p == j.last || *j.p != '{') {
        j.bad = 1;

    } else {
        fuzz_json_value(&j);
        fuzz_json_space(&j);

        if (j.p != j.last) {
            j.trailing = !j.bad && fuzz_json_unfinished(&j);
            j.bad = 1;                      /* trailing bytes */
        }
    }

    refuses = error == NULL ? ngx_http_tracktik_json_jsonb_refuses(&body)
                            : NULL;

    if (error == NULL && refuses == NULL && j.bad) {
        fprintf(stderr, "accepted a body jsonb refuses, not named a dead "
                "letter\n");
        abort();
    }

    if (error != NULL && !j.bad && !j.utf8) {
        fprintf(stderr, "refused a jsonb object: %s\n", error);
        abort();
    }

    free(copy);

    return 0;
}
