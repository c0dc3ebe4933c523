/*
 * notify_mail: what a notification says.  The incident is the item JSON
 * notify_claim() returns (the portal's item plus the fields a client
 * sees: never a confidential or adminOnly one), so a mail or a webhook
 * can carry nothing the portal would not show.
 */

#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "tt_json.h"
#include "rules.h"
#include "notify_mail.h"


static void tt_notify_headers(FILE *f, const tt_notify_note_t *note,
    const char *from, const char *portal_url, const char *subject);
static char *tt_notify_digest_mail(const tt_notify_note_t *note,
    yajl_val digest, const char *from, const char *portal_url);
static void tt_notify_field(FILE *f, int html, const char *in_html,
    const char *plain);
static void tt_notify_value(FILE *f, int html, const char *s);
static const char *tt_notify_text(yajl_val item, const char *key,
    const char *sub);
static void tt_notify_header_text(FILE *f, const char *s);
static void tt_notify_html(FILE *f, const char *s);
static void tt_notify_plain(FILE *f, const char *s);


char *
tt_notify_mail(const tt_notify_note_t *note, const char *from,
    const char *portal_url, char *err, size_t errlen)
{
    char         subject[512], *msg;
    size_t       i, len;
    FILE        *f;
    yajl_val     item, fields, fv;
    const char  *sev, *site, *cat, *tmpl, *at, *zone, *raised;

    item = tt_json_tree(note->item, TT_JSON_MAX_DEPTH, err, errlen);
    if (item == NULL) {
        return NULL;
    }

    sev = tt_notify_text(item, "severity", NULL);
    site = tt_notify_text(item, "site", "name");
    cat = tt_notify_text(item, "category", NULL);
    tmpl = tt_notify_text(item, "template", NULL);
    at = tt_notify_text(item, "occurred_at", NULL);
    zone = tt_notify_text(item, "time_zone", NULL);
    fields = tt_rule_get(item, "fields");

    raised = strncmp(note->announce, "severity_raised:", 16) == 0
             ? note->announce + 16 : NULL;

    if (raised != NULL) {
        snprintf(subject, sizeof(subject), "Severity raised to %s: "
                 "incident %lld at %s", raised, note->report_id, site);
    } else {
        snprintf(subject, sizeof(subject), "%s%s%s incident %lld at %s",
                 sev[0] ? "[" : "", sev, sev[0] ? "]" : "",
                 note->report_id, site);
    }

    if (strncmp(note->announce, "digest:", 7) == 0) {
        msg = tt_notify_digest_mail(note, item, from, portal_url);
        yajl_tree_free(item);
        if (msg == NULL) {
            snprintf(err, errlen, "out of memory");
        }
        return msg;
    }

    msg = NULL;
    f = open_memstream(&msg, &len);
    if (f == NULL) {
        yajl_tree_free(item);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    tt_notify_headers(f, note, from, portal_url, subject);

    /* the plain text part */
    fprintf(f, "--tt-%lld-part\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n", note->id);
    tt_notify_plain(f, subject);
    fprintf(f, "\r\n\r\nIncident: %lld\r\nSite: ", note->report_id);
    tt_notify_plain(f, site);
    fprintf(f, "\r\nSeverity: ");
    tt_notify_plain(f, sev);
    fprintf(f, "\r\nCategory: ");
    tt_notify_plain(f, cat);
    fprintf(f, "\r\nReport: ");
    tt_notify_plain(f, tmpl);
    fprintf(f, "\r\nOccurred: %s (%s)\r\n", at, zone);

    for (i = 0; fields != NULL && YAJL_IS_ARRAY(fields)
                && i < fields->u.array.len; i++)
    {
        fv = fields->u.array.values[i];
        tt_notify_plain(f, tt_notify_text(fv, "label", NULL));
        fprintf(f, ": ");
        tt_notify_plain(f, tt_notify_text(fv, "value", NULL));
        fprintf(f, "\r\n");
    }

    fprintf(f, "\r\nOpen it in the portal: %s#incident=%lld\r\n"
            "\r\nStop these messages: %snotify/unsubscribe?token=%s\r\n\r\n",
            portal_url, note->report_id, portal_url, note->unsubscribe);

    /* the HTML part */
    fprintf(f, "--tt-%lld-part\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "<!DOCTYPE html>\r\n<html><body>\r\n<h1>", note->id);
    tt_notify_html(f, subject);
    fprintf(f, "</h1>\r\n<table>\r\n<tr><th>Incident</th><td>%lld</td></tr>"
            "\r\n<tr><th>Site</th><td>", note->report_id);
    tt_notify_html(f, site);
    fprintf(f, "</td></tr>\r\n<tr><th>Severity</th><td>");
    tt_notify_html(f, sev);
    fprintf(f, "</td></tr>\r\n<tr><th>Category</th><td>");
    tt_notify_html(f, cat);
    fprintf(f, "</td></tr>\r\n<tr><th>Report</th><td>");
    tt_notify_html(f, tmpl);
    fprintf(f, "</td></tr>\r\n<tr><th>Occurred</th><td>");
    tt_notify_html(f, at);
    fprintf(f, "</td></tr>\r\n");

    for (i = 0; fields != NULL && YAJL_IS_ARRAY(fields)
                && i < fields->u.array.len; i++)
    {
        fv = fields->u.array.values[i];
        fprintf(f, "<tr><th>");
        tt_notify_html(f, tt_notify_text(fv, "label", NULL));
        fprintf(f, "</th><td>");
        tt_notify_html(f, tt_notify_text(fv, "value", NULL));
        fprintf(f, "</td></tr>\r\n");
    }

    fprintf(f, "</table>\r\n<p><a href=\"%s#incident=%lld\">Open it in the "
            "portal</a></p>\r\n<p><a href=\"%snotify/unsubscribe?token=%s\">"
            "Stop these messages</a></p>\r\n</body></html>\r\n"
            "--tt-%lld-part--\r\n",
            portal_url, note->report_id, portal_url, note->unsubscribe,
            note->id);

    yajl_tree_free(item);

    if (fclose(f) != 0 || msg == NULL) {
        free(msg);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    return msg;
}


char *
tt_notify_webhook_body(const tt_notify_note_t *note)
{
    int    n;
    char  *body;

    n = asprintf(&body, "{\"type\":\"%s\",\"announce\":\"%s\","
                 "\"timestamp\":%lld,\"data\":%s}",
                 strncmp(note->announce, "severity_raised:", 16) == 0
                 ? "incident.severity_raised"
                 : strncmp(note->announce, "digest:", 7) == 0
                 ? "digest" : "incident.new", note->announce,
                 (long long) time(NULL), note->item);

    return n < 0 ? NULL : body;
}


/* From, To, Subject, Date, Message-ID, List-Unsubscribe and the
 * multipart Content-Type, then the blank line */
static void
tt_notify_headers(FILE *f, const tt_notify_note_t *note, const char *from,
    const char *portal_url, const char *subject)
{
    char         date[64];
    time_t       now;
    struct tm    tm;
    const char  *domain;

    domain = strchr(from, '@');
    domain = domain != NULL ? domain + 1 : "localhost";

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

    fprintf(f, "From: %s\r\nTo: %s\r\nSubject: ", from, note->address);
    tt_notify_header_text(f, subject);
    fprintf(f, "\r\nDate: %s\r\n"
            "Message-ID: <tracktik-notification-%lld@%s>\r\n"
            "MIME-Version: 1.0\r\n"
            "List-Unsubscribe: <%snotify/unsubscribe?token=%s>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            "Content-Type: multipart/alternative; "
            "boundary=\"tt-%lld-part\"\r\n\r\n",
            date, note->id, domain, portal_url, note->unsubscribe,
            note->id);
}


/* a digest: counts per site and severity, then the incidents */
static char *
tt_notify_digest_mail(const tt_notify_note_t *note, yajl_val digest,
    const char *from, const char *portal_url)
{
    int          html;
    char         subject[256], *msg;
    size_t       i, len;
    FILE        *f;
    yajl_val     list, x;
    const char  *total, *end, *zone;

    total = tt_notify_text(digest, "total", NULL);
    end = tt_notify_text(digest, "period_end", NULL);
    zone = tt_notify_text(digest, "time_zone", NULL);

    snprintf(subject, sizeof(subject), "Digest: %s incident%s up to %s "
             "(%s)", total, strcmp(total, "1") == 0 ? "" : "s", end, zone);

    msg = NULL;
    f = open_memstream(&msg, &len);
    if (f == NULL) {
        return NULL;
    }

    tt_notify_headers(f, note, from, portal_url, subject);

    for (html = 0; html < 2; html++) {
        fprintf(f, "--tt-%lld-part\r\nContent-Type: text/%s; "
                "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
                note->id, html ? "html" : "plain");

        if (html) {
            fprintf(f, "<!DOCTYPE html>\r\n<html><body>\r\n<h1>");
            tt_notify_html(f, subject);
            fprintf(f, "</h1>\r\n<table>\r\n<tr><th>Site</th>"
                    "<th>Severity</th><th>Incidents</th></tr>\r\n");
        } else {
            tt_notify_plain(f, subject);
            fprintf(f, "\r\n\r\nPer site and severity:\r\n");
        }

        list = tt_rule_get(digest, "counts");
        for (i = 0; list != NULL && YAJL_IS_ARRAY(list)
                    && i < list->u.array.len; i++)
        {
            x = list->u.array.values[i];
            tt_notify_field(f, html, "<tr><td>", "  ");
            tt_notify_value(f, html, tt_notify_text(x, "site", NULL));
            tt_notify_field(f, html, "</td><td>", " / ");
            tt_notify_value(f, html, tt_notify_text(x, "severity", NULL));
            tt_notify_field(f, html, "</td><td>", ": ");
            tt_notify_value(f, html, tt_notify_text(x, "count", NULL));
            tt_notify_field(f, html, "</td></tr>\r\n", "\r\n");
        }

        tt_notify_field(f, html, "</table>\r\n<ul>\r\n",
                        "\r\nIncidents:\r\n");

        list = tt_rule_get(digest, "incidents");
        for (i = 0; list != NULL && YAJL_IS_ARRAY(list)
                    && i < list->u.array.len; i++)
        {
            x = list->u.array.values[i];
            if (html) {
                fprintf(f, "<li><a href=\"%s#incident=%s\">", portal_url,
                        tt_notify_text(x, "id", NULL));
            } else {
                fprintf(f, "  ");
            }
            tt_notify_value(f, html, tt_notify_text(x, "local_time", NULL));
            fprintf(f, " #%s ", tt_notify_text(x, "id", NULL));
            tt_notify_value(f, html, tt_notify_text(x, "severity", NULL));
            fprintf(f, " ");
            tt_notify_value(f, html, tt_notify_text(x, "site", "name"));
            fprintf(f, " ");
            tt_notify_value(f, html, tt_notify_text(x, "category", NULL));
            if (html) {
                fprintf(f, "</a></li>\r\n");
            } else {
                fprintf(f, " %s#incident=%s\r\n", portal_url,
                        tt_notify_text(x, "id", NULL));
            }
        }

        if (html) {
            fprintf(f, "</ul>\r\n<p><a href=\"%snotify/unsubscribe?"
                    "token=%s\">Stop these messages</a></p>\r\n"
                    "</body></html>\r\n", portal_url, note->unsubscribe);
        } else {
            fprintf(f, "\r\nStop these messages: %snotify/unsubscribe?"
                    "token=%s\r\n\r\n", portal_url, note->unsubscribe);
        }
    }

    fprintf(f, "--tt-%lld-part--\r\n", note->id);

    if (fclose(f) != 0) {
        free(msg);
        return NULL;
    }

    return msg;
}


static void
tt_notify_field(FILE *f, int html, const char *in_html, const char *plain)
{
    fputs(html ? in_html : plain, f);
}


static void
tt_notify_value(FILE *f, int html, const char *s)
{
    if (html) {
        tt_notify_html(f, s);
    } else {
        tt_notify_plain(f, s);
    }
}


/* item.key (or item.key.sub) as text: "" when absent or not a scalar */
static const char *
tt_notify_text(yajl_val item, const char *key, const char *sub)
{
    yajl_val  v;

    v = tt_rule_get(item, key);
    if (sub != NULL) {
        v = tt_rule_get(v, sub);
    }

    if (v == NULL) {
        return "";
    }

    if (YAJL_IS_STRING(v)) {
        return v->u.string;
    }

    if (YAJL_IS_NUMBER(v)) {
        return YAJL_GET_NUMBER(v);
    }

    return "";
}


/* a header value: ASCII as it is (controls dropped), else RFC 2047 */
static void
tt_notify_header_text(FILE *f, const char *s)
{
    int                   ascii;
    size_t                len;
    unsigned char        *b64;
    const unsigned char  *p;

    ascii = 1;
    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        if (*p >= 0x80) {
            ascii = 0;
        }
    }

    if (ascii) {
        for (p = (const unsigned char *) s; *p != '\0'; p++) {
            if (*p >= 0x20 && *p != 0x7f) {
                fputc(*p, f);
            }
        }
        return;
    }

    len = strlen(s);
    b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64 == NULL) {
        return;
    }

    EVP_EncodeBlock(b64, (const unsigned char *) s, (int) len);
    fprintf(f, "=?UTF-8?B?%s?=", b64);
    free(b64);
}


/* body text: line breaks become spaces, at most 500 bytes a value (SMTP
 * lines stay far under 998) */
static void
tt_notify_plain(FILE *f, const char *s)
{
    size_t  i;

    for (i = 0; s[i] != '\0' && i < 500; i++) {
        fputc(s[i] == '\r' || s[i] == '\n' || s[i] == '\t' ? ' ' : s[i], f);
    }
}


static void
tt_notify_html(FILE *f, const char *s)
{
    size_t  i;

    for (i = 0; s[i] != '\0' && i < 500; i++) {
        switch (s[i]) {
        case '<':  fputs("&lt;", f);   break;
        case '>':  fputs("&gt;", f);   break;
        case '&':  fputs("&amp;", f);  break;
        case '"':  fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f);  break;
        case '\r': case '\n': fputc(' ', f); break;
        default:   fputc(s[i], f);
        }
    }
}
