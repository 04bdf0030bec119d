# The kernel test loop and the series. `make help` lists the targets.
SHELL := /bin/bash
S := scripts

.PHONY: help deps tree config build kernel selftests export kselftests check check-series check-host harness vm-shell clean distclean

help:
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
clean:
	rm -rf build
distclean: clean
	rm -rf kernel
