/* url.h — URLs read through libcurl's URL API (curl_url(3): RFC 3986 as
 * libcurl parses it, the parser every request of ours goes through), so
 * that what the configuration accepts, what a connector compares and what
 * the importer reads in a postmortem agree with what libcurl would send.
 */
#ifndef CLOSELOOP_URL_H
#define CLOSELOOP_URL_H

#include <stddef.h>
#include "util.h"

/* NULL when url is an absolute http:// or https:// URL that libcurl
 * parses, with a host; otherwise a static phrase saying why not: "not an
 * http:// or https:// URL", "no host after the scheme's //", or libcurl's
 * own reason (curl_url_strerror: "Bad hostname", "Port number was not a
 * decimal number between 0 and 65535", ...). */
const char *url_http_problem(const char *url);

/* "host[:port]" of an absolute http(s) url, the host in lower case (host
 * names are case-insensitive, RFC 3986 3.2.2), an IPv6 address in
 * brackets, the port only when the URL gives one other than its scheme's
 * default (80, 443), no user or password: how a browser writes the
 * address of a page of that server.  NULL when url_http_problem(url)
 * names a problem.  The caller frees the result. */
char *url_authority(const char *url) MUST_CHECK;

/* One name or value of application/x-www-form-urlencoded text (a URL's
 * query string; WHATWG URL Standard, "application/x-www-form-urlencoded
 * parsing"): the n bytes at s with '+' read as a space, then %XX (either
 * case) as the byte, by curl_easy_unescape(3); a '%' not followed by two
 * hex digits stays as it is.  NULL when the decoded bytes hold a NUL,
 * which no C string carries.  The caller frees the result. */
char *url_form_decode(const char *s, size_t n) MUST_CHECK;

#endif
