# netfault: make deps | build | test | unit | fuzz | kernel | vm | crash-trials | demo
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
# The unit tests run on an optimized build: the argument fuzz test parses 10,000 vectors, which
# takes about 10 minutes on a debug build of ArgumentParser and seconds on a release one.
RELEASE_TEST = -c release -Xswiftc -enable-testing
KERNEL_SUITES = --skip NetFaultIntegrationTests --skip NetFaultNFTablesTests

.PHONY: deps build test unit fuzz kernel netns uml vm crash-trials demo clean

deps:
	scripts/install-deps

build:
	$(SWIFT) build

# Everything CI runs, stage by stage, with a table of the time each took.
test:
	scripts/stages unit netns uml crash-trials vm

unit:
	$(SWIFT) build $(RELEASE_TEST) --build-tests
	$(SWIFT) test $(RELEASE_TEST) --skip-build $(KERNEL_SUITES)

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

demo: build
	scripts/demo

clean:
	rm -rf .build
