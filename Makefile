# netfault: make deps | build | install | docs | test | unit | fuzz | kernel | vm | crash-trials | containers | demo | matrix | matrix-test | bench
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
# The unit tests run on a release configuration without optimization, in a tree of their own.
# Release, because a debug build of ArgumentParser re-validates every command definition on each
# parse (89% of a debug parse: the argument fuzz test's 10,000 vectors take about half an hour of
# CPU there); unoptimized, because optimizing the whole tree costs minutes of CPU and the unit
# tests gain nothing from it (the optimized binary users get is built and tested by `make containers`).
RELEASE_TEST = -c release -Xswiftc -Onone -Xswiftc -enable-testing --scratch-path .build/unit
KERNEL_SUITES = --skip NetFaultIntegrationTests --skip NetFaultNFTablesTests

.PHONY: deps build install docs test unit fuzz kernel netns uml vm crash-trials containers demo matrix matrix-test bench clean

deps:
	scripts/install-deps

build:
	$(SWIFT) build

# A release build with the Swift runtime and Foundation linked in, so it runs on a VM or in an
# image without a Swift toolchain (it needs libnl, libnftnl and libmnl), plus its man pages and
# bash, zsh and fish completions, generated from the programs' --help (scripts/generated-docs;
# the same as docs/man and docs/completions, which `make containers` checks). DESTDIR stages it
# (the container tests do).
PREFIX ?= /usr/local
STATIC = .build/static
MAN1 = $(DESTDIR)$(PREFIX)/share/man/man1
install:
	# One build for the three: SwiftPM plans once and links them side by side.
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(STATIC)
	# The man pages come from the binaries just built: generate-manual (a debug build of
	# ArgumentParser's tool) runs each with --experimental-dump-help. The package plugin would
	# compile the whole tree in release a second time, without the static runtime, for the same text.
	$(SWIFT) build --product generate-manual
	rm -rf $(STATIC)/generated
	scripts/generated-docs make $(STATIC)/release $(STATIC)/generated
	install -D -m 0755 $(STATIC)/release/netfault $(DESTDIR)$(PREFIX)/bin/netfault
	install -D -m 0755 $(STATIC)/release/netfault-serve $(DESTDIR)$(PREFIX)/bin/netfault-serve
	install -D -m 0755 $(STATIC)/release/netfault-matrix $(DESTDIR)$(PREFIX)/bin/netfault-matrix
	install -D -m 0644 -t $(MAN1) $(STATIC)/generated/man/netfault.1 $(STATIC)/generated/man/netfault-serve.1 \
		$(STATIC)/generated/man/netfault-matrix.1
	install -D -m 0644 $(STATIC)/generated/completions/netfault.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/netfault
	install -D -m 0644 $(STATIC)/generated/completions/_netfault $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_netfault
	install -D -m 0644 $(STATIC)/generated/completions/netfault.fish \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/netfault.fish

# docs/man and docs/completions again from the debug build's --help, after a change to a help
# text; commit them with it (`make containers` fails while they differ).
docs: build
	$(SWIFT) build --product generate-manual
	scripts/generated-docs write .build/debug

# Everything CI runs, stage by stage, with a table of the time each took. Two lanes side by
# side (scripts/stages): this kernel's tests and the builds in one, the emulated kernels in the
# other, each of which keeps one core busy for minutes. The first stage of each lane builds the
# debug tree (SwiftPM's lock makes the second wait for the first, then find it built).
test:
	scripts/stages netns unit containers matrix-test crash-trials // vm uml

# First the code-style limits (scripts/check-limits: files of at most 400 lines, functions of 60,
# lines of 120 columns in Sources/). The report writers' tests read the JUnit XML back with
# junitparser and open the HTML in headless Chromium; KubernetesManifestTests run
# kubernetes-validate on examples/kubernetes (scripts/install-deps installs all three); here a
# missing one fails, not skips.
unit:
	scripts/check-limits
	$(SWIFT) build $(RELEASE_TEST) --build-tests
	NETFAULT_REPORT_TOOLS=required $(SWIFT) test $(RELEASE_TEST) --skip-build $(KERNEL_SUITES)

# A longer fuzz run than the unit tests' 10,000 vectors, for changes to the command line.
FUZZ_VECTORS ?= 200000
fuzz:
	$(SWIFT) build $(RELEASE_TEST) --build-tests
	NETFAULT_FUZZ_VECTORS=$(FUZZ_VECTORS) $(SWIFT) test $(RELEASE_TEST) --skip-build --filter ArgumentFuzzTests

# Kernel tests: nf_tables on this host's kernel, each test in its own network namespace; netem
# in user-mode Linux; crash trials; then everything where netem and nf_tables meet, on Debian's
# own kernel in a VM.
kernel: netns uml crash-trials vm

netns:
	scripts/netns-test

uml:
	scripts/uml-test

# CI runs 40 crash trials (about 5s each in user-mode Linux, where every process start pages in
# the Swift runtime over hostfs); `make crash-trials CRASH_TRIALS=200` runs more.
CRASH_TRIALS ?= 40
crash-trials: build
	scripts/crash-trials $(CRASH_TRIALS)

vm:
	scripts/vm-test

# netfault in real Docker containers (a private dockerd of the tests' own): `make install` staged,
# so the image holds the binary users install, with no Swift toolchain in it; then the man pages
# and completions it generated, against docs/man and docs/completions.
CONTAINER_STAGE = $(CURDIR)/.build/container-stage
containers:
	rm -rf $(CONTAINER_STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(CONTAINER_STAGE) PREFIX=/usr/local
	NETFAULT_STAGE=$(CONTAINER_STAGE) NETFAULT_BIN=$(CONTAINER_STAGE)/usr/local/bin/netfault scripts/container-test
	# The pages and completions just installed, against the committed ones (no build of its own).
	scripts/generated-docs check $(STATIC)/release

demo: build
	scripts/demo

# The fault matrix of examples/ichnaea (MySQL and Redis, each under a delay, a blackhole, a hang,
# resets, resets of 30% of new connections and a transient blackout, through the kernel and
# through the built-in proxy) against real servers, two cells at a time (kernel faults scoped to each
# cell's command; NETFAULT_MATRIX_JOBS=1 runs one): out/matrix/report.json, report.xml (JUnit), report.html.
matrix: build
	scripts/matrix

# make matrix, then what its reports must show for the example (scripts/matrix-check).
matrix-test: matrix
	scripts/matrix-check out/matrix

# netfault against the tc/nft command lines it replaces and a long-lived libnftables process,
# wall and CPU, appended to docs/bench.md (scripts/bench): BENCH_SAMPLES=N sets the samples per
# variant (default 30), BENCH_PARTS picks parts, BENCH_NOTE adds a note to the run's section.
bench:
	scripts/bench

clean:
	rm -rf .build
