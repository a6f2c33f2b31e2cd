/* fuzz_config.c — libFuzzer target for the configuration file: any byte
 * string as closeloop.conf through cfg_load (libconfig's parser, then the
 * option table, connector groups, policies, flags and escalation rungs).
 * Seeds: tests/fuzz/corpus/config and every file of tests/fixtures/config.
 *
 * cfg_load may refuse the file (-EINVAL and a file:line message); it must
 * never crash, leak or read out of bounds, and a refusal always says why. */
#include <stdlib.h>

#include "config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		/* the fixtures name these for token_env */
		setenv("CLOSELOOP_GITHUB_TOKEN", "ghp_fuzz0123456789", 0);
		setenv("GITHUB_TOKEN", "ghp_fuzz0123456789", 0);
		once = 1;
	}
	const char *path = fuzz_file(data, size, ".conf");
	struct config *c = NULL;
	char err[1024];
	err[0] = '\0';
	if (cfg_load(path, &c, err, sizeof(err)) == 0) {
		if (!c)
			__builtin_trap();
		cfg_free(c);
	} else if (err[0] == '\0') {
		__builtin_trap(); /* every refusal says why */
	}
	return 0;
}
