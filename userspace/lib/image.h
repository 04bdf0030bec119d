/* SPDX-License-Identifier: GPL-2.0 */
/*
 * On-disk images of a pre-copy, CRIU-like: mm.img lists the VMAs,
 * pagemap.img the runs of pages and where their data is, pages.img the
 * data. Every header, index and run carries a CRC32; a reader refuses a
 * truncated or corrupt image and names the file and offset.
 *
 * As CRIU's pagemap marks entries PE_PRESENT or PE_LAZY, an entry here is
 * either data or lazy: a lazy run's data is not in pages.img, the
 * lazy-pages handler serves it after the restore. The index is sorted by
 * page, data and lazy entries mixed, none overlapping another.
 */
#ifndef LAZYRESTORE_IMAGE_H
#define LAZYRESTORE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "runs.h"

/* 2: vma_rec carries the NUMA policy; 3: page_entry.flags, lazy entries */
#define IMG_VERSION 3

/* mm.img and pagemap.img start with this, then @count entries. */
struct img_header {
	char magic[8];
	uint32_t version;
	uint32_t page_size;
	uint64_t count;
	uint32_t entries_crc;
	uint32_t header_crc;	/* of the fields above */
};

enum thp_advice { THP_ADVICE_NONE = 0, THP_ADVICE_HUGEPAGE = 1, THP_ADVICE_NOHUGEPAGE = 2 };

struct vma_rec {
	uint64_t start;
	uint64_t end;
	uint32_t prot;
	uint32_t thp;		/* enum thp_advice */
	uint32_t mpol;		/* MPOL_* of the VMA; MPOL_DEFAULT (0) when none */
	uint32_t reserved;
	uint64_t nodes;		/* its node mask (nodes 0-63) */
};

/* page_entry.flags */
#define IMG_PE_LAZY	(1u << 0)	/* not in pages.img: offset and crc are 0 */
#define IMG_PE_KNOWN	IMG_PE_LAZY	/* any other bit is refused */

struct page_entry {
	uint64_t start_page;	/* address / page size */
	uint64_t nr_pages;
	uint64_t offset;	/* in pages.img */
	uint32_t crc;		/* of the data */
	uint32_t flags;		/* IMG_PE_* */
};

/* Prefix of error file names: a round of an image set says which ("2/"). */
#define IMG_LABEL_MAX 12


struct img_writer {
	char label[IMG_LABEL_MAX];
	int dir_fd;
	int pages_fd;
	uint32_t page_size;
	uint64_t pages_off;
	struct page_entry *e;
	size_t n, cap;
};

/*
 * img->e holds only the data entries, so whoever reads every run of it
 * reads pages.img; the lazy entries are a set of pages, merged where
 * they touch, since what matters to the handler is which pages it owes.
 */
struct image {
	char label[IMG_LABEL_MAX];
	int pages_fd;
	uint32_t page_size;
	struct vma_rec *vmas;
	size_t nvmas;
	struct page_entry *e;	/* data entries, sorted */
	size_t n;
	struct runs lazy;	/* pages of the lazy entries */
};

int img_writer_open(struct img_writer *w, const char *dir, uint32_t page_size,
		    struct err *err);
/* @label prefixes the file names *err gives: "" for a lone image. */
int img_writer_open_as(struct img_writer *w, const char *dir, const char *label,
		       uint32_t page_size, struct err *err);
int img_writer_add(struct img_writer *w, uint64_t start_page, uint64_t nr_pages,
		   const void *data, struct err *err);
/* Entries may come in any order: the index is sorted when finished. */
int img_writer_add_lazy(struct img_writer *w, uint64_t start_page, uint64_t nr_pages,
			struct err *err);
int img_writer_finish(struct img_writer *w, const struct vma_rec *vmas, size_t nvmas,
		      struct err *err);
void img_writer_abort(struct img_writer *w);

int img_open(struct image *img, const char *dir, struct err *err);
int img_open_as(struct image *img, const char *dir, const char *label, struct err *err);
int img_read_entry(const struct image *img, size_t i, void *dst, struct err *err);
/* Entry @i read into @dst by other means (@got bytes, or -errno): all there, CRC right? */
int img_check_entry(const struct image *img, size_t i, const void *dst, ssize_t got,
		    struct err *err);
void img_close(struct image *img);

#endif
