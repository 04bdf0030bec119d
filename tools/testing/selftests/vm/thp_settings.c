// SPDX-License-Identifier: GPL-2.0
/*
 * See thp_settings.h: what the MADV_CLR_HUGEPAGE and PR_SET_THP_DISABLE
 * tests need of THP settings, on 6.1's one-size sysfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../kselftest.h"
#include "thp_settings.h"

#define THP_SYSFS "/sys/kernel/mm/transparent_hugepage/"
#define MAX_SETTINGS_DEPTH 4

static struct thp_settings settings_stack[MAX_SETTINGS_DEPTH];
static int settings_index;
static struct thp_settings saved_settings;

static const char * const thp_enabled_strings[] = {
	"never", "always", "inherit", "madvise", NULL
};

static const char * const thp_defrag_strings[] = {
	"always", "defer", "defer+madvise", "madvise", "never", NULL
};

/* @name's file under THP_SYSFS, its path in @path; failing is fatal. */
static int open_sysfs(const char *name, int flags, char *path, size_t len)
{
	int fd;

	snprintf(path, len, THP_SYSFS "%s", name);
	fd = open(path, flags);
	if (fd < 0)
		ksft_exit_fail_msg("open %s: %s\n", path, strerror(errno));
	return fd;
}

static void read_sysfs(const char *name, char *buf, size_t len)
{
	char path[256];
	int fd = open_sysfs(name, O_RDONLY, path, sizeof(path));
	ssize_t n;

	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		ksft_exit_fail_msg("read %s: %s\n", path, n ? strerror(errno) : "empty");
	buf[n] = '\0';
}

/* The index in @strings of the [bracketed] choice of @name. */
int thp_read_string(const char *name, const char * const strings[])
{
	char buf[256], *start, *end;
	int i;

	read_sysfs(name, buf, sizeof(buf));
	start = strchr(buf, '[');
	end = start ? strchr(start, ']') : NULL;
	if (!end)
		ksft_exit_fail_msg(THP_SYSFS "%s: no [choice] in \"%s\"\n", name, buf);
	*end = '\0';
	for (i = 0; strings[i]; i++)
		if (!strcmp(start + 1, strings[i]))
			return i;
	ksft_exit_fail_msg(THP_SYSFS "%s: unknown choice \"%s\"\n", name, start + 1);
	return -1;
}

void thp_write_string(const char *name, const char *val)
{
	char path[256];
	int fd = open_sysfs(name, O_WRONLY, path, sizeof(path));
	ssize_t n;

	n = write(fd, val, strlen(val));
	close(fd);
	if (n != (ssize_t)strlen(val))
		ksft_exit_fail_msg("write \"%s\" to %s: %s\n", val, path, strerror(errno));
}

unsigned long thp_read_num(const char *name)
{
	char buf[64];

	read_sysfs(name, buf, sizeof(buf));
	return strtoul(buf, NULL, 10);
}

void thp_write_num(const char *name, unsigned long num)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lu", num);
	thp_write_string(name, buf);
}

static int pmd_order(void)
{
	unsigned long pmd = thp_read_num("hpage_pmd_size");

	return __builtin_ctzl(pmd / getpagesize());
}

void thp_read_settings(struct thp_settings *s)
{
	int order, pmd = pmd_order();

	memset(s, 0, sizeof(*s));
	s->thp_enabled = thp_read_string("enabled", thp_enabled_strings);
	s->thp_defrag = thp_read_string("defrag", thp_defrag_strings);
	s->use_zero_page = thp_read_num("use_zero_page");
	s->khugepaged.defrag = thp_read_num("khugepaged/defrag");
	s->khugepaged.alloc_sleep_millisecs = thp_read_num("khugepaged/alloc_sleep_millisecs");
	s->khugepaged.scan_sleep_millisecs = thp_read_num("khugepaged/scan_sleep_millisecs");
	s->khugepaged.max_ptes_none = thp_read_num("khugepaged/max_ptes_none");
	s->khugepaged.max_ptes_swap = thp_read_num("khugepaged/max_ptes_swap");
	s->khugepaged.max_ptes_shared = thp_read_num("khugepaged/max_ptes_shared");
	s->khugepaged.pages_to_scan = thp_read_num("khugepaged/pages_to_scan");
	for (order = 0; order < NR_ORDERS; order++)
		s->hugepages[order].enabled = order == pmd ? THP_INHERIT : THP_NEVER;
}

void thp_write_settings(struct thp_settings *s)
{
	enum thp_enabled enabled = s->thp_enabled;
	enum thp_enabled pmd = s->hugepages[pmd_order()].enabled;

	if (pmd != THP_INHERIT)
		enabled = pmd;
	thp_write_string("enabled", thp_enabled_strings[enabled]);
	thp_write_string("defrag", thp_defrag_strings[s->thp_defrag]);
	thp_write_num("use_zero_page", s->use_zero_page);
	thp_write_num("khugepaged/defrag", s->khugepaged.defrag);
	thp_write_num("khugepaged/alloc_sleep_millisecs", s->khugepaged.alloc_sleep_millisecs);
	thp_write_num("khugepaged/scan_sleep_millisecs", s->khugepaged.scan_sleep_millisecs);
	thp_write_num("khugepaged/max_ptes_none", s->khugepaged.max_ptes_none);
	thp_write_num("khugepaged/max_ptes_swap", s->khugepaged.max_ptes_swap);
	thp_write_num("khugepaged/max_ptes_shared", s->khugepaged.max_ptes_shared);
	thp_write_num("khugepaged/pages_to_scan", s->khugepaged.pages_to_scan);
}

struct thp_settings *thp_current_settings(void)
{
	if (!settings_index)
		ksft_exit_fail_msg("%s(): nothing pushed\n", __func__);
	return &settings_stack[settings_index - 1];
}

void thp_push_settings(struct thp_settings *s)
{
	if (settings_index >= MAX_SETTINGS_DEPTH)
		ksft_exit_fail_msg("%s(): more than %d deep\n", __func__, MAX_SETTINGS_DEPTH);
	settings_stack[settings_index++] = *s;
	thp_write_settings(thp_current_settings());
}

/* As 6.12's: what is on top after the pop is written; there must be one. */
void thp_pop_settings(void)
{
	if (settings_index <= 0)
		ksft_exit_fail_msg("%s(): nothing pushed\n", __func__);
	--settings_index;
	thp_write_settings(thp_current_settings());
}

void thp_save_settings(void)
{
	thp_read_settings(&saved_settings);
}

void thp_restore_settings(void)
{
	thp_write_settings(&saved_settings);
}

bool thp_is_enabled(void)
{
	if (access(THP_SYSFS "enabled", F_OK))
		return false;
	return thp_read_string("enabled", thp_enabled_strings) != THP_NEVER;
}
