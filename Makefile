# gvisor-containerd-shim
GO ?= go
BIN := bin
SHIM := $(BIN)/gvisor-containerd-shim
# Debian packages the tests and the demo use as real peers.
PACKAGES := containerd runc runsc busybox-static
TEST_FLAGS ?= -count=1 -timeout 40m

.PHONY: all build setup test bench reliability clean

all: build

build:
	$(GO) build -o $(SHIM) ./cmd/gvisor-containerd-shim

# Installs the system packages the tests need when any is missing.
setup:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(GO) mod download

test: setup
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...

# The fault-injection suite alone; RELIABILITY_MODE=exec runs it over the
# fork path for comparison. Figures go to reliability.jsonl.
reliability: setup
	RELIABILITY_REPORT=$(CURDIR)/reliability.jsonl $(GO) test -count=1 -timeout 30m -v ./test/reliability/

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./publisher/

clean:
	rm -rf $(BIN)

# Runs one gVisor container through a throwaway containerd using the shim.
.PHONY: demo
demo: setup build
	$(GO) build -o $(BIN)/demo ./cmd/demo
	$(BIN)/demo -shim $(SHIM)
