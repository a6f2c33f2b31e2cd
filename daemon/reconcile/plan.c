/* plan.c — see plan.h.  Pure: no I/O, no clock. */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void rec_refusals_free(struct rec_refusals *r)
{
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		free(r->f[f].value);
		free(r->f[f].reason);
	}
	memset(r, 0, sizeof(*r));
}

int rec_refusals_parse(struct rec_refusals *r, const char *json)
{
	memset(r, 0, sizeof(*r));
	if (!json)
		return 0;
	struct json_object *o = json_tokener_parse(json);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	json_object_object_foreach(o, key, v) {
		int f = item_field_from_name(key);
		struct json_object *x;
		if (f < 0 || !json_object_is_type(v, json_type_object))
			continue;
		struct rec_refusal *rf = &r->f[f];
		rf->set = true;
		if (json_object_object_get_ex(v, "value", &x) && x)
			rf->value = xstrdup(json_object_get_string(x));
		if (json_object_object_get_ex(v, "reason", &x) && x)
			rf->reason = xstrdup(json_object_get_string(x));
		if (json_object_object_get_ex(v, "at_ms", &x))
			rf->at_ms = json_object_get_int64(x);
		if (json_object_object_get_ex(v, "retry_ms", &x))
			rf->retry_ms = json_object_get_int64(x);
		rf->since_ms = json_object_object_get_ex(v, "since_ms", &x) ?
			json_object_get_int64(x) : rf->at_ms;
		rf->count = json_object_object_get_ex(v, "count", &x) ? json_object_get_int(x) : 1;
		if (rf->count < 1)
			rf->count = 1;
	}
	json_object_put(o);
	return 0;
}

char *rec_refusals_json(const struct rec_refusals *r)
{
	struct json_object *o = json_object_new_object();
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		const struct rec_refusal *rf = &r->f[f];
		if (!rf->set)
			continue;
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "value", rf->value ? json_object_new_string(rf->value) : NULL);
		json_object_object_add(e, "reason", json_object_new_string(rf->reason ? rf->reason : ""));
		json_object_object_add(e, "at_ms", json_object_new_int64(rf->at_ms));
		json_object_object_add(e, "retry_ms", json_object_new_int64(rf->retry_ms));
		json_object_object_add(e, "since_ms", json_object_new_int64(rf->since_ms));
		json_object_object_add(e, "count", json_object_new_int(rf->count));
		json_object_object_add(o, item_field_name(f), e);
	}
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

void rec_refusals_add(struct rec_refusals *r, enum item_field f, const char *value,
                      const char *reason, int64_t now_ms, int64_t backoff_ms)
{
	struct rec_refusal *rf = &r->f[f];
	bool again = (rf->set || rf->lapsed) && str_eq(rf->value, value);
	free(rf->value);
	free(rf->reason);
	rf->set = true;
	rf->lapsed = false;
	rf->value = xstrdup(value);
	rf->reason = xstrdup(reason ? reason : "refused");
	rf->at_ms = now_ms;
	rf->retry_ms = now_ms + backoff_ms;
	rf->since_ms = again ? rf->since_ms : now_ms;
	rf->count = again ? rf->count + 1 : 1;
}

bool rec_refusals_prune(struct rec_refusals *r, const struct item_fields *ledger,
                        int64_t now_ms)
{
	bool changed = false;
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		struct rec_refusal *rf = &r->f[f];
		if (!rf->set || (str_eq(rf->value, ledger->v[f]) && now_ms < rf->retry_ms))
			continue;
		changed = true;
		if (str_eq(rf->value, ledger->v[f])) {
			rf->set = false; /* retried now: the run goes on if refused again */
			rf->lapsed = true;
			continue;
		}
		free(rf->value);
		free(rf->reason);
		memset(rf, 0, sizeof(*rf));
	}
	return changed;
}

/* Is value a of field f the same as b once both went through the tracker? */
static bool same_after_round_trip(const struct conn_type *t, enum item_field f,
                                  const char *a, const char *b)
{
	if (str_eq(a, b))
		return true;
	char *na = conn_normalise(t, f, a), *nb = conn_normalise(t, f, b);
	bool same = str_eq(na, nb);
	free(na);
	free(nb);
	return same;
}

void rec_plan_remote(const struct rec_plan_in *in, struct item_fields *out)
{
	const struct conn_type *t = in->ctype;
	item_fields_copy(out, in->remote);
	for (int f = 0; t && f < ITEM_F__COUNT; f++) {
		const char *l = in->ledger->v[f], *r = in->remote->v[f];
		const char *b = in->base ? in->base->v[f] : NULL;
		if (!(t->caps[f] & CONN_CAP_NATIVE)) {
			item_fields_set(out, f, l); /* the tracker has no such field */
			continue;
		}
		if (!(t->caps[f] & CONN_CAP_LOSSY) || str_eq(l, r))
			continue;
		if (same_after_round_trip(t, f, l, r))
			item_fields_set(out, f, l);
		else if (in->base && same_after_round_trip(t, f, b, r))
			item_fields_set(out, f, b);
	}
}

/* May the ledger's value of f be pushed now? */
static bool may_push(const struct rec_plan_in *in, enum item_field f)
{
	const struct conn_type *t = in->ctype;
	if (t && (t->caps[f] & (CONN_CAP_NATIVE | CONN_CAP_WRITABLE)) !=
	         (CONN_CAP_NATIVE | CONN_CAP_WRITABLE))
		return false;
	const struct rec_refusal *rf = in->refused ? &in->refused->f[f] : NULL;
	return !(rf && rf->set && str_eq(rf->value, in->ledger->v[f]) && in->now_ms < rf->retry_ms);
}

/* The base the merge takes into *eff (returned; NULL: no base): in->base,
 * but a field whose ticket value (remote, as compared) is the one a failed
 * update sent and not the base's is closeloop's own write, whose answer
 * was lost (a time-out after the tracker carried it out, the second step
 * of GitHub's label change failing): the ticket holds it as the base, so
 * the merge sees no change on the tracker and pushes a ledger that moved
 * on since, where it saw both sides changed and, under remote_wins, put
 * closeloop's stale value over the newer edit (seed 37 of the soak). */
static const struct item_fields *merge_base(const struct rec_plan_in *in,
                                            const struct item_fields *remote,
                                            struct item_fields *eff)
{
	if (!in->base || !in->unconfirmed_mask || !in->unconfirmed)
		return in->base;
	item_fields_copy(eff, in->base);
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		const char *r = remote->v[f];
		if ((in->unconfirmed_mask & ITEM_FIELD_BIT(f)) && !str_eq(r, in->base->v[f]) &&
		    (str_eq(r, in->unconfirmed->v[f]) ||
		     (in->ctype && same_after_round_trip(in->ctype, f, in->unconfirmed->v[f], r))))
			item_fields_set(eff, f, r);
	}
	return eff;
}

void rec_plan_item(const struct rec_plan_in *in, struct rec_plan *out)
{
	struct item_fields eff;
	item_fields_init(&eff);
	item_fields_init(&out->remote);
	out->held_mask = 0;
	rec_plan_remote(in, &out->remote);
	int64_t at[ITEM_F__COUNT], rat[ITEM_F__COUNT];
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		at[f] = in->ledger_field_ms && in->ledger_field_ms[f] > 0 ? in->ledger_field_ms[f] :
		        in->ledger_ms;
		rat[f] = in->remote_field_ms && in->remote_field_ms[f] > 0 ? in->remote_field_ms[f] :
		         in->remote_ms;
	}
	merge_item_at(in->ledger, merge_base(in, &out->remote, &eff), &out->remote, in->policy,
	              at, rat, &out->mr);
	item_fields_free(&eff);
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		unsigned bit = ITEM_FIELD_BIT(f);
		if (!(out->mr.push_mask & bit) || may_push(in, f))
			continue;
		/* held: the ledger keeps its value, the base what the tracker has */
		out->mr.push_mask &= ~bit;
		out->held_mask |= bit;
		item_fields_set(&out->mr.merged, f, out->remote.v[f]);
	}
}

void rec_plan_free(struct rec_plan *p)
{
	item_fields_free(&p->remote);
	merge_result_free(&p->mr);
	p->held_mask = 0;
}

enum rec_match rec_plan_match(const struct conn_remote *r, const struct rec_link_key *links,
                              size_t n, const bool *used, size_t *hit)
{
	enum rec_match m = REC_MATCH_NONE;
	size_t i;
	for (i = 0; i < n && r->remote_id; i++)
		if (str_eq(links[i].remote_id, r->remote_id)) {
			m = REC_MATCH_PULL;
			break;
		}
	if (m == REC_MATCH_NONE)
		for (i = 0; i < n && r->token; i++)
			if (str_eq(links[i].token, r->token)) {
				m = REC_MATCH_ADOPT;
				break;
			}
	if (m == REC_MATCH_NONE)
		return m;
	if (m == REC_MATCH_ADOPT && str_eq(links[i].state, "linked") && links[i].remote_id &&
	    !str_eq(links[i].remote_id, r->remote_id)) {
		*hit = i;
		return REC_MATCH_DUPLICATE;
	}
	/* a broken link's ticket, or a token whose link is no longer creating */
	if (!str_eq(links[i].state, m == REC_MATCH_PULL ? "linked" : "creating") ||
	    (used && used[i]))
		return REC_MATCH_IGNORE;
	*hit = i;
	return m;
}

enum rec_route rec_plan_route(const char *link_state, const char *ref_state)
{
	if (link_state)
		return str_eq(link_state, "linked") ? REC_ROUTE_PUSH : REC_ROUTE_RECOVER;
	if (ref_state)
		return str_eq(ref_state, "broken") ? REC_ROUTE_SKIP : REC_ROUTE_ADOPT_REF;
	return REC_ROUTE_CREATE;
}
