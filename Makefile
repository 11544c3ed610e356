# netfault: make deps | build | test | unit | kernel | demo
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift

.PHONY: deps build test unit kernel demo clean

deps:
	scripts/install-deps

build:
	$(SWIFT) build

# Everything CI runs: unit tests on this kernel, then the kernel tests inside user-mode Linux.
test: unit kernel

unit:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip NetFaultIntegrationTests

# Kernel tests: netem needs a kernel that has it; user-mode Linux has it as modules.
kernel:
	scripts/uml-test

demo: build
	scripts/demo

clean:
	rm -rf .build
