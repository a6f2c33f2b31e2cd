/* url.c — see url.h. */
#include "url.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/* The parsed URL in *out (curl_url_cleanup it), or the reason it is not
 * an absolute http(s) URL with a host. */
static const char *parse_http(const char *url, CURLU **out)
{
	*out = NULL;
	const char *sep = strstr(url, "://");
	if (!sep || (!str_istarts(url, "http://") && !str_istarts(url, "https://")))
		return "not an http:// or https:// URL";
	if (sep[3] == '/')
		return "no host after the scheme's //"; /* libcurl would take the path's first word */
	CURLU *u = curl_url();
	if (!u)
		abort(); /* out of memory */
	CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK) {
		curl_url_cleanup(u);
		return curl_url_strerror(rc);
	}
	*out = u;
	return NULL;
}

const char *url_http_problem(const char *url)
{
	CURLU *u = NULL;
	const char *why = parse_http(url, &u);
	curl_url_cleanup(u);
	return why;
}

char *url_authority(const char *url)
{
	CURLU *u = NULL;
	char *host = NULL, *port = NULL, *out = NULL;
	if (parse_http(url, &u) != NULL)
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
		port = NULL; /* CURLUE_NO_PORT: none given, or the default */
	out = port ? xasprintf("%s:%s", host, port) : xstrdup(host);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
out:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

char *url_form_decode(const char *s, size_t n)
{
	char *plus = xstrndup(s, n), *out = NULL;
	for (char *p = plus; *p; p++)
		if (*p == '+')
			*p = ' ';
	int len = 0;
	char *d = curl_easy_unescape(NULL, plus, (int)strlen(plus), &len);
	if (!d)
		abort(); /* out of memory */
	if (strlen(d) == (size_t)len)
		out = xstrdup(d);
	curl_free(d);
	free(plus);
	return out;
}
