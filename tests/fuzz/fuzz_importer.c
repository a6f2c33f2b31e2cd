/* fuzz_importer.c — libFuzzer target for the postmortem importer: any
 * byte string goes through imp_parse_text (UTF-8 check, front matter,
 * md4c scan, section walk, item fields, import keys), as a document
 * named "fuzz.md" and as a template-free ERB file "fuzz.md.erb".
 *
 * Built by `make fuzz` only (clang -fsanitize=fuzzer,address,undefined);
 * run with build/fuzz/fuzz_importer tests/fuzz/corpus/importer
 * -max_total_time=300.  A parse may fail (-EINVAL with a message); it
 * must never crash, leak, read or write out of bounds, or hang. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "importer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "fuzz.md", "fuzz.md.erb" };
	char err[512];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct imp_postmortem *pm = NULL;
		err[0] = '\0';
		if (imp_parse_text(names[i], (const char *)data, size, &pm, err, sizeof(err)) == 0) {
			if (!pm || pm->n_items == 0 || !pm->reference || !pm->title)
				__builtin_trap();
			for (size_t k = 0; k < pm->n_items; k++)
				if (!pm->items[k].import_key || !pm->items[k].fields.v[ITEM_F_TITLE] ||
				    !pm->items[k].fields.v[ITEM_F_TITLE][0])
					__builtin_trap();
			imp_postmortem_free(pm);
		} else if (err[0] == '\0') {
			__builtin_trap();   /* every failure says why */
		}
	}
	return 0;
}
