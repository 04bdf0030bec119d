/* SPDX-License-Identifier: GPL-2.0 */
/* lazyrestore knobs --restore|--status: the khugepaged knobs a killed run left. */
#ifndef LAZYRESTORE_KNOBS_CMD_H
#define LAZYRESTORE_KNOBS_CMD_H

/*
 * argv[1] is "knobs". Exit status: 0 done (restored, or nothing to),
 * 1 refused (a run still holds the knobs) or failed, 2 bad arguments.
 */
int knobs_main(int argc, char **argv);

#endif
