// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers for tests of THP advice on VMAs: what smaps says of a VMA,
 * mappings whose VMA cannot merge with a neighbour, THP settings put back
 * on every exit, the test binary run again in a fresh mm, and a thread
 * that serves userfaultfd faults.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/userfaultfd.h>

#include "thp_settings.h"
#include "thp_vma.h"
#include "uffd-common.h"

static void parse_vmflags(const char *flags, struct smaps_vma *vma)
{
	const char *p = flags;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, "hg", 2) && (p[2] == ' ' || p[2] == '\n' || !p[2]))
			vma->hg = true;
		if (!strncmp(p, "nh", 2) && (p[2] == ' ' || p[2] == '\n' || !p[2]))
			vma->nh = true;
		while (*p && *p != ' ')
			p++;
	}
}

bool smaps_vma_at(const void *addr, struct smaps_vma *vma)
{
	unsigned long target = (unsigned long)addr;
	unsigned long start, end;
	bool found = false;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (found)
				break;
			if (start <= target && target < end) {
				found = true;
				memset(vma, 0, sizeof(*vma));
				vma->start = start;
				vma->end = end;
				vma->thp_eligible = -1;
			}
			continue;
		}
		if (!found)
			continue;
		if (!strncmp(line, "VmFlags:", 8))
			parse_vmflags(line + 8, vma);
		else if (!strncmp(line, "THPeligible:", 12))
			sscanf(line + 12, "%d", &vma->thp_eligible);
		else if (!strncmp(line, "AnonHugePages:", 14))
			sscanf(line + 14, "%lu", &vma->anon_huge_kb);
	}
	free(line);
	fclose(f);
	return found;
}

int vma_count(void)
{
	char *line = NULL;
	size_t cap = 0;
	int count = 0;
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0)
		count++;
	free(line);
	fclose(f);
	return count;
}

bool thp_configured(void)
{
	return access(THP_SYSFS_DIR "/enabled", F_OK) == 0;
}

bool madv_clr_hugepage_supported(void)
{
	size_t len = getpagesize();
	bool supported;
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	supported = madvise(p, len, MADV_CLR_HUGEPAGE) == 0;
	munmap(p, len);
	return supported;
}

/*
 * Map @size bytes of anonymous memory at a @pmd_size boundary, with a
 * PROT_NONE PMD on each side so that the VMA never merges with another
 * one: tests compare its bounds and the number of VMAs.
 */
void *mmap_pmd_aligned(size_t size, size_t pmd_size, void **reservation,
		       size_t *reservation_size)
{
	size_t total = size + 3 * pmd_size;
	unsigned long area;
	char *res;

	res = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	area = ((unsigned long)res + 2 * pmd_size - 1) & ~(pmd_size - 1);
	if (mmap((void *)area, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		munmap(res, total);
		return MAP_FAILED;
	}
	*reservation = res;
	*reservation_size = total;
	return (void *)area;
}

/*
 * 0 if a PMD-sized THP can be allocated now, else the errno of
 * MADV_COLLAPSE on a full range (which ignores the sysfs settings): a test
 * that needs a collapse skips on it rather than blame the kernel.
 */
static int pmd_thp_allocation_error(void)
{
	size_t pmd = read_pmd_pagesize(), res_size;
	int err = 0;
	void *res;
	char *p;

	p = mmap_pmd_aligned(pmd, pmd, &res, &res_size);
	if (p == MAP_FAILED)
		return errno;
	memset(p, 1, pmd);
	if (madvise(p, pmd, MADV_COLLAPSE))
		err = errno;
	munmap(res, res_size);
	return err;
}

/*
 * Wait until khugepaged has finished @scans more full scans of its mm list,
 * for at most @seconds. Other processes' mms count too: a test that needs
 * its own mm scanned puts a range that must collapse beside the one it
 * checks.
 */
bool wait_for_khugepaged_scans(int scans, int seconds)
{
	unsigned long target = thp_read_num("khugepaged/full_scans") + scans;
	int i;

	for (i = 0; i < seconds * 10; i++) {
		if (thp_read_num("khugepaged/full_scans") >= target)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

static pid_t thp_settings_guardian;	/* the process that saved them */

bool thp_settings_changeable(void)
{
	return thp_settings_guardian != 0;
}

const char *collapse_test_why_not(void)
{
	static char why[128];
	int err;

	if (!thp_settings_changeable())
		return "changing THP settings needs root and a writable " THP_SYSFS_DIR;
	err = pmd_thp_allocation_error();
	if (!err)
		return NULL;
	snprintf(why, sizeof(why), "no PMD-sized THP can be allocated (MADV_COLLAPSE: %s)",
		 strerror(err));
	return why;
}

/*
 * Only the guardian, main(), puts them back: the harness's children
 * inherit the handlers and the atexit() entry. Each test runs in a
 * process group of its own (the harness's setpgrp()), so a ^C from the
 * terminal reaches main() alone: it puts the settings back and dies of
 * the signal while the test it waited for runs on, and what that test
 * changes afterwards only its own teardown puts back. The guardian
 * spends the run in waitpid(), which is where a signal finds it, so the
 * stdio that thp_restore_settings() uses is never re-entered.
 */
static void restore_thp_settings(void)
{
	if (getpid() == thp_settings_guardian)
		thp_restore_settings();
}

static void restore_thp_settings_and_reraise(int sig)
{
	restore_thp_settings();
	signal(sig, SIG_DFL);
	raise(sig);
}

void thp_settings_guard(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct thp_settings current;
	unsigned int i;

	/* access() sees a read-only sysfs (EROFS) even as root. */
	if (!thp_configured() || geteuid() != 0 ||
	    access(THP_SYSFS_DIR "/enabled", W_OK) ||
	    access(THP_SYSFS_DIR "/khugepaged/scan_sleep_millisecs", W_OK))
		return;
	thp_save_settings();
	thp_read_settings(&current);
	thp_push_settings(&current);
	thp_settings_guardian = getpid();
	/* test_harness_run() ends in exit(): nothing after it runs. */
	atexit(restore_thp_settings);
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		signal(sigs[i], restore_thp_settings_and_reraise);
}

int thp_vma_test_main(int argc, char **argv,
		      int (*harness_run)(int argc, char **argv))
{
	/* The role is also argv[0]: a stray variable in the environment is not one. */
	if (self_helper_role() && !strcmp(argv[0], self_helper_role()))
		return run_self_helper(self_helper_role());
	thp_settings_guard();
	return harness_run(argc, argv);
}

#define SELF_HELPER_ENV "THP_VMA_SELF_HELPER"

const char *self_helper_role(void)
{
	return getenv(SELF_HELPER_ENV);
}

pid_t self_helper_spawn(const char *role, int *to_helper, int *from_helper)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe(in))
		return -errno;
	if (pipe(out)) {
		int err = errno;

		close(in[0]);
		close(in[1]);
		return -err;
	}
	pid = fork();
	if (pid < 0) {
		int err = errno;

		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -err;
	}
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(125);
		setenv(SELF_HELPER_ENV, role, 1);
		execl("/proc/self/exe", role, NULL);
		_exit(126);
	}
	close(in[0]);
	close(out[1]);
	*to_helper = in[1];
	*from_helper = out[0];
	return pid;
}

const char *userfaultfd_open_why_not(void)
{
	uint64_t features = 0;
	int err;

	if (!userfaultfd_open(&features))
		return NULL;
	err = errno;
	if (uffd >= 0)
		close(uffd);
	uffd = -1;
	if (err == EPERM)
		return "userfaultfd not permitted: needs root or vm.unprivileged_userfaultfd=1";
	return "userfaultfd unavailable: CONFIG_USERFAULTFD off?";
}

static int serve_fault(struct fault_server *srv, const struct uffd_msg *msg)
{
	unsigned long addr = msg->arg.pagefault.address & ~(srv->page_size - 1);
	struct uffdio_copy copy = {
		.dst = addr,
		.src = (unsigned long)srv->page,
		.len = srv->page_size,
	};

	srv->fill(srv->page, addr);
	if (ioctl(srv->uffd, UFFDIO_COPY, &copy) && errno != EEXIST)
		return errno;
	srv->faults++;
	return 0;
}

static void *fault_server_main(void *arg)
{
	struct fault_server *srv = arg;
	struct pollfd fds[2] = {
		{ .fd = srv->uffd, .events = POLLIN },
		{ .fd = srv->stop_fd, .events = POLLIN },
	};
	struct uffd_msg msg;

	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			srv->error = errno;
			break;
		}
		if (fds[1].revents)
			break;
		if (read(srv->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EAGAIN)
				continue;
			srv->error = errno;
			break;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			srv->error = EPROTO;
			break;
		}
		srv->error = serve_fault(srv, &msg);
		if (srv->error)
			break;
	}
	return NULL;
}

int fault_server_start(struct fault_server *srv, int uffd,
		       void (*fill)(void *page, unsigned long addr))
{
	memset(srv, 0, sizeof(*srv));
	srv->uffd = uffd;
	srv->fill = fill;
	srv->page_size = getpagesize();
	srv->page = aligned_alloc(srv->page_size, srv->page_size);
	if (!srv->page)
		return -ENOMEM;
	srv->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (srv->stop_fd < 0) {
		free(srv->page);
		return -errno;
	}
	if (pthread_create(&srv->thread, NULL, fault_server_main, srv)) {
		close(srv->stop_fd);
		free(srv->page);
		return -EAGAIN;
	}
	return 0;
}

/* Stop the server; -errno of its first failure, 0 if it had none. */
int fault_server_stop(struct fault_server *srv)
{
	uint64_t one = 1;

	if (write(srv->stop_fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	pthread_join(srv->thread, NULL);
	close(srv->stop_fd);
	free(srv->page);
	return -srv->error;
}
