/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One worker: a thread applying random operations to its own arena, with
 * a userfaultfd server thread of its own, checking the kernel against the
 * arena's model after each operation. Arenas never overlap, so a worker's
 * model is its own: the sequence it applies depends only on the seed and
 * its index, whatever the other workers and khugepaged do.
 */
#ifndef MADVFUZZ_WORKER_H
#define MADVFUZZ_WORKER_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

#define FUZZ_OPS(X) \
	X(MMAP, "mmap", 4) X(MUNMAP, "munmap", 3) X(FILL, "fill", 12) X(READ, "read", 10) \
	X(DONTNEED, "dontneed", 5) X(HUGEPAGE, "hugepage", 8) X(NOHUGEPAGE, "nohugepage", 8) \
	X(CLR, "clr_hugepage", 8) X(COLLAPSE, "collapse", 5) X(MPROTECT, "mprotect", 5) \
	X(MREMAP, "mremap", 4) X(FORK, "fork", 1) X(REGISTER, "uffd_register", 5) \
	X(UNREGISTER, "uffd_unregister", 3) X(PRCTL, "thp_disable", 2)

enum fuzz_op {
#define X(op, name, weight) OP_##op,
	FUZZ_OPS(X)
#undef X
	OP_N
};

extern const char *const fuzz_op_name[OP_N];

/* Counted by every worker and forked child: in a MAP_SHARED page. */
struct fuzz_counts {
	atomic_ulong ops[OP_N];		/* done, children's included */
	atomic_ulong skipped[OP_N];	/* nothing to apply it to (no hole for an mmap, say) */
	atomic_ulong collapsed;		/* PMD ranges MADV_COLLAPSE collapsed */
	atomic_ulong collapse_err[5];	/* MADV_COLLAPSE's EINVAL, EAGAIN, ENOMEM, EBUSY, others */
	atomic_ulong served;		/* faults the servers served */
	atomic_ulong populated_before_register;	/* holes found populated at registration */
	atomic_ulong violations;
	atomic_ulong children;
};

struct fuzz_cfg {
	uint64_t seed;
	unsigned int workers;
	int only;			/* run worker @only alone (a replay), -1 all */
	double seconds;
	unsigned long max_ops;		/* per worker, 0 no limit */
	size_t arena_pages;
	bool clr;			/* the kernel has MADV_CLR_HUGEPAGE */
	bool fork_children;
	const char *trace;		/* PREFIX: PREFIX.K gets worker K's operations */
};

struct worker {
	const struct fuzz_cfg *cfg;
	struct fuzz_counts *cnt;
	struct arena a;
	uint64_t rng;
	unsigned long opno;
	bool child;
	int uffd, pagemap;
	int stop_pipe[2];
	pthread_t thread, server;
	bool server_started;
	bool owns_arena;		/* nothing else mapped there at the start: ours to unmap */
	uint64_t *pm;			/* the arena's pagemap entries */
	void *page;			/* the server's source page */
	atomic_uint server_bad;		/* faults on a page the model has no lazy content for */
	char server_what[160];
	FILE *trace;
	double deadline;
	atomic_bool *stop;		/* every worker stops at the first violation */
	int result;			/* 0, or 1 after a violation, -1 on a setup error */
};

/* Sets the worker up (its arena mapped, pre-filled and checked once): 0 or -1, said on stderr. */
int worker_init(struct worker *w, const struct fuzz_cfg *cfg, struct fuzz_counts *cnt,
		unsigned int id, uint64_t base, atomic_bool *stop, double deadline);
void *worker_main(void *arg);
void worker_free(struct worker *w);
/* splitmix64: the workers' generator; the same seed, the same sequence. */
uint64_t fuzz_rand(uint64_t *s);
#endif
