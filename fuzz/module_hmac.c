/*
 * libFuzzer harness: the webhook's signature primitives
 * (src/ngx_http_tracktik_hmac.c), compiled against the nginx tree's
 * headers like the module itself: the example of a module-side harness
 * (fuzz/README).
 *
 * Input: one byte choosing the digest, then a key up to the first NUL,
 * then the signed parts separated by newlines (at most 4, as the
 * Standard Webhooks "id.timestamp.body" form uses 3).  The HMAC must
 * equal OpenSSL's one-shot HMAC() of the parts joined; hex decoding of
 * the whole input must accept exactly the hex digits and round-trip.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_tracktik_hmac.h"


#define FUZZ_MAX_PARTS  4


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_hex(const uint8_t *data, size_t size)
{
    u_char      *dst, *hex;
    size_t       i, len;
    ngx_str_t    src;
    ngx_uint_t   valid;

    len = size & ~(size_t) 1;           /* callers pass even lengths */

    dst = malloc(len / 2 + 1);
    hex = malloc(len + 1);
    if (dst == NULL || hex == NULL) {
        goto done;
    }

    src.data = (u_char *) data;
    src.len = len;

    valid = 1;
    for (i = 0; i < len; i++) {
        if (!isxdigit(data[i])) {
            valid = 0;
        }
    }

    if ((ngx_http_tracktik_hex_decode(dst, &src) == NGX_OK) != valid) {
        abort();                        /* accepted a non-hex byte */
    }

    if (valid) {
        ngx_hex_dump(hex, dst, len / 2);
        if (ngx_strncasecmp(hex, (u_char *) data, len) != 0) {
            abort();                    /* decoded to other bytes */
        }
    }

done:

    free(dst);
    free(hex);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char         *end, *p, *nl, *joined;
    size_t          len, want_len;
    ngx_str_t       key, parts[FUZZ_MAX_PARTS];
    ngx_uint_t      n;
    const char     *digest;
    const EVP_MD   *md;
    u_char          out[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
    unsigned int    wl;

    fuzz_hex(data, size);

    if (size < 1) {
        return 0;
    }

    digest = (data[0] & 1) ? "SHA512" : "SHA256";
    md = (data[0] & 1) ? EVP_sha512() : EVP_sha256();

    p = (u_char *) data + 1;
    end = (u_char *) data + size;

    nl = memchr(p, '\0', end - p);
    key.data = p;
    key.len = (nl ? nl : end) - p;
    p = nl ? nl + 1 : end;

    joined = malloc(end - p + 1);
    if (joined == NULL) {
        return 0;
    }

    want_len = 0;
    for (n = 0; n < FUZZ_MAX_PARTS && p < end; n++) {
        nl = (n < FUZZ_MAX_PARTS - 1) ? memchr(p, '\n', end - p) : NULL;
        parts[n].data = p;
        parts[n].len = (nl ? nl : end) - p;
        memcpy(joined + want_len, parts[n].data, parts[n].len);
        want_len += parts[n].len;
        p = nl ? nl + 1 : end;
    }

    len = 0;
    if (ngx_http_tracktik_hmac(digest, &key, parts, n, out, &len) != NGX_OK) {
        abort();                        /* HMAC never fails on any input */
    }

    wl = 0;
    if (HMAC(md, key.len ? key.data : (u_char *) "", (int) key.len,
             joined, want_len, want, &wl) == NULL
        || wl != len || memcmp(out, want, len) != 0)
    {
        abort();                        /* a different MAC than OpenSSL's */
    }

    free(joined);

    return 0;
}
