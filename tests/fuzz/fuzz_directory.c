/* fuzz_directory.c — libFuzzer target for the directory file (platforms,
 * teams, people): any byte string through dir_load_file and, when it
 * loads, dir_to_json.  Seeds: tests/fuzz/corpus/directory and every file
 * of tests/fixtures/directory.
 *
 * A load may fail (a file:line message); it must never crash, leak or
 * read out of bounds, and a failure always says why. */
#include <stdlib.h>

#include "directory.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".dir");
	struct directory *d = NULL;
	char err[1024];
	err[0] = '\0';
	if (dir_load_file(path, &d, err, sizeof(err)) == 0) {
		if (!d)
			__builtin_trap();
		free(dir_to_json(d));
		dir_free(d);
	} else if (err[0] == '\0') {
		__builtin_trap();
	}
	return 0;
}
