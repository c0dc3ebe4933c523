/*
 * import_text: the checks an export's text goes through before it is
 * used: UTF-8 validity (PostgreSQL and jsonb refuse anything else, and a
 * NUL byte) and what a spreadsheet would take for a formula.
 */

#include <stddef.h>

#include "import_row.h"


int
tt_import_utf8(const char *s, size_t len)
{
    size_t               i, n, k;
    unsigned             c;
    const unsigned char  *p;

    p = (const unsigned char *) s;

    for (i = 0; i < len; i += n) {
        c = p[i];

        if (c == 0) {
            return 0;
        }

        if (c < 0x80) {
            n = 1;
            continue;
        }

        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            c &= 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            c &= 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            c &= 0x07;
        } else {
            return 0;
        }

        if (i + n > len) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            c = (c << 6) | (p[i + k] & 0x3F);
        }

        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)))
            || (n == 4 && (c < 0x10000 || c > 0x10FFFF)))
        {
            return 0;
        }
    }

    return 1;
}


int
tt_import_formula(const char *v)
{
    const char  *p;
    int          digits;

    if (v[0] != '=' && v[0] != '+' && v[0] != '-' && v[0] != '@') {
        return 0;
    }

    if (v[0] == '=' || v[0] == '@') {
        return 1;
    }

    /* a signed number ("-12.5", "+3e2") is data, not a formula */
    p = v + 1;
    digits = 0;

    while ((*p >= '0' && *p <= '9') || *p == '.') {
        digits += *p != '.';
        p++;
    }

    if (digits > 0 && (*p == 'e' || *p == 'E')) {
        p++;
        p += *p == '+' || *p == '-';
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }

    return digits == 0 || *p != '\0';
}
