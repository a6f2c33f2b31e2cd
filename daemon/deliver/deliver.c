/* deliver.c — see deliver.h.
 *
 * One job per deliver_send, with its own timer: every try starts from
 * the timer (the first after 0 ms, so the callback never runs inside
 * deliver_send), a webhook or mail try goes through the shared HTTP
 * client, and a retryable failure re-arms the timer with back-off
 * (1 s doubling to 60 s; a Retry-After up to 300 s is honoured).  The
 * job is freed in its timer's close callback (libuv habit).
 *
 * Which failures are retried, and what a final one means:
 *   webhook  2xx sent; 408, 429, 5xx and transport errors retried; any
 *            other status failed at once; retries exhausted after a
 *            transport error that may have followed the send: unknown.
 *   smtp     curl OK sent; a 5xx reply (sender, recipient or message
 *            refused), a refused login or no STARTTLS: failed at once;
 *            a 4xx reply and other errors retried; exhausted after the
 *            connection was lost mid-transfer: unknown, else failed.
 *   directory  one try; an error is failed.
 */
#include "deliver.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define RETRY_AFTER_MAX_S 300

enum job_state {
	JOB_WAITING = 0,  /* timer armed for the next try */
	JOB_INFLIGHT,     /* an HTTP/SMTP transfer is out */
	JOB_CLOSING,      /* callback made, timer closing */
};

struct deliver_job {
	struct deliver *dl;
	LIST_ENTRY(deliver_job) link;
	uv_timer_t timer;
	enum job_state state;
	enum cfg_dest_type type;
	char *name;             /* the destination's, for the log */
	char *url, *path, *ca_file, *username, *secret, *from;
	char **rcpt;            /* NULL-terminated */
	char *hdr_secret, *hdr_key; /* "Name: value" */
	bool insecure;
	bool at_most_once;      /* no retry once maybe_sent (deliver_msg) */
	int max_attempts, timeout_s, attempts;
	struct buf body;        /* JSON or the whole mail */
	struct deliver_part *files; /* directory: name + data copies */
	size_t n_files;
	uint64_t http_id;
	long status;
	bool maybe_sent;        /* the last failure may have followed the send */
	char detail[512];
	deliver_cb cb;
	void *arg;
};

struct deliver {
	uv_loop_t *loop;
	struct http_client *http;
	LIST_HEAD(, deliver_job) jobs;
	size_t n_jobs;
	bool closing;
	void (*closed_cb)(void *);
	void *closed_arg;
};

const char *deliver_outcome_name(enum deliver_outcome o)
{
	switch (o) {
	case DELIVER_SENT: return "sent";
	case DELIVER_FAILED: return "failed";
	case DELIVER_UNKNOWN: return "unknown";
	default: abort();
	}
}

int deliver_new(struct deliver **out, uv_loop_t *loop, struct http_client *http)
{
	struct deliver *dl = xcalloc(1, sizeof(*dl));
	dl->loop = loop;
	dl->http = http;
	LIST_INIT(&dl->jobs);
	*out = dl;
	return 0;
}

size_t deliver_pending(const struct deliver *dl)
{
	return dl->n_jobs;
}

static void maybe_closed(struct deliver *dl)
{
	if (!dl->closing || dl->n_jobs)
		return;
	void (*cb)(void *) = dl->closed_cb;
	void *arg = dl->closed_arg;
	free(dl);
	if (cb)
		cb(arg);
}

static void job_free(uv_handle_t *h)
{
	struct deliver_job *j = container_of((uv_timer_t *)h, struct deliver_job, timer);
	struct deliver *dl = j->dl;
	LIST_REMOVE(j, link);
	dl->n_jobs--;
	free(j->name);
	free(j->url);
	free(j->path);
	free(j->ca_file);
	free(j->username);
	if (j->secret)
		explicit_bzero(j->secret, strlen(j->secret));
	free(j->secret);
	free(j->from);
	for (char **r = j->rcpt; r && *r; r++)
		free(*r);
	free(j->rcpt);
	if (j->hdr_secret)
		explicit_bzero(j->hdr_secret, strlen(j->hdr_secret));
	free(j->hdr_secret);
	free(j->hdr_key);
	if (j->body.data)
		explicit_bzero(j->body.data, j->body.len);
	buf_free(&j->body);
	for (size_t i = 0; i < j->n_files; i++) {
		free((char *)j->files[i].filename);
		free((char *)j->files[i].data);
	}
	free(j->files);
	free(j);
	maybe_closed(dl);
}

/* The one place a job ends: its callback, then its timer closes. */
static void job_finish(struct deliver_job *j, enum deliver_outcome o)
{
	if (j->state == JOB_CLOSING)
		abort();
	j->state = JOB_CLOSING;
	uv_timer_stop(&j->timer);
	struct deliver_result r = { .outcome = o, .attempts = j->attempts, .status = j->status,
	                            .detail = j->detail };
	log_at(o == DELIVER_SENT ? LOG_LVL_DEBUG : LOG_LVL_WARN, NULL,
	       "destination '%s': %s after %d attempt(s): %s", j->name, deliver_outcome_name(o),
	       j->attempts, j->detail);
	if (j->cb)
		j->cb(&r, j->arg);
	uv_close((uv_handle_t *)&j->timer, job_free);
}

static void on_timer(uv_timer_t *t);

/* Another try after back-off, or the end when the tries are used up. */
static void job_retry(struct deliver_job *j, int64_t retry_after_s)
{
	if (j->attempts >= j->max_attempts || j->dl->closing || (j->at_most_once && j->maybe_sent)) {
		job_finish(j, j->maybe_sent ? DELIVER_UNKNOWN : DELIVER_FAILED);
		return;
	}
	int64_t ms = BACKOFF_FIRST_MS;
	for (int i = 1; i < j->attempts && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	if (retry_after_s > 0)
		ms = (retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after_s) * 1000;
	log_info("destination '%s': attempt %d of %d failed (%s); next in %lld ms", j->name,
	         j->attempts, j->max_attempts, j->detail, (long long)ms);
	j->state = JOB_WAITING;
	uv_timer_start(&j->timer, on_timer, (uint64_t)ms, 0);
}

static void on_webhook_done(const struct http_response *r, void *arg)
{
	struct deliver_job *j = arg;
	j->http_id = 0;
	j->status = r->status;
	if (r->curl_code == 0 && r->status >= 200 && r->status < 300) {
		snprintf(j->detail, sizeof(j->detail), "HTTP %ld from %s", r->status, j->url);
		job_finish(j, DELIVER_SENT);
		return;
	}
	if (r->curl_code != 0) {
		/* a connection that was never made cannot have carried the POST */
		j->maybe_sent = r->curl_code != CURLE_COULDNT_CONNECT &&
		                r->curl_code != CURLE_COULDNT_RESOLVE_HOST &&
		                !http_error_is_certificate(r->curl_code);
		snprintf(j->detail, sizeof(j->detail), "%s: %s", j->url, r->error ? r->error : "error");
		if (http_error_is_certificate(r->curl_code) || r->curl_code == CURLE_ABORTED_BY_CALLBACK)
			job_finish(j, r->curl_code == CURLE_ABORTED_BY_CALLBACK ? DELIVER_UNKNOWN :
			              DELIVER_FAILED);
		else
			job_retry(j, 0);
		return;
	}
	j->maybe_sent = false;
	snprintf(j->detail, sizeof(j->detail), "HTTP %ld from %s", r->status, j->url);
	if (r->status == 408 || r->status == 429 || r->status >= 500) {
		const char *ra = http_response_header(r, "Retry-After");
		long long s = 0;
		if (ra && ra[0] >= '0' && ra[0] <= '9')
			s = strtoll(ra, NULL, 10);
		job_retry(j, s);
	} else {
		job_finish(j, DELIVER_FAILED);
	}
}

static void on_mail_done(const struct http_response *r, void *arg)
{
	struct deliver_job *j = arg;
	j->http_id = 0;
	j->status = r->status;
	if (r->curl_code == 0) {
		snprintf(j->detail, sizeof(j->detail), "SMTP %ld from %s", r->status, j->url);
		job_finish(j, DELIVER_SENT);
		return;
	}
	snprintf(j->detail, sizeof(j->detail), "%s: %s", j->url, r->error ? r->error : "error");
	if (r->status >= 400) {
		/* the server answered no (MAIL, RCPT or DATA; RFC 5321 section
		 * 4.2.1): 5xx for good, 4xx for now — nothing was accepted */
		j->maybe_sent = false;
		if (r->status >= 500) {
			job_finish(j, DELIVER_FAILED);
			return;
		}
		job_retry(j, 0);
		return;
	}
	switch (r->curl_code) {
	case CURLE_LOGIN_DENIED:
	case CURLE_USE_SSL_FAILED:    /* no STARTTLS offered and it is required */
		j->maybe_sent = false;
		job_finish(j, DELIVER_FAILED);
		return;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		j->maybe_sent = false;
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		job_finish(j, DELIVER_UNKNOWN);
		return;
	default:
		if (http_error_is_certificate(r->curl_code)) {
			job_finish(j, DELIVER_FAILED);
			return;
		}
		/* lost while the message or its final reply was on the wire */
		j->maybe_sent = r->curl_code == CURLE_SEND_ERROR || r->curl_code == CURLE_RECV_ERROR ||
		                r->curl_code == CURLE_OPERATION_TIMEDOUT ||
		                r->curl_code == CURLE_GOT_NOTHING;
		break;
	}
	job_retry(j, 0);
}

static void try_directory(struct deliver_job *j)
{
	char err[400];
	for (size_t i = 0; i < j->n_files; i++) {
		int rc = deliver_file_write(j->path, j->files[i].filename, j->files[i].data,
		                            j->files[i].len, err, sizeof(err));
		if (rc < 0) {
			snprintf(j->detail, sizeof(j->detail), "%s", err);
			job_finish(j, DELIVER_FAILED);
			return;
		}
	}
	snprintf(j->detail, sizeof(j->detail), "%zu file(s) written to %s", j->n_files, j->path);
	job_finish(j, DELIVER_SENT);
}

static void on_timer(uv_timer_t *t)
{
	struct deliver_job *j = container_of(t, struct deliver_job, timer);
	j->attempts++;
	if (j->type == CFG_DEST_DIRECTORY) {
		try_directory(j);
		return;
	}
	const char *hdrs[4] = { "Content-Type: application/json", j->hdr_key, j->hdr_secret, NULL };
	struct http_mail mail = { .from = j->from, .rcpt = (const char *const *)j->rcpt,
	                          .username = j->username, .password = j->secret,
	                          .starttls_optional = j->insecure };
	struct http_request req = { .method = "POST", .url = j->url, .headers = hdrs,
	                            .body = j->body.data, .body_len = j->body.len,
	                            .timeout_ms = (int64_t)j->timeout_s * 1000,
	                            .ca_file = j->ca_file,
	                            .mail = j->type == CFG_DEST_SMTP ? &mail : NULL };
	j->state = JOB_INFLIGHT;
	int rc = http_send_id(j->dl->http, &req, j->type == CFG_DEST_SMTP ? on_mail_done :
	                      on_webhook_done, j, &j->http_id);
	if (rc < 0) {
		snprintf(j->detail, sizeof(j->detail), "%s: cannot start the request: %s", j->url,
		         strerror(-rc));
		j->state = JOB_WAITING;
		if (rc == -ESHUTDOWN)
			job_finish(j, j->maybe_sent ? DELIVER_UNKNOWN : DELIVER_FAILED);
		else
			job_retry(j, 0);
	}
}

static int job_payload(struct deliver_job *j, const struct cfg_destination *d,
                       const struct deliver_msg *m)
{
	switch (d->type) {
	case CFG_DEST_DIRECTORY: {
		size_t n = m->n_parts ? m->n_parts : 1;
		j->files = xcalloc(n, sizeof(*j->files));
		for (size_t i = 0; i < m->n_parts; i++) {
			j->files[i].filename = xstrdup(m->parts[i].filename);
			j->files[i].data = xstrndup(m->parts[i].data ? m->parts[i].data : "", m->parts[i].len);
			j->files[i].len = m->parts[i].len;
		}
		if (!m->n_parts) {
			const char *t = m->text ? m->text : "";
			j->files[0].filename = xasprintf("%s.md", m->id);
			j->files[0].data = xasprintf("# %s\n\n%s", m->subject, t);
			j->files[0].len = strlen(j->files[0].data);
		}
		j->n_files = n;
		return 0;
	}
	case CFG_DEST_WEBHOOK: {
		char *s = d->slack ? deliver_slack_json(m) : deliver_webhook_json(m);
		j->body.max = strlen(s) + 1;
		int rc = buf_append(&j->body, s, strlen(s));
		free(s);
		if (rc < 0)
			return -E2BIG;
		j->hdr_key = xasprintf("Idempotency-Key: %s", m->id);
		if (d->secret)
			j->hdr_secret = xasprintf("%s: %s", d->secret_header, d->secret);
		return 0;
	}
	case CFG_DEST_SMTP:
		j->body.max = (size_t)256 * 1024 * 1024;
		const char *const *to = m->to ? m->to : (const char *const *)d->to;
		size_t n_to = m->to ? m->n_to : d->n_to;
		j->rcpt = xcalloc(n_to + 1, sizeof(*j->rcpt));
		for (size_t i = 0; i < n_to; i++)
			j->rcpt[i] = xasprintf("<%s>", to[i]);
		j->from = xasprintf("<%s>", d->from);
		return deliver_mail_build(d, m, &j->body);
	default:
		abort();
	}
}

int deliver_send(struct deliver *dl, const struct cfg_destination *d,
                 const struct deliver_msg *m, deliver_cb cb, void *arg)
{
	if (dl->closing)
		return -ESHUTDOWN;
	if (!deliver_name_ok(m->id) || !m->subject || !m->subject[0] || !m->kind)
		return -EINVAL;
	for (size_t i = 0; i < m->n_parts; i++)
		if (!deliver_name_ok(m->parts[i].filename) || !m->parts[i].content_type)
			return -EINVAL;
	struct deliver_job *j = xcalloc(1, sizeof(*j));
	j->dl = dl;
	j->type = d->type;
	j->name = xstrdup(d->name);
	j->url = xstrdup(d->url);
	j->path = xstrdup(d->path);
	j->ca_file = xstrdup(d->ca_file);
	j->username = xstrdup(d->username);
	j->secret = xstrdup(d->secret);
	j->insecure = d->allow_insecure;
	j->at_most_once = m->at_most_once;
	j->max_attempts = d->max_attempts > 0 ? d->max_attempts : 1;
	j->timeout_s = d->timeout_s > 0 ? d->timeout_s : 30;
	j->cb = cb;
	j->arg = arg;
	LIST_INSERT_HEAD(&dl->jobs, j, link);
	dl->n_jobs++;
	uv_timer_init(dl->loop, &j->timer);
	int rc = job_payload(j, d, m);
	if (rc < 0) {
		j->cb = NULL; /* an error return never calls back */
		j->state = JOB_CLOSING;
		uv_close((uv_handle_t *)&j->timer, job_free);
		return rc;
	}
	j->state = JOB_WAITING;
	uv_timer_start(&j->timer, on_timer, 0, 0);
	return 0;
}

void deliver_close(struct deliver *dl, void (*closed_cb)(void *), void *arg)
{
	dl->closing = true;
	dl->closed_cb = closed_cb;
	dl->closed_arg = arg;
	struct deliver_job *j, *next;
	for (j = LIST_FIRST(&dl->jobs); j; j = next) {
		next = LIST_NEXT(j, link);
		if (j->state == JOB_INFLIGHT) {
			http_cancel(dl->http, j->http_id);   /* answers from the loop */
		} else if (j->state == JOB_WAITING) {
			snprintf(j->detail, sizeof(j->detail), "stopped before it was %s",
			         j->attempts ? "sent again" : "sent");
			job_finish(j, j->maybe_sent ? DELIVER_UNKNOWN : DELIVER_FAILED);
		}
	}
	maybe_closed(dl); /* with no job left there is no handle to wait for */
}
