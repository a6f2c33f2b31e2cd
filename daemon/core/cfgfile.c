/* cfgfile.c — see cfgfile.h */
#include "cfgfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cfgfile_read(config_t *lc, const char *path, const char *what, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (access(path, R_OK) < 0) {
		int e = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s:0: cannot read the %s: %s", path, what, strerror(e));
		return e == ENOENT ? -ENOENT : -EIO;
	}
	if (config_read_file(lc, path) == CONFIG_TRUE)
		return 0;
	const char *ef = config_error_file(lc);
	if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
		if (err && errlen)
			snprintf(err, errlen, "%s:0: cannot read the %s: %s", ef ? ef : path, what,
			         config_error_text(lc));
		return -EIO;
	}
	if (err && errlen)
		snprintf(err, errlen, "%s:%d: %s (expected libconfig syntax: name = value; "
		         "groups { }, lists ( ), arrays [ ])", ef ? ef : path,
		         config_error_line(lc), config_error_text(lc));
	return -EINVAL;
}

int cfgfile_vfail(const char *path, const config_setting_t *s, char *err, size_t errlen,
                  const char *fmt, va_list ap)
{
	const char *file = s && config_setting_source_file(s) ? config_setting_source_file(s) : path;
	int line = s ? config_setting_source_line(s) : 0;
	char msg[768];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err && errlen)
		snprintf(err, errlen, "%s:%d: %s", file, line, msg);
	return -EINVAL;
}
