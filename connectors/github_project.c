/* github_project.c — discovery by a GitHub Projects (v2) board: the
 * project pass of a listing (connectors/connector.h "discovery",
 * docs/configuration.md "Discovery").
 *
 * A rule `project = "OWNER/NUMBER"` takes the issues of the rule's target
 * that are items of that user's or organisation's project, optionally
 * only those whose single-select field project_field has the option
 * project_value.  Membership is not on the issue: the REST issue has no
 * project items, and adding an issue to a board does not document a
 * change to the issue's updated_at.  So a listing of such a target starts
 * with a pass over the project, through GraphQL (Projects v2 has no REST
 * listing of items by content), and then lists the repository as usual,
 * marking every issue from the set the pass found.
 *
 * Facts (GitHub GraphQL API docs; schema @octokit/graphql-schema, pinned
 * in tests/sim/recorded/package.json and checked by
 * tests/sim/test_github_graphql.py):
 *   POST {api}/graphql {"query": ..., "variables": {...}}; GitHub
 *   Enterprise Server: https://HOST/api/graphql ("Forming calls with
 *   GraphQL");
 *   repositoryOwner(login:) is a RepositoryOwner (User or Organization,
 *   both ProjectV2Owner): projectV2(number:) -> ProjectV2 {id, updatedAt,
 *   items(first, after): ProjectV2ItemConnection {totalCount, pageInfo
 *   {hasNextPage, endCursor}, nodes [ProjectV2Item {content:
 *   ProjectV2ItemContent = DraftIssue | Issue | PullRequest,
 *   fieldValueByName(name:): ProjectV2ItemFieldValue}]}};
 *   items are ordered by POSITION only (ProjectV2ItemOrderField): there
 *   is no "changed since" on a board, so the pass pages the whole board;
 *   nodes(ids:) reads up to 100 issues by node id;
 *   connections need first or last, 1..100 ("Rate limits and node limits
 *   for the GraphQL API": node limit);
 *   errors come as HTTP 200 with an "errors" array ({type, path,
 *   message}; NOT_FOUND for an unknown project), data partial or null;
 *   the primary limit is GraphQL's own points budget (5,000 points an
 *   hour for a user; x-ratelimit-resource: graphql), exceeded: HTTP 200
 *   with an error of type RATE_LIMITED and x-ratelimit-remaining: 0, wait
 *   for x-ratelimit-reset; secondary limits are shared with REST: 403 or
 *   429 with retry-after (gh_req_rate_limited).
 *
 * Cost, so that a quiet cycle does not page the board: every listing of
 * the target sends one probe, `projectV2 {updatedAt items(first:1)
 * {totalCount}}` (1 point); the board is paged only when its updatedAt
 * or item count differs from the last pass delivered, or when that pass
 * is older than project_rescan seconds (GitHub does not document which
 * item changes touch ProjectV2.updatedAt -- a field value set on an item
 * may not -- so the rescan bounds how late such a change is seen).
 *
 * What a pass delivers: the REST listing that follows marks each listed
 * issue from the new set; the members the last delivered pass did not
 * have (all of them after a start) and the members that left since
 * (read with nodes(ids:)) are delivered as extra pages after the
 * listing's own (extra_add says why that never skips an edit).  A
 * failure of the pass (project unknown, GraphQL's limit spent) is logged
 * and the listing goes on without it: issues are then marked from the
 * label alone, or not at all (never "left" on a pass that did not run).
 * The set the last delivered pass found is the connector's copy of the
 * board, which the ledger keeps (connector.h struct conn_board,
 * sql/044_discover_board.sql): the listing that delivered a pass hands it
 * to reconcile on its last page, reconcile stores it and gives it back
 * (board_set) with the ledger's version; before each listing reconcile
 * compares that version with the ledger's and loads the stored board when
 * they differ.  So after a restart, in `closeloop sync --once` or after a
 * lock handover the probe is compared with the board as last read -- a
 * quiet board costs the probe alone -- and the first pass after a change
 * made while no daemon held the connector delivers what joined and what
 * left at once.
 */
#include "conn_json.h"
#include "connector.h"
#include "github_body.h"
#include "github_gql.h"
#include "github_req.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The issue fields a ticket is read from (gh_issue_to_remote reads the
 * REST names; gh_gql_issue_rest maps these to them). */
#define GQL_ISSUE_FRAGMENT \
	"fragment CloseloopIssue on Issue{id fullDatabaseId number title body state " \
	"stateReason url updatedAt repository{nameWithOwner} labels(first:100){nodes{name}} " \
	"assignees(first:10){nodes{login}}}"

/* The probe: one point, no item content.  (__typename on abstract types
 * costs nothing and lets tests/sim/test_github_graphql.py run an answer
 * through the schema.) */
#define GQL_PROBE \
	"query($owner:String!,$number:Int!){repositoryOwner(login:$owner){__typename " \
	"...on ProjectV2Owner{projectV2(number:$number){id updatedAt items(first:1){totalCount}}}}}"

/* One page of the board's items. */
#define GQL_ITEMS \
	"query($owner:String!,$number:Int!,$cursor:String,$field:String!,$filter:Boolean!){" \
	"repositoryOwner(login:$owner){__typename ...on ProjectV2Owner{projectV2(number:$number){" \
	"items(first:100,after:$cursor){pageInfo{hasNextPage endCursor} nodes{" \
	"fieldValueByName(name:$field)@include(if:$filter){" \
	"__typename ...on ProjectV2ItemFieldSingleSelectValue{name}} " \
	"content{__typename ...CloseloopIssue}}}}}}}" GQL_ISSUE_FRAGMENT

/* Issues by node id (the members that left the board). */
#define GQL_NODES \
	"query($ids:[ID!]!){nodes(ids:$ids){__typename ...CloseloopIssue}}" GQL_ISSUE_FRAGMENT

#define GQL_NODES_MAX 100
#define GQL_PAGES_MAX 10000  /* 1,000,000 items: a board answering more loops */

enum proj_phase { PP_PROBE = 1, PP_ITEMS, PP_NODES };

struct gh_proj_pass {
	enum proj_phase phase;
	char *owner;            /* the rule's project owner login */
	long number;            /* and number */
	char *field, *value;    /* the single-select filter, or NULL */
	char *spec;             /* project, field, value: the rule read */
	int64_t rescan_ms;
	char *rest_url;         /* the REST probe, sent after the pass */
	char *etag;             /* its If-None-Match */
	bool paged;             /* the board was paged (not unchanged) */
	bool complete;          /* ... to its end: the set below is whole */
	bool board_ready;       /* ... and the listing delivered it: the last
	                           page carries the board (gh_project_board) */
	int64_t updated_ms;     /* ProjectV2.updatedAt (ms, UTC) and item count
	                           from the probe */
	int64_t total;
	int pages;
	struct gh_member *m;    /* the set found */
	size_t n, cap;
	struct json_object *extra; /* REST-shaped issues to deliver after the listing */
	char **gone;            /* node ids of members that left, to read */
	size_t n_gone, i_gone;
	struct conn_board board; /* the last page's (gh_project_board) */
	struct conn_board_member *board_m;
	char (*board_ids)[24];
};

char *gh_graphql_url(const char *base_url)
{
	size_t n = strlen(base_url);
	if (n >= 7 && strcmp(base_url + n - 7, "/api/v3") == 0)
		return xasprintf("%.*s/api/graphql", (int)(n - 7), base_url);
	return xasprintf("%s/graphql", base_url);
}

/* ---- the connector's sets ---- */

static void members_free(struct gh_member *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].node);
	free(m);
}

static void project_clear(struct gh_project *p)
{
	members_free(p->m, p->n);
	p->m = NULL;
	p->n = 0;
	p->known = p->delivered = false;
	p->updated_ms = 0;
	p->total = -1;
	p->full_at_ms = 0;
	p->version = 0;
}

void gh_projects_free(struct gh_conn *g)
{
	for (size_t i = 0; i < g->n_projects; i++) {
		project_clear(&g->projects[i]);
		free(g->projects[i].target);
		free(g->projects[i].spec);
	}
	free(g->projects);
	g->projects = NULL;
	g->n_projects = 0;
}

/* The state of target's project, made (empty) when missing; a rule that
 * names another project or filter than the one the state was read for
 * starts over. */
static struct gh_project *project_state(struct gh_conn *g, const char *target, const char *spec)
{
	for (size_t i = 0; i < g->n_projects; i++) {
		struct gh_project *p = &g->projects[i];
		if (strcasecmp(p->target, target) != 0)
			continue;
		if (strcmp(p->spec, spec) != 0) {
			project_clear(p);
			str_replace(&p->spec, spec);
		}
		return p;
	}
	g->projects = xrealloc(g->projects, (g->n_projects + 1) * sizeof(*g->projects));
	struct gh_project *p = &g->projects[g->n_projects++];
	memset(p, 0, sizeof(*p));
	p->target = xstrdup(target);
	p->spec = xstrdup(spec);
	p->total = -1;
	return p;
}

static int member_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct gh_member *)a)->id, y = ((const struct gh_member *)b)->id;
	return x < y ? -1 : x > y;
}

static const struct gh_member *member_find(const struct gh_member *m, size_t n, int64_t id)
{
	struct gh_member key = { .id = id };
	return n ? bsearch(&key, m, n, sizeof(*m), member_cmp) : NULL;
}

int gh_project_member(const struct gh_conn *g, const char *repo, int64_t id)
{
	for (size_t i = 0; i < g->n_projects; i++) {
		const struct gh_project *p = &g->projects[i];
		if (strcasecmp(p->target, repo) == 0)
			return p->known ? member_find(p->m, p->n, id) != NULL : -1;
	}
	return -1;
}

/* ---- requests ---- */

static char *rule_spec(const char *project, const char *field, const char *value)
{
	return xasprintf("%s\n%s\n%s", project, field ? field : "", value ? value : "");
}

void gh_project_pass_free(struct gh_proj_pass *p)
{
	if (!p)
		return;
	free(p->owner);
	free(p->field);
	free(p->value);
	free(p->spec);
	free(p->rest_url);
	free(p->etag);
	free(p->board_m);
	free(p->board_ids);
	members_free(p->m, p->n);
	json_object_put(p->extra);
	for (size_t i = 0; i < p->n_gone; i++)
		free(p->gone[i]);
	free(p->gone);
	free(p);
}

/* The request body {"query": q, "variables": vars} (vars taken over). */
static char *gql_body(const char *q, struct json_object *vars)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "query", json_object_new_string(q));
	json_object_object_add(o, "variables", vars);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static struct json_object *owner_vars(const struct gh_proj_pass *p)
{
	struct json_object *v = json_object_new_object();
	json_object_object_add(v, "owner", json_object_new_string(p->owner));
	json_object_object_add(v, "number", json_object_new_int64(p->number));
	return v;
}

static char *items_body(const struct gh_proj_pass *p, const char *cursor)
{
	struct json_object *v = owner_vars(p);
	json_object_object_add(v, "cursor", cursor ? json_object_new_string(cursor) : NULL);
	json_object_object_add(v, "field", json_object_new_string(p->field ? p->field : ""));
	json_object_object_add(v, "filter", json_object_new_boolean(p->field != NULL));
	return gql_body(GQL_ITEMS, v);
}

static char *nodes_body(const struct gh_proj_pass *p)
{
	struct json_object *ids = json_object_new_array();
	for (size_t i = p->i_gone; i < p->n_gone && i < p->i_gone + GQL_NODES_MAX; i++)
		json_object_array_add(ids, json_object_new_string(p->gone[i]));
	struct json_object *v = json_object_new_object();
	json_object_object_add(v, "ids", ids);
	return gql_body(GQL_NODES, v);
}

void gh_project_sent(struct gh_req *r)
{
	struct connector *c = &r->g->base;
	c->n_graphql++;
	switch (r->proj ? r->proj->phase : 0) {
	case PP_PROBE: c->n_graphql_probe++; break;
	case PP_ITEMS: c->n_graphql_items++; break;
	case PP_NODES: c->n_graphql_nodes++; break;
	default: abort();
	}
}

/* The REST listing, after the pass (done, skipped or failed). */
static void rest_go(struct gh_req *r)
{
	struct gh_proj_pass *p = r->proj;
	char *url = p->rest_url, *etag = p->etag;
	p->rest_url = p->etag = NULL;
	r->kind = GH_LIST;
	int rc = gh_req_next_get_if(r, url, etag);
	if (rc < 0) {
		char *msg = xasprintf("could not request the listing after the project pass: %s",
		                      strerror(-rc));
		gh_req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
	}
}

/* The pass's next GraphQL request (body taken over). */
static void gql_next(struct gh_req *r, char *body)
{
	int rc = gh_req_next(r, GH_GRAPHQL, "POST", xstrdup(r->g->graphql_url), body);
	if (rc < 0) {
		char *msg = xasprintf("POST /graphql: could not send: %s", strerror(-rc));
		gh_req_fail(r, CONN_ERROR, 0, 0, msg); /* gh_project_failed: the listing goes on */
		free(msg);
	}
}

bool gh_project_list_start(struct gh_req *r, const char *etag)
{
	struct gh_conn *g = r->g;
	const struct conn_discover *rule = conn_discover_rule(&g->base, r->repo);
	const char *project = conn_discover_opt(&g->base, rule, "project");
	if (!project)
		return false;
	int64_t left = g->graphql_blocked_until - ts_mono_ms();
	if (left > 0) {
		log_conn(LOG_LVL_DEBUG, g->base.name, "%s: project %s not read: GraphQL's rate limit "
		         "is spent for %" PRId64 " s more", r->repo, project, (left + 999) / 1000);
		return false;
	}
	const char *slash = strchr(project, '/');
	if (!slash) /* check-config refused it; a rule set by hand in a test */
		return false;
	struct gh_proj_pass *p = xcalloc(1, sizeof(*p));
	p->owner = xstrndup(project, (size_t)(slash - project));
	p->number = strtol(slash + 1, NULL, 10);
	const char *field = conn_discover_opt(&g->base, rule, "project_field");
	const char *value = conn_discover_opt(&g->base, rule, "project_value");
	p->field = field && value ? xstrdup(field) : NULL;
	p->value = field && value ? xstrdup(value) : NULL;
	p->spec = rule_spec(project, p->field, p->value);
	const char *rescan = conn_discover_opt(&g->base, rule, "project_rescan");
	p->rescan_ms = (rescan ? strtoll(rescan, NULL, 10) : 3600) * 1000;
	p->rest_url = r->url;
	p->etag = xstrdup(etag);
	p->phase = PP_PROBE;
	r->proj = p;
	r->kind = GH_GRAPHQL;
	r->method = "POST";
	r->url = xstrdup(g->graphql_url);
	r->body = gql_body(GQL_PROBE, owner_vars(p));
	return true;
}

bool gh_project_failed(struct gh_req *r, const char *msg)
{
	if (r->kind != GH_GRAPHQL || !r->proj || r->cancel_mark || !r->g || r->g->destroy_pending)
		return false;
	log_conn(LOG_LVL_ERROR, r->g->base.name, "%s: discovery by project %s/%ld: %s (the "
	         "listing goes on; issues are not judged by the project this cycle)", r->repo,
	         r->proj->owner, r->proj->number, msg);
	struct gh_proj_pass *p = r->proj;
	json_object_put(p->extra); /* nothing of a broken pass is delivered */
	p->extra = NULL;
	p->paged = p->complete = false;
	rest_go(r);
	return true;
}

/* ---- answers ---- */

/* Keep the REST shape of issue n for delivery after the listing.  Every
 * one goes, whether or not it is in the listing's window: a listing
 * answered 304 brings none, and one taken off the board changed nothing
 * on the issue.  Its updated_at cannot move reconcile's cursor past an
 * edit the listing has not shown: the pass is read before the listing
 * starts, so any issue updated after it is in the listing (a 304 probe
 * proves none was). */
static void extra_add(struct gh_proj_pass *p, struct json_object *n)
{
	struct json_object *o = gh_gql_issue_rest(n);
	if (!o)
		return;
	if (!p->extra)
		p->extra = json_object_new_array();
	json_object_array_add(p->extra, o);
}

static void probe_answer(struct gh_req *r, const struct gh_gql_answer *a)
{
	struct gh_proj_pass *p = r->proj;
	p->updated_ms = a->updated_ms;
	p->total = a->total;
	const struct gh_project *st = project_state(r->g, r->repo, p->spec);
	if (st->known && st->delivered && st->updated_ms == p->updated_ms && st->total == p->total &&
	    ts_now_ms() - st->full_at_ms < p->rescan_ms) {
		rest_go(r); /* unchanged: the set stands */
		return;
	}
	p->paged = true;
	p->phase = PP_ITEMS;
	gql_next(r, items_body(p, NULL));
}

/* The pass has the whole set: what left it is read, then the set is the
 * connector's and the REST listing goes. */
static void pass_complete(struct gh_req *r)
{
	struct gh_proj_pass *p = r->proj;
	struct gh_project *st = project_state(r->g, r->repo, p->spec);
	if (p->n > 1) /* an empty board has no array (qsort's base must not be NULL) */
		qsort(p->m, p->n, sizeof(*p->m), member_cmp);
	if (p->phase == PP_ITEMS && st->known) {
		for (size_t i = 0; i < st->n; i++) {
			if (member_find(p->m, p->n, st->m[i].id) || !st->m[i].node)
				continue;
			p->gone = xrealloc(p->gone, (p->n_gone + 1) * sizeof(*p->gone));
			p->gone[p->n_gone++] = xstrdup(st->m[i].node);
		}
	}
	if (p->i_gone < p->n_gone) {
		p->phase = PP_NODES;
		gql_next(r, nodes_body(p));
		return;
	}
	p->complete = true;
	/* marks use the new set from now; the pass counts as read once the
	 * listing that delivers it has ended (gh_project_flush) */
	members_free(st->m, st->n);
	st->m = p->m;
	st->n = p->n;
	p->m = NULL;
	p->n = p->cap = 0;
	st->known = true;
	st->delivered = false;
	st->version = 0; /* the ledger holds another set now */
	rest_go(r);
}

static void items_answer(struct gh_req *r, const struct gh_gql_answer *a, const char *what)
{
	struct gh_proj_pass *p = r->proj;
	if (a->has_next && ++p->pages >= GQL_PAGES_MAX) {
		char *msg = xasprintf("%s: over %d pages of items", what, GQL_PAGES_MAX);
		gh_req_fail(r, CONN_BAD_RESPONSE, 200, 0, msg);
		free(msg);
		return;
	}
	const struct gh_project *st = project_state(r->g, r->repo, p->spec);
	bool base = st->known && st->delivered; /* the last pass was delivered */
	for (size_t i = 0; i < a->n_issues; i++) {
		const struct gh_gql_issue *it = &a->issues[i];
		if (p->n == p->cap) {
			p->cap = p->cap ? 2 * p->cap : 64;
			p->m = xrealloc(p->m, p->cap * sizeof(*p->m));
		}
		p->m[p->n++] = (struct gh_member){ .id = it->id, .node = it->node ? xstrdup(it->node) :
		                                                        NULL };
		if (!base || !member_find(st->m, st->n, it->id))
			extra_add(p, it->content);
	}
	if (a->has_next) {
		gql_next(r, items_body(p, a->cursor));
		return;
	}
	pass_complete(r);
}

static void nodes_answer(struct gh_req *r, const struct gh_gql_answer *a)
{
	struct gh_proj_pass *p = r->proj;
	for (size_t i = 0; i < a->n_issues; i++)
		extra_add(p, a->issues[i].content);
	p->i_gone += GQL_NODES_MAX;
	pass_complete(r);
}

static const enum gh_gql_doc phase_doc[] = {
	[PP_PROBE] = GH_GQL_PROBE, [PP_ITEMS] = GH_GQL_ITEMS, [PP_NODES] = GH_GQL_NODES,
};

void gh_project_answer(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct gh_proj_pass *p = r->proj;
	struct gh_gql_answer a = { 0 };
	char *msg = NULL;
	if ((unsigned)p->phase >= ARRAY_SIZE(phase_doc) || !phase_doc[p->phase])
		abort();
	const struct gh_gql_rule rule = { .owner = p->owner, .number = p->number, .repo = r->repo,
	                                  .field = p->field, .value = p->value };
	int rc = resp->status != 200 ? -EINVAL :
	         gh_gql_read(phase_doc[p->phase], resp->body, resp->body_len, &rule, what, r->g->tok,
	                     &a, &msg);
	if (rc == GH_GQL_RATE_LIMITED) {
		/* GraphQL's own budget: its reset says when; REST goes on */
		int64_t wait = gh_rate_limit_wait_ms(resp, ts_now_ms());
		r->g->graphql_blocked_until = ts_mono_ms() + (wait > 0 ? wait : 60000);
		r->g->base.n_rate_limited++;
		msg = xasprintf("%s: GraphQL rate limit (RATE_LIMITED), project passes wait %" PRId64
		                " s", what, (wait > 0 ? wait : 60000) / 1000);
	} else if (rc < 0 && !msg) {
		char *detail = gh_error_detail(resp->body);
		msg = xasprintf("%s: HTTP %ld: %s", what, resp->status, detail);
		free(detail);
	}
	if (msg) {
		gh_req_fail(r, CONN_BAD_RESPONSE, 200, 0, msg); /* the pass fails, not the listing */
		free(msg);
		gh_gql_answer_free(&a);
		return;
	}
	switch (p->phase) {
	case PP_PROBE: probe_answer(r, &a); break;
	case PP_ITEMS: items_answer(r, &a, what); break;
	case PP_NODES: nodes_answer(r, &a); break;
	default: abort();
	}
	gh_gql_answer_free(&a);
}

/* ---- after the listing ---- */

bool gh_project_pending(const struct gh_req *r)
{
	return r->proj && r->proj->complete;
}

bool gh_project_flush(struct gh_req *r, const struct conn_result *res, bool last)
{
	struct gh_proj_pass *p = r->proj;
	struct gh_conn *g = r->g;
	if (p && p->complete) {
		/* the listing went through: the pass is read (its probe's
		 * values say when to page again) */
		struct gh_project *st = project_state(g, r->repo, p->spec);
		st->delivered = true;
		st->updated_ms = p->updated_ms;
		st->total = p->total;
		st->full_at_ms = ts_now_ms();
		p->complete = false;
		p->board_ready = true;
		log_conn(LOG_LVL_DEBUG, g->base.name, "%s: project %s/%ld read: %zu members, %zu "
		         "delivered beside the listing", r->repo, p->owner, p->number, st->n,
		         p->extra ? json_object_array_length(p->extra) : 0);
	}
	size_t n = p && p->extra ? json_object_array_length(p->extra) : 0;
	for (size_t at = 0; at < n || (last && at == 0); at += 100) {
		struct conn_page page = { 0 };
		size_t end = at + 100 < n ? at + 100 : n;
		page.items = xcalloc(end - at + 1, sizeof(*page.items));
		for (size_t i = at; i < end; i++) {
			struct json_object *it = json_object_array_get_idx(p->extra, i);
			const char *err = NULL;
			if (gh_issue_to_remote(it, r->repo, &page.items[page.n], &err) < 0) {
				log_conn(LOG_LVL_WARN, g->base.name, "%s: a project item not delivered: %s",
				         r->repo, err);
				continue;
			}
			gh_discover_mark(&g->base, r->repo, it, &page.items[page.n]);
			page.n++;
		}
		page.last = last && end >= n;
		if (page.n > 0 || page.last)
			gh_req_deliver_page(r, res, &page);
		for (size_t i = 0; i < page.n; i++)
			conn_remote_free(&page.items[i]);
		free(page.items);
		if (page.last || r->state == GHR_FINISHED)
			return false;
	}
	if (p) {
		json_object_put(p->extra);
		p->extra = NULL;
	}
	return true;
}

/* ---- the copy in the ledger (connector.h struct conn_board) ---- */

const struct conn_board *gh_project_board(struct gh_req *r)
{
	struct gh_proj_pass *p = r->proj;
	if (!p || !p->board_ready || !r->g)
		return NULL;
	const struct gh_project *st = project_state(r->g, r->repo, p->spec);
	free(p->board_m);
	free(p->board_ids);
	p->board_m = xcalloc(st->n + 1, sizeof(*p->board_m));
	p->board_ids = xcalloc(st->n + 1, sizeof(*p->board_ids));
	for (size_t i = 0; i < st->n; i++) {
		snprintf(p->board_ids[i], sizeof(p->board_ids[i]), "%" PRId64, st->m[i].id);
		p->board_m[i] = (struct conn_board_member){ .remote_id = p->board_ids[i],
		                                            .node_id = st->m[i].node };
	}
	p->board = (struct conn_board){ .rule = st->spec, .updated_ms = st->updated_ms,
	                                .item_count = st->total, .read_ms = st->full_at_ms,
	                                .members = p->board_m, .n_members = st->n };
	return &p->board;
}

int64_t gh_board_version(struct connector *c, const char *target)
{
	const struct gh_conn *g = container_of(c, const struct gh_conn, base);
	if (!conn_discover_opt(c, conn_discover_rule(c, target), "project"))
		return -1;
	for (size_t i = 0; i < g->n_projects; i++)
		if (strcasecmp(g->projects[i].target, target) == 0)
			return g->projects[i].version;
	return 0;
}

void gh_board_set(struct connector *c, const char *target, const struct conn_board *b)
{
	struct gh_conn *g = container_of(c, struct gh_conn, base);
	if (!b) {
		for (size_t i = 0; i < g->n_projects; i++)
			if (strcasecmp(g->projects[i].target, target) == 0)
				project_clear(&g->projects[i]);
		return;
	}
	struct gh_project *st = project_state(g, target, b->rule);
	project_clear(st);
	st->m = xcalloc(b->n_members + 1, sizeof(*st->m));
	for (size_t i = 0; i < b->n_members; i++) {
		const char *s = b->members[i].remote_id;
		char *end = NULL;
		errno = 0;
		long long id = s ? strtoll(s, &end, 10) : 0;
		if (!s || errno || end == s || *end || id <= 0) {
			/* only closeloop writes the table: a row edited by hand */
			log_conn(LOG_LVL_WARN, c->name, "%s: discover_board_member remote_id '%s' is not "
			         "an issue id: left out of the board's copy", target, s ? s : "(null)");
			continue;
		}
		const char *node = b->members[i].node_id;
		st->m[st->n++] = (struct gh_member){ .id = id, .node = node ? xstrdup(node) : NULL };
	}
	if (st->n > 1)
		qsort(st->m, st->n, sizeof(*st->m), member_cmp);
	st->known = st->delivered = true;
	st->updated_ms = b->updated_ms;
	st->total = b->item_count;
	st->full_at_ms = b->read_ms;
	st->version = b->version;
}
