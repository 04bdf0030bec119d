/* SPDX-License-Identifier: GPL-2.0 */
/*
 * THP sysfs settings, saved, changed and put back: the part of the
 * interface of 6.12's selftests/mm/thp_settings.h that the MADV_CLR_HUGEPAGE
 * and PR_SET_THP_DISABLE tests use, written for 6.1 so that they build
 * unchanged. 6.1 has one THP size: hugepages[] is accepted for every
 * order, and the PMD order's entry, when it is not THP_INHERIT, decides
 * the top-level "enabled" as the per-size file would.
 */
#ifndef __THP_SETTINGS_H__
#define __THP_SETTINGS_H__

#include <stdbool.h>

enum thp_enabled {
	THP_NEVER,
	THP_ALWAYS,
	THP_INHERIT,
	THP_MADVISE,
};

enum thp_defrag {
	THP_DEFRAG_ALWAYS,
	THP_DEFRAG_DEFER,
	THP_DEFRAG_DEFER_MADVISE,
	THP_DEFRAG_MADVISE,
	THP_DEFRAG_NEVER,
};

#define NR_ORDERS 20

struct hugepages_settings {
	enum thp_enabled enabled;
};

struct khugepaged_settings {
	bool defrag;
	unsigned int alloc_sleep_millisecs;
	unsigned int scan_sleep_millisecs;
	unsigned int max_ptes_none;
	unsigned int max_ptes_swap;
	unsigned int max_ptes_shared;
	unsigned long pages_to_scan;
};

struct thp_settings {
	enum thp_enabled thp_enabled;
	enum thp_defrag thp_defrag;
	bool use_zero_page;
	struct khugepaged_settings khugepaged;
	struct hugepages_settings hugepages[NR_ORDERS];
};

int thp_read_string(const char *name, const char * const strings[]);
void thp_write_string(const char *name, const char *val);
unsigned long thp_read_num(const char *name);
void thp_write_num(const char *name, unsigned long num);

void thp_read_settings(struct thp_settings *settings);
void thp_write_settings(struct thp_settings *settings);
struct thp_settings *thp_current_settings(void);
void thp_push_settings(struct thp_settings *settings);
void thp_pop_settings(void);
void thp_save_settings(void);
void thp_restore_settings(void);
bool thp_is_enabled(void);

#endif /* __THP_SETTINGS_H__ */
