/* deliver.h — send a document or a message to a configured destination
 * (config.h struct cfg_destination, option list `destinations`):
 *
 *   directory  each part as a file in the folder, written atomically (a
 *              temporary file in the same folder, fsync, rename, mode 0640);
 *   webhook    one HTTP POST of a JSON document (shape below) through the
 *              daemon's shared libcurl client (daemon/net/http.h), the secret
 *              in the configured header, retried with back-off;
 *   smtp       one mail (RFC 5322 with Date and Message-ID; MIME multipart,
 *              RFC 2045/2046: the text, then each part as an attachment)
 *              through libcurl's SMTP on the same client: smtp:// with
 *              STARTTLS required, or smtps://; AUTH with username and the
 *              secret as password; retried with back-off.
 *
 * Secrets are registered with log_add_secret() by the configuration and
 * never appear in a log line or a result's detail.
 *
 * Webhook JSON (Content-Type: application/json; Idempotency-Key: the id):
 *   {"kind": "quarterly-report", "id": "...", "platform": "payments"|null,
 *    "subject": "...", "text": "...",      (text: the body, Markdown)
 *    "attachments": [{"filename": "...", "content_type": "...",
 *                     "content": "..."}]}    (content as UTF-8 text)
 * "text" is also what chat webhooks (Slack, Mattermost, Teams' incoming
 * webhooks) show; "blocks" (the message's Block Kit blocks) is added when
 * the message has them.
 * With format = "slack" the document is only {"text": ..., "blocks": [...]}
 * (Slack's incoming webhook payload, "Sending messages using incoming
 * webhooks"; Mattermost accepts the same), without the fields above.
 */
#ifndef CLOSELOOP_DELIVER_H
#define CLOSELOOP_DELIVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "config.h"
#include "http.h"
#include "util.h"

enum deliver_outcome {
	DELIVER_SENT = 0,   /* written / accepted (2xx, SMTP 250) */
	DELIVER_FAILED,     /* certainly not delivered: refused, or never reached */
	DELIVER_UNKNOWN,    /* the answer was lost after the message went out:
	                       it may have been delivered */
};
const char *deliver_outcome_name(enum deliver_outcome o);  /* "sent", "failed", "unknown" */

struct deliver_part {
	const char *filename;      /* [A-Za-z0-9._-]+, not starting with '.' */
	const char *content_type;  /* "text/html; charset=utf-8" */
	const char *data;
	size_t len;
};

struct deliver_msg {
	const char *id;        /* stable, [A-Za-z0-9._-]+, <= 200 bytes: the
	                          Message-ID's left part, the Idempotency-Key, and
	                          (directory, no parts) the file name "ID.md" */
	const char *kind;      /* "quarterly-report", "escalation", "test" */
	const char *platform;  /* may be NULL */
	const char *subject;   /* one line, UTF-8 */
	const char *text;      /* the body, UTF-8 (Markdown) */
	const struct deliver_part *parts;
	size_t n_parts;
	int64_t date_ms;       /* the mail's Date, ms since the epoch; 0 = now */
	const char *blocks;    /* webhook: Slack Block Kit blocks, a JSON array
	                          as text, or NULL */
	const char *const *to; /* smtp: recipients instead of the destination's
	                          `to` (bare addresses), or NULL */
	size_t n_to;
	bool at_most_once;     /* never try again after a failure that may have
	                          followed the send (it ends UNKNOWN at once): for
	                          receivers that cannot drop a repeat (chat) */
};

struct deliver_result {
	enum deliver_outcome outcome;
	int attempts;          /* tries made (directory: 1) */
	long status;           /* last HTTP status or SMTP reply code, 0 = none */
	const char *detail;    /* what happened, for the log and the ledger */
};

/* Called once per deliver_send, from the loop; r is valid only during
 * the call. */
typedef void (*deliver_cb)(const struct deliver_result *r, void *arg);

struct deliver;

/* One per daemon (or CLI run).  http: the shared client, which must stay
 * open until deliver_close has finished.  0 or -ENOMEM. */
int deliver_new(struct deliver **out, uv_loop_t *loop, struct http_client *http) MUST_CHECK;

/* Send m to d.  Everything is copied; cb is called exactly once, later,
 * from the loop.  Returns 0, or (cb never called) -EINVAL when m is not
 * well formed (bad id or file name, no subject), -ESHUTDOWN after
 * deliver_close. */
int deliver_send(struct deliver *dl, const struct cfg_destination *d,
                 const struct deliver_msg *m, deliver_cb cb, void *arg) MUST_CHECK;

/* Sends not yet finished. */
size_t deliver_pending(const struct deliver *dl);

/* Stop: a send waiting for its next try ends FAILED ("stopped before it
 * was sent"), one in flight is cancelled and ends UNKNOWN; each callback
 * runs from the loop.  closed_cb (may be NULL) runs once every handle is
 * closed; dl is freed then. */
void deliver_close(struct deliver *dl, void (*closed_cb)(void *), void *arg);

/* `closeloop deliver` (deliver_cli.c): the handler of its row in main.c's
 * subcommand table. */
struct cli;
int deliver_cmd(const struct cli *cli);

/* ---- the pieces, for tests (deliver_mail.c, deliver_file.c) ---- */

/* The whole RFC 5322 message for d (From, To, Subject (RFC 2047 when not
 * ASCII), Date, Message-ID <ID@from's domain>, MIME-Version, a
 * multipart/mixed body: the text as text/plain UTF-8 base64, then each
 * part base64 as an attachment), CRLF line ends, appended to out.
 * 0 or -EINVAL (bad message). */
int deliver_mail_build(const struct cfg_destination *d, const struct deliver_msg *m,
                       struct buf *out) MUST_CHECK;

/* The webhook's JSON document (shape above), a new string. */
char *deliver_webhook_json(const struct deliver_msg *m);
/* The format = "slack" document {"text", "blocks"} (blocks only when m
 * has valid ones), a new string. */
char *deliver_slack_json(const struct deliver_msg *m);

/* Write data to DIR/NAME atomically, mode 0640 (a temporary file
 * DIR/.NAME.XXXXXX, fsync, rename, fsync of DIR).  0 or a negative errno
 * with what failed in err ("create /x/.a.XXXXXX: Permission denied"). */
int deliver_file_write(const char *dir, const char *name, const char *data, size_t len,
                       char *err, size_t errlen) MUST_CHECK;

/* Is s usable as a message id or a file name ([A-Za-z0-9._-]+, 1..200
 * bytes, not starting with '.')? */
bool deliver_name_ok(const char *s);

#endif
