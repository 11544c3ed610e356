# netfault: make deps | build | test | unit | kernel | crash-trials | demo
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift

.PHONY: deps build test unit kernel crash-trials demo clean

deps:
	scripts/install-deps

build:
	$(SWIFT) build

# Everything CI runs: unit tests on this kernel, then the kernel tests inside user-mode Linux.
test: unit kernel

unit:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip NetFaultIntegrationTests --skip NetFaultNFTablesTests

# Kernel tests: nf_tables on this host's kernel, each test in its own network namespace; then
# netem, which needs a kernel that has it; user-mode Linux has it as modules.
# Then crash trials: CI runs 40 of them (about 5s each in user-mode Linux, where every
# process start pages in the Swift runtime over hostfs); `make crash-trials` runs 200.
CRASH_TRIALS ?= 40
kernel:
	scripts/netns-test
	scripts/uml-test
	scripts/crash-trials $(CRASH_TRIALS)

crash-trials: build
	scripts/crash-trials 200

demo: build
	scripts/demo

clean:
	rm -rf .build
