/* fuzz_servicenow.c — libFuzzer target for what ServiceNow's Table API
 * sends back: the bytes as JSON ({"result": record} or {"result":
 * [records]}), each record through sn_record_to_remote (sys_id, times,
 * state and resolution, impact/urgency priority map, due date) for both
 * state models; as an error answer (header lines, empty line, body)
 * through sn_error_text; as a value through sn_plain_text.
 *
 * Seeds: tests/fuzz/corpus/servicenow.  Nothing may crash, leak, read out
 * of bounds or overflow. */
#include <json-c/json.h>

#include "connector.h"
#include "fuzz_common.h"
#include "servicenow.h"

static void one_record(struct sn_conn *s, struct json_object *rec)
{
	struct conn_remote rem;
	if (sn_record_to_remote(s, rec, &rem) == 0 && (!rem.remote_id || !rem.updated_at))
		__builtin_trap();
	conn_remote_free(&rem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sn_conn s;
	static char base[] = "https://fuzz.service-now.com", table[] = "problem";
	if (!s.base_url) {
		s.base_url = base;
		s.table = table;
		if (sn_parse_prio_map("P0=1/1,P1=1/2,P2=2/2,P3=3/3", s.prio) < 0)
			__builtin_trap();
	}
	char *str = fuzz_str(data, size);
	struct json_object *doc = json_tokener_parse(str), *res = NULL;
	for (int legacy = 0; legacy < 2 && doc; legacy++) {
		s.legacy_states = legacy;
		if (json_object_object_get_ex(doc, "result", &res) &&
		    json_object_is_type(res, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(res); i++)
				one_record(&s, json_object_array_get_idx(res, i));
		} else {
			one_record(&s, res ? res : doc);
		}
	}
	json_object_put(doc);

	struct http_response r;
	fuzz_response(data, size, 400, &r);
	free(sn_error_text(&r));
	fuzz_response_free(&r);
	free(sn_plain_text(ITEM_F_DESCRIPTION, str));
	free(sn_plain_text(ITEM_F_TITLE, str));
	struct sn_prio prio[4];
	(void)!sn_parse_prio_map(str, prio);
	free(str);
	return 0;
}
