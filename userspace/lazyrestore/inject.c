// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include "inject.h"

static const char *const names[INJECT_MAX] = {
	[INJECT_NONE] = "none",
	[INJECT_KILL_SOURCE_BEFORE_FREEZE] = "kill-source-before-freeze",
	[INJECT_KILL_SOURCE_LAZY] = "kill-source-lazy",
	[INJECT_KILL_DEST_LAZY] = "kill-dest-lazy",
	[INJECT_DAMAGE_FLIP] = "damage-flip",
	[INJECT_DAMAGE_TRUNCATE] = "damage-truncate",
	[INJECT_NO_UFFD_MOVE] = "no-uffd-move",
};

enum inject inject_parse(const char *name)
{
	for (int i = 0; i < INJECT_MAX; i++)
		if (!strcmp(name, names[i]))
			return i;
	return INJECT_MAX;
}

const char *inject_name(enum inject i)
{
	return i < INJECT_MAX ? names[i] : "unknown";
}

const char *inject_names(char *buf, unsigned long len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = INJECT_NONE + 1; i < INJECT_MAX && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i > 1 ? ", " : "", names[i]);
	return buf;
}
