# The kernel test loop and the series. `make help` lists the targets.
SHELL := /bin/bash
S := scripts

.PHONY: demo bench bench-host bench-guest fuzz soak help deps tree config build kernel selftests export export-6.1 kselftests check check-6.1 check-series check-host harness vm-shell clean distclean

help:
	@echo "make demo         build and boot the patched kernel, migrate a live workload"
	@echo "                  with each restore strategy, print the table"
	@echo "make check        everything: deps, tree, config, build, series checks,"
	@echo "                  host selftests, harness tests, guest kselftests; ends"
	@echo "                  with 'N passed, N failed, N skipped'"
	@echo "make check-6.1    the series on Debian 12's 6.1 (patches/6.1/): its tree,"
	@echo "                  kernel, series checks and guest tests (BASE=6.1 for any"
	@echo "                  other target); not part of check, which only applies it"
	@echo "make bench        the restore pipeline against this machine's limits, on"
	@echo "                  the host and in the guest: build/bench/{host,guest}/"
	@echo "                  report.txt, bench.json and plots (bench-host|bench-guest)"
	@echo "make fuzz         libFuzzer on the image reader and the message decoder,"
	@echo "                  FUZZ_MIN minutes each (default 10); not part of check"
	@echo "make soak         madvfuzz and the stress selftest on a KASAN + lockdep kernel,"
	@echo "                  SOAK_MIN minutes (default 10, SOAK_SEED to replay); not part of check"
	@echo "make kselftests   the guest selftests only (T='name ...' for some)"
	@echo "make export       kernel/ commits + repo selftest sources -> patches/"
	@echo "make export-6.1   kernel-6.1/ commits + the same sources -> patches/6.1/"
	@echo "make check-series sync, cover letter, checkpatch, each patch builds"
	@echo "make deps|tree|config|build   one step of the pipeline"
	@echo "make vm-shell     a root shell in the guest on the built kernel"
	@echo "make clean        remove build/ (keeps kernel/, kernel-6.1/ and ccache)"

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
export-6.1:
	BASE=6.1 $(S)/export
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
check-6.1:
	BASE=6.1 $(S)/check
bench: bench-host bench-guest
bench-host: build
	$(S)/bench --out build/bench/host
	$(S)/bench-report.py build/bench/host
# Guest: 1 GiB at most (source, destination and images share its memory).
bench-guest: build
	rm -rf build/bench/guest
	$(S)/vm --mem 6144 --timeout 3000 --run-dir build/bench/guest-run -- \
		$(S)/bench --guest --out /run/lazyvm/bench --sizes 256,1024 --fill-mib 256
	rm -rf build/bench/guest && mv build/bench/guest-run/bench build/bench/guest
	$(S)/bench-report.py build/bench/guest
fuzz:
	$(S)/fuzz
soak: build
	$(S)/soak

# One boot: the restore table, then the running-region scenario (THP of
# memory the restored process keeps faulting in during the restore window).
demo: build
	@echo "lazyrestore on the patched kernel (QEMU TCG guest), khugepaged aggressive:"
	$(S)/vm --timeout 900 -- sh -c 'build/userspace/lazyrestore run --strategy all --size 32; a=$$?; \
		build/userspace/lazyrestore scenario running-region --size 8; b=$$?; exit $$((a ? a : b))'
# An interactive root shell in the guest on the built kernel; exit powers it off.
vm-shell: build
	$(S)/vm --shell
clean:
	rm -rf build
distclean: clean
	rm -rf kernel kernel-6.1
