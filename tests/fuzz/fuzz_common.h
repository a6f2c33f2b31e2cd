/* fuzz_common.h — shared by the libFuzzer targets in tests/fuzz/: the
 * input as a NUL-terminated heap string, as a temporary file (for the
 * parsers that read a path), and as the header lines and body of an HTTP
 * answer.  Only the fuzz targets include it (built by `make fuzz`). */
#ifndef CLOSELOOP_FUZZ_COMMON_H
#define CLOSELOOP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a heap C string (an embedded NUL ends it, as it would for the
 * parsers, which take C strings). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* data written to one temporary file per process, rewritten for each
 * input; returns its path. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
	static char path[64];
	if (!path[0]) {
		snprintf(path, sizeof(path), "/tmp/closeloop-fuzz-%ld%s", (long)getpid(), suffix);
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	return path;
}

/* An HTTP answer made from the input: the lines before the first empty
 * line are headers ("Name: value"; lines without a colon are skipped),
 * the rest is the body.  fuzz_response_free releases it. */
static inline void fuzz_response(const uint8_t *data, size_t size, long status,
                                 struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = status;
	size_t i = 0, cap = 0;
	while (i < size) {
		size_t e = i;
		while (e < size && data[e] != '\n')
			e++;
		size_t len = e - i;
		if (len && data[e - 1] == '\r')
			len--;
		if (len == 0) {
			i = e + 1;
			break;
		}
		const uint8_t *colon = memchr(data + i, ':', len);
		if (colon) {
			if (r->n_headers == cap) {
				cap = cap ? cap * 2 : 8;
				r->headers = realloc(r->headers, cap * sizeof(*r->headers));
				if (!r->headers)
					abort();
			}
			size_t nl = (size_t)(colon - (data + i)), vo = nl + 1;
			while (vo < len && (data[i + vo] == ' ' || data[i + vo] == '\t'))
				vo++;
			r->headers[r->n_headers].name = fuzz_str(data + i, nl);
			r->headers[r->n_headers].value = fuzz_str(data + i + vo, len - vo);
			r->n_headers++;
		}
		i = e + 1;
	}
	if (i > size)
		i = size;
	r->body = fuzz_str(data + i, size - i);
	r->body_len = size - i;
}

static inline void fuzz_response_free(struct http_response *r)
{
	for (size_t k = 0; k < r->n_headers; k++) {
		free(r->headers[k].name);
		free(r->headers[k].value);
	}
	free(r->headers);
	free(r->body);
}

#endif
