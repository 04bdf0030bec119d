# The kernel test loop and the series. `make help` lists the targets.
SHELL := /bin/bash
S := scripts

.PHONY: demo help deps tree config build kernel selftests export kselftests check check-series check-host harness vm-shell clean distclean

help:
	@echo "make demo         build and boot the patched kernel, migrate a live workload"
	@echo "                  with each restore strategy, print the table"
	@echo "make check        everything: deps, tree, config, build, series checks,"
	@echo "                  host selftests, harness tests, guest kselftests; ends"
	@echo "                  with 'N passed, N failed, N skipped'"
	@echo "make kselftests   the guest selftests only (T='name ...' for some)"
	@echo "make export       kernel/ commits + repo selftest sources -> patches/"
	@echo "make check-series sync, cover letter, checkpatch, each patch builds"
	@echo "make deps|tree|config|build   one step of the pipeline"
	@echo "make clean        remove build/ (keeps kernel/ and ccache)"

deps:
	$(S)/deps
tree: deps
	$(S)/tree
config: tree
	$(S)/config
build kernel: config
	$(S)/build
selftests:
	$(S)/build-selftests
export:
	$(S)/export
kselftests: build
	$(S)/kselftests $(T)
check-series: build
	$(S)/check-series
check-host:
	tests/host-selftests /dev/null
harness: build
	tests/harness/run /dev/null
check:
	$(S)/check
demo: build
	@echo "lazyrestore on the patched kernel (QEMU TCG guest), khugepaged aggressive:"
	$(S)/vm --timeout 600 -- build/userspace/lazyrestore run --strategy all --size 32
clean:
	rm -rf build
distclean: clean
	rm -rf kernel
