/* SPDX-License-Identifier: GPL-2.0 */
/*
 * On-disk images of a pre-copy, CRIU-like: mm.img lists the VMAs,
 * pagemap.img the runs of pages and where their data is, pages.img the
 * data. Every header, index and run carries a CRC32; a reader refuses a
 * truncated or corrupt image and names the file and offset.
 */
#ifndef LAZYRESTORE_IMAGE_H
#define LAZYRESTORE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IMG_VERSION 2	/* 2: vma_rec carries the NUMA policy */

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

struct page_entry {
	uint64_t start_page;	/* address / page size */
	uint64_t nr_pages;
	uint64_t offset;	/* in pages.img */
	uint32_t crc;		/* of the data */
	uint32_t reserved;
};

struct img_error {
	char file[32];
	uint64_t offset;
	char msg[160];
};

struct img_writer {
	int dir_fd;
	int pages_fd;
	uint32_t page_size;
	uint64_t pages_off;
	struct page_entry *e;
	size_t n, cap;
};

struct image {
	int pages_fd;
	uint32_t page_size;
	struct vma_rec *vmas;
	size_t nvmas;
	struct page_entry *e;
	size_t n;
};

int img_writer_open(struct img_writer *w, const char *dir, uint32_t page_size,
		    struct img_error *err);
int img_writer_add(struct img_writer *w, uint64_t start_page, uint64_t nr_pages,
		   const void *data, struct img_error *err);
int img_writer_finish(struct img_writer *w, const struct vma_rec *vmas, size_t nvmas,
		      struct img_error *err);
void img_writer_abort(struct img_writer *w);

int img_open(struct image *img, const char *dir, struct img_error *err);
int img_read_entry(const struct image *img, size_t i, void *dst, struct img_error *err);
/* Entry @i read into @dst by other means (@got bytes, or -errno): all there, CRC right? */
int img_check_entry(const struct image *img, size_t i, const void *dst, ssize_t got,
		    struct img_error *err);
void img_close(struct image *img);

#endif
