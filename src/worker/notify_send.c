/*
 * notify_send: SMTP and signed webhooks over libcurl (notify_send.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "notify_send.h"


typedef struct {
    const char  *data;
    size_t       len;
    size_t       off;
} tt_notify_upload_t;


static size_t tt_notify_read(char *buf, size_t size, size_t n, void *ctx);
static size_t tt_notify_discard(char *buf, size_t size, size_t n,
    void *ctx);
static void tt_notify_outcome(CURL *curl, CURLcode rc, const char *ebuf,
    int smtp, struct timespec *start, tt_notify_outcome_t *out);


void
tt_notify_smtp_send(tt_notify_channel_t *ch, const char *to,
    const char *message, tt_notify_outcome_t *out)
{
    char                ebuf[CURL_ERROR_SIZE], rcpt[512];
    CURL               *curl;
    CURLcode            rc;
    struct timespec     start;
    tt_notify_upload_t  up;
    struct curl_slist  *rcpts;

    memset(out, 0, sizeof(*out));
    clock_gettime(CLOCK_MONOTONIC, &start);

    curl = ch->smtp_handle;
    if (curl == NULL) {
        curl = curl_easy_init();
        if (curl == NULL) {
            snprintf(out->status, sizeof(out->status), "error");
            snprintf(out->detail, sizeof(out->detail),
                     "curl_easy_init failed");
            return;
        }
        ch->smtp_handle = curl;
    }

    snprintf(rcpt, sizeof(rcpt), "<%s>", to);
    rcpts = curl_slist_append(NULL, rcpt);

    up.data = message;
    up.len = strlen(message);
    up.off = 0;
    ebuf[0] = '\0';

    curl_easy_setopt(curl, CURLOPT_URL, ch->smtp_url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, ch->smtp_from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, tt_notify_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, ch->timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);

    /* a relay off this host is reached over TLS or not at all */
    curl_easy_setopt(curl, CURLOPT_USE_SSL,
                     tt_notify_url_loopback(ch->smtp_url)
                     ? (long) CURLUSESSL_TRY : (long) CURLUSESSL_ALL);

    if (ch->smtp_user != NULL) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, ch->smtp_user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, ch->smtp_password);
    }

    rc = curl_easy_perform(curl);

    tt_notify_outcome(curl, rc, ebuf, 1, &start, out);

    /* the handle keeps its connection; not the list it points to */
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, NULL);
    curl_easy_setopt(curl, CURLOPT_READDATA, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(rcpts);

    if (rc != CURLE_OK) {
        /* a failed transaction may leave the session half way */
        tt_notify_channel_close(ch);
    }
}


void
tt_notify_channel_close(tt_notify_channel_t *ch)
{
    if (ch->smtp_handle != NULL) {
        curl_easy_cleanup(ch->smtp_handle);
        ch->smtp_handle = NULL;
    }
}


void
tt_notify_webhook_send(const tt_notify_channel_t *ch, const char *url,
    const char *id, const char *body, char **secrets, size_t nsecrets,
    tt_notify_outcome_t *out)
{
    char                ebuf[CURL_ERROR_SIZE], line[4096], sig[128];
    size_t              i, used;
    CURL               *curl;
    CURLcode            rc;
    long long           now;
    struct timespec     start;
    struct curl_slist  *headers;

    memset(out, 0, sizeof(*out));
    clock_gettime(CLOCK_MONOTONIC, &start);
    now = (long long) time(NULL);

    used = (size_t) snprintf(line, sizeof(line), "webhook-signature:");

    for (i = 0; i < nsecrets; i++) {
        if (tt_notify_webhook_signature(secrets[i], id, now, body, sig,
                                        sizeof(sig)) != 0
            || used + strlen(sig) + 2 >= sizeof(line))
        {
            snprintf(out->status, sizeof(out->status), "error");
            snprintf(out->detail, sizeof(out->detail), "secret %zu of the "
                     "endpoint cannot sign", i + 1);
            return;
        }
        used += (size_t) snprintf(line + used, sizeof(line) - used, " %s",
                                  sig);
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(out->status, sizeof(out->status), "error");
        snprintf(out->detail, sizeof(out->detail), "curl_easy_init failed");
        return;
    }

    headers = curl_slist_append(NULL, "content-type: application/json");
    headers = curl_slist_append(headers, line);
    snprintf(line, sizeof(line), "webhook-id: %s", id);
    headers = curl_slist_append(headers, line);
    snprintf(line, sizeof(line), "webhook-timestamp: %lld", now);
    headers = curl_slist_append(headers, line);
    headers = curl_slist_append(headers, "expect:");

    ebuf[0] = '\0';

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, tt_notify_discard);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, ch->timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);

    rc = curl_easy_perform(curl);

    tt_notify_outcome(curl, rc, ebuf, 0, &start, out);

    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}


int
tt_notify_webhook_signature(const char *secret, const char *id,
    long long timestamp, const char *body, char *sig, size_t siglen)
{
    int            n, ok;
    char           prefix[128], *signed_text;
    size_t         len, blen;
    unsigned int   maclen;
    unsigned char  key[96], mac[EVP_MAX_MD_SIZE], b64[96];

    if (strncmp(secret, "whsec_", 6) != 0 || strlen(secret + 6) > 128) {
        return -1;
    }

    n = EVP_DecodeBlock(key, (const unsigned char *) secret + 6,
                        (int) strlen(secret + 6));
    if (n < 0) {
        return -1;
    }

    /* EVP_DecodeBlock counts the padding as bytes */
    len = (size_t) n;
    if (strlen(secret) > 6 && secret[strlen(secret) - 1] == '=') {
        len--;
        if (secret[strlen(secret) - 2] == '=') {
            len--;
        }
    }

    /* signed content: id.timestamp.body */
    n = snprintf(prefix, sizeof(prefix), "%s.%lld.", id, timestamp);
    blen = strlen(body);
    signed_text = malloc((size_t) n + blen);

    if (signed_text == NULL) {
        memset(key, 0, sizeof(key));
        return -1;
    }

    memcpy(signed_text, prefix, (size_t) n);
    memcpy(signed_text + n, body, blen);

    ok = HMAC(EVP_sha256(), key, (int) len,
              (const unsigned char *) signed_text, (size_t) n + blen, mac,
              &maclen) != NULL;

    free(signed_text);
    memset(key, 0, sizeof(key));

    if (!ok) {
        return -1;
    }

    EVP_EncodeBlock(b64, mac, (int) maclen);
    snprintf(sig, siglen, "v1,%s", b64);

    return 0;
}


int
tt_notify_url_loopback(const char *url)
{
    size_t       n;
    const char  *host, *end;

    host = strstr(url, "://");
    if (host == NULL) {
        return 0;
    }
    host += 3;

    if (host[0] == '[') {
        return strncmp(host, "[::1]", 5) == 0;
    }

    end = host + strcspn(host, ":/");
    n = (size_t) (end - host);

    return (n == 9 && strncasecmp(host, "localhost", 9) == 0)
           || strncmp(host, "127.", 4) == 0;
}


static size_t
tt_notify_read(char *buf, size_t size, size_t n, void *ctx)
{
    size_t               left;
    tt_notify_upload_t  *up = ctx;

    left = up->len - up->off;
    if (left > size * n) {
        left = size * n;
    }

    memcpy(buf, up->data + up->off, left);
    up->off += left;

    return left;
}


static size_t
tt_notify_discard(char *buf, size_t size, size_t n, void *ctx)
{
    (void) buf;
    (void) ctx;

    return size * n;
}


static void
tt_notify_outcome(CURL *curl, CURLcode rc, const char *ebuf, int smtp,
    struct timespec *start, tt_notify_outcome_t *out)
{
    long             code;
    struct timespec  end;

    clock_gettime(CLOCK_MONOTONIC, &end);
    out->duration_ms = (int) ((end.tv_sec - start->tv_sec) * 1000
                              + (end.tv_nsec - start->tv_nsec) / 1000000);

    code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);

    if (code > 0) {
        snprintf(out->status, sizeof(out->status), "%ld", code);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(out->status, sizeof(out->status), "timeout");
    } else if (rc == CURLE_COULDNT_CONNECT) {
        snprintf(out->status, sizeof(out->status), "connect");
    } else {
        snprintf(out->status, sizeof(out->status), "error");
    }

    if (smtp) {
        out->ok = rc == CURLE_OK;
    } else {
        out->ok = rc == CURLE_OK && code >= 200 && code < 300;
    }

    if (rc != CURLE_OK) {
        snprintf(out->detail, sizeof(out->detail), "%s",
                 ebuf[0] ? ebuf : curl_easy_strerror(rc));
    } else {
        snprintf(out->detail, sizeof(out->detail), "%s",
                 out->ok ? (smtp ? "accepted" : "delivered")
                 : "the endpoint refused it");
    }
}
