# gvisor-containerd-shim
GO ?= go
BIN := bin
SHIM := $(BIN)/gvisor-containerd-shim
# Debian packages the tests and the demo use as real peers (one list: add
# new ones here). containernetworking-plugins: the CNI plugins of CRI pods.
PACKAGES := containerd runc runsc busybox-static containernetworking-plugins
# The CRI tests drive containerd with crictl; make critest runs critest.
CRI_TOOLS := sigs.k8s.io/cri-tools@v1.37.0
TEST_FLAGS ?= -count=1 -timeout 40m
# Pinned; a finding fails make test (a deliberate exception carries a
# //lint:ignore with its reason).
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The versions the tests run against besides Debian's runsc and containerd
# 1.6, pinned here only: the current runsc and containerd 1.7, built below.
GVISOR_VERSION := v0.0.0-20260905035102-160fafc42237
RUNSC_CURRENT := $(BIN)/runsc-current
CONTAINERD17_VERSION := v1.7.29
CONTAINERD17 := $(BIN)/containerd-1.7

.PHONY: all build setup test bench bench-tool reliability clean

all: build

# What ships, one process per container: static (CGO_ENABLED=0: no dynamic
# loader, libc or pthread stacks to map in each shim, 0.5-1 ms less to start),
# without build paths, symbol table or DWARF (-trimpath -s -w: 19 MB -> 13 MB;
# panics keep their stack traces), and with Go's previous collector
# (GOEXPERIMENT=nogreenteagc, Go 1.26): Green Tea writes its mark state into
# the last bytes of every small-object span when the span is set up, so a
# span the shim has only begun to fill holds two resident pages, not one:
# 100-150 KiB more private memory per shim, for a collector that an idle shim
# never runs (docs/benchmarks.md). Tests build the shim through this target
# (internal/containerdtest.BuildShim), so what is tested is what ships.
SHIP_BUILD := CGO_ENABLED=0 GOEXPERIMENT=nogreenteagc $(GO) build -trimpath -ldflags='-s -w'
build:
	$(SHIP_BUILD) -o $(SHIM) ./cmd/gvisor-containerd-shim

# The least a shim on the same dependencies costs, built the same way
# (cmd/shim-floor); `make footprint` measures it next to both shims.
FLOOR := $(BIN)/shim-floor
.PHONY: floor footprint
floor:
	$(SHIP_BUILD) -o $(FLOOR) ./cmd/shim-floor

# Per-container cost of our shim, containerd-shim and the floor, side by
# side (docs/benchmarks.md); FOOTPRINT_FLAGS passes more, e.g. -containers 8.
FOOTPRINT_FLAGS ?=
footprint: setup build floor
	cd cmd/publish-bench && $(GO) run . footprint -shim $(CURDIR)/$(SHIM) -floor $(CURDIR)/$(FLOOR) $(FOOTPRINT_FLAGS)

# Whether the shim's one P slows it under a burst of concurrent execs, against
# [shim] max_procs = 2 (docs/benchmarks.md); BURST_FLAGS passes more, e.g. -execs 50.
BURST_FLAGS ?=
.PHONY: burst
burst: setup build
	cd cmd/publish-bench && $(GO) run . burst -shim $(CURDIR)/$(SHIM) $(BURST_FLAGS)

# containerd's containerd-shim built from its release's source and go.mod
# the way ours ships (SHIP_BUILD), into bin/containerd-shim-<version>: what
# the toolchain alone changes (docs/benchmarks.md); pass it to footprint
# with FOOTPRINT_FLAGS='-containerd-shim bin/...'. Debian's is v1.6.20.
CONTAINERD_SOURCE_VERSION ?= v1.6.20
.PHONY: containerd-shim-source
containerd-shim-source:
	@src=$$($(GO) mod download -json github.com/containerd/containerd@$(CONTAINERD_SOURCE_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$src" || { echo "containerd $(CONTAINERD_SOURCE_VERSION): not downloaded" >&2; exit 1; }; \
	tmp=$$(mktemp -d) && trap 'chmod -R u+w '$$tmp'; rm -rf '$$tmp EXIT && cp -r "$$src"/. $$tmp && chmod -R u+w $$tmp && \
	cd $$tmp && $(SHIP_BUILD) -mod=mod -o $(CURDIR)/$(BIN)/containerd-shim-$(CONTAINERD_SOURCE_VERSION) ./cmd/containerd-shim

# gVisor's own v2 shim, gvisor.dev/gvisor/shim at GVISOR_VERSION (the runsc
# it is built to match), into bin/gvisor-shim-<version>/, once per version,
# linked as bin/containerd-shim-runsc-v1: the third contender of
# `make cri-bench-gvisor`. One line of it is changed, on a copy of the
# module's source, and the build fails if that line is not there: its
# manager sets the new shim's OOM score to -999, which needs
# CAP_SYS_RESOURCE, and fails every shim start without it (this VM; many
# nested nodes); 0 leaves the score containerd's. Nothing else is changed.
# Built like ours (SHIP_BUILD), so the toolchain is no difference between them.
GVISOR_SHIM := $(BIN)/containerd-shim-runsc-v1
.PHONY: gvisor-shim
gvisor-shim: $(GVISOR_SHIM)
$(BIN)/gvisor-shim-$(GVISOR_VERSION)/containerd-shim-runsc-v1:
	@src=$$($(GO) mod download -json gvisor.dev/gvisor@$(GVISOR_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$src" || { echo "gvisor.dev/gvisor@$(GVISOR_VERSION): not downloaded" >&2; exit 1; }; \
	tmp=$$(mktemp -d) && trap 'chmod -R u+w '$$tmp'; rm -rf '$$tmp EXIT && cp -r "$$src"/. $$tmp && chmod -R u+w $$tmp && \
	f=$$tmp/pkg/shim/v1/manager.go && \
	{ grep -qx '	oomScoreMax = -999' $$f || { echo "gvisor-shim: 'oomScoreMax = -999' not found in pkg/shim/v1/manager.go at $(GVISOR_VERSION)" >&2; exit 1; }; } && \
	sed -i 's/^	oomScoreMax = -999$$/	oomScoreMax = 0/' $$f && \
	cd $$tmp && $(SHIP_BUILD) -mod=mod -o $(CURDIR)/$@ ./shim
$(GVISOR_SHIM): $(BIN)/gvisor-shim-$(GVISOR_VERSION)/containerd-shim-runsc-v1 FORCE
	@test "$$(readlink $@)" = gvisor-shim-$(GVISOR_VERSION)/containerd-shim-runsc-v1 || ln -sfn gvisor-shim-$(GVISOR_VERSION)/containerd-shim-runsc-v1 $@

# What the tests need: the system packages, and the current runsc and
# containerd 1.7 they also run against (below).
setup: setup-packages $(RUNSC_CURRENT) $(CONTAINERD17)

# Installs those of the Debian packages named in $(1) that are not installed
# (scripts/missing-packages: removed but not purged counts as missing).
define install-packages
	@missing=$$(scripts/missing-packages $(1)); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

# The system packages the tests need, every module they build, and crictl.
.PHONY: setup-packages
setup-packages:
	$(call install-packages,$(PACKAGES))
	$(GO) mod download
	cd cmd/publish-bench && $(GO) mod download
	@test -x $(BIN)/crictl || GOBIN=$(CURDIR)/$(BIN) $(GO) install $(subst @,/cmd/crictl@,$(CRI_TOOLS))

# The current gVisor runsc, the one users install (GVISOR_VERSION). Static
# (CGO_ENABLED=0): a cgo build fails every sandbox, whose chroot has no
# dynamic loader ("error executing umounter"). Built once per version into
# bin/runsc-<version>/runsc (the tests find it on PATH as runsc: RUNSC=...,
# internal/ctrdaemon); bin/runsc-current links to the pinned one.
$(BIN)/runsc-$(GVISOR_VERSION)/runsc:
	CGO_ENABLED=0 GOBIN=$(CURDIR)/$(@D) $(GO) install gvisor.dev/gvisor/runsc@$(GVISOR_VERSION)

# FORCE: relinked whenever it names another version, whatever the mtimes.
$(RUNSC_CURRENT): $(BIN)/runsc-$(GVISOR_VERSION)/runsc FORCE
	@test "$$(readlink $@)" = runsc-$(GVISOR_VERSION)/runsc || ln -sfn runsc-$(GVISOR_VERSION)/runsc $@

# containerd 1.7 (Ubuntu 24.04's line, CONTAINERD17_VERSION), built from its
# module and go.mod (the main module pins 1.6) without the snapshotters this
# VM lacks, into bin/containerd-<version>/containerd (CONTAINERD=...);
# bin/containerd-1.7 links to it. Its runc handler still runs Debian's
# containerd-shim (v1).
$(BIN)/containerd-$(CONTAINERD17_VERSION)/containerd:
	@src=$$($(GO) mod download -json github.com/containerd/containerd@$(CONTAINERD17_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$src" || { echo "containerd $(CONTAINERD17_VERSION): not downloaded" >&2; exit 1; }; \
	tmp=$$(mktemp -d) && trap 'chmod -R u+w '$$tmp'; rm -rf '$$tmp EXIT && cp -r "$$src"/. $$tmp && chmod -R u+w $$tmp && \
	cd $$tmp && CGO_ENABLED=0 $(GO) build -mod=mod -trimpath -tags 'no_btrfs no_devmapper no_zfs no_aufs' \
		-ldflags '-X github.com/containerd/containerd/version.Version=$(CONTAINERD17_VERSION)' -o $(CURDIR)/$@ ./cmd/containerd

$(CONTAINERD17): $(BIN)/containerd-$(CONTAINERD17_VERSION)/containerd FORCE
	@test "$$(readlink $@)" = containerd-$(CONTAINERD17_VERSION)/containerd || ln -sfn containerd-$(CONTAINERD17_VERSION)/containerd $@

.PHONY: FORCE
FORCE:

# The bench tool is its own module (its plotting library stays out of the
# shim); its tests include a smoke run of every path against a real daemon.
# Everything runs on Debian's containerd 1.6 and runsc, then test-versions.
test: setup
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) test $(TEST_FLAGS) ./...
	cd cmd/publish-bench && $(GO) vet ./... && $(STATICCHECK) ./... && $(GO) test $(TEST_FLAGS) ./...
	$(MAKE) --no-print-directory test-versions

# The end-to-end and CRI suites on the other versions (the README's table):
# e2e and CRI with the current runsc, CRI on containerd 1.7 with both runscs.
# RUNSC and CONTAINERD pick the binaries (internal/ctrdaemon).
.PHONY: test-versions
test-versions: setup
	RUNSC=$(CURDIR)/$(RUNSC_CURRENT) $(GO) test $(TEST_FLAGS) ./test/e2e/ ./test/cri/
	CONTAINERD=$(CURDIR)/$(CONTAINERD17) $(GO) test $(TEST_FLAGS) ./test/cri/
	CONTAINERD=$(CURDIR)/$(CONTAINERD17) RUNSC=$(CURDIR)/$(RUNSC_CURRENT) $(GO) test $(TEST_FLAGS) ./test/cri/

# The fault-injection suite alone; RELIABILITY_MODE=exec runs it over the
# fork path for comparison. Figures go to reliability.jsonl.
reliability: setup
	RELIABILITY_REPORT=$(CURDIR)/reliability.jsonl $(GO) test -count=1 -timeout 30m -v ./test/reliability/

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./publisher/

# The full comparison of publish paths behind docs/benchmarks.md.
bench-tool: setup
	cd cmd/publish-bench && $(GO) run . -events 3000 -rounds 6 -json $(CURDIR)/bench.json -chart $(CURDIR)/bench.svg

clean:
	rm -rf $(BIN)

# Runs one gVisor container through a throwaway containerd using the shim.
# It installs only what the demo runs (containerd, which brings runc; runsc;
# busybox for the rootfs), and go build fetches only the modules the shim
# and cmd/demo import: no crictl, CNI plugins or bench-tool modules, whose
# builds and downloads were most of a first run (README: how long it takes).
DEMO_PACKAGES := containerd runsc busybox-static
.PHONY: demo demo-packages
demo-packages:
	$(call install-packages,$(DEMO_PACKAGES))
# The shim and the demo in one go build, with the shim's flags: the
# packages they share (containerd's, grpc, the standard library) compile
# once, where two builds with different flags compiled them twice (the
# demo's build took 82 s of a fresh machine's 149 instead of 29).
demo: demo-packages
	$(SHIP_BUILD) -o $(BIN)/ ./cmd/gvisor-containerd-shim ./cmd/demo
	$(BIN)/demo -shim $(SHIM)

# One pod with two containers in one gVisor sandbox through containerd's CRI
# plugin: their output, their events and the transport that carried them.
.PHONY: demo-pod
demo-pod: setup build
	$(GO) build -o $(BIN)/demo-pod ./cmd/demo-pod
	$(BIN)/demo-pod -shim $(SHIM)

# critest (cri-tools v1.37.0, built from its module as a test binary) against
# a throwaway containerd, for the runsc and runc handlers one after the other
# (CRITEST_HANDLERS). The default focus is critest-run's (-focus);
# CRITEST_FOCUS, when set, replaces it, and CRITEST_FOCUS='' runs the whole
# suite. RUNSC picks the runsc (RUNSC=$(CURDIR)/$(RUNSC_CURRENT): the current
# one). Reports go to CRITEST_REPORTS. docs/cri.md has the runs' commands.
CRITEST_FOCUS_FLAG = $(if $(filter undefined,$(origin CRITEST_FOCUS)),,-focus '$(CRITEST_FOCUS)')
CRITEST_HANDLERS ?= runsc,runc
CRITEST_REPORTS ?= critest-reports
.PHONY: critest
critest: setup build
	@test -x $(BIN)/critest || { dir=$$($(GO) mod download -json $(CRI_TOOLS) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
		cd "$$dir" && $(GO) test -c -o $(CURDIR)/$(BIN)/critest ./cmd/critest; }
	$(GO) build -o $(BIN)/critest-run ./cmd/critest-run
	$(BIN)/critest-run -shim $(SHIM) -critest $(BIN)/critest -handlers $(CRITEST_HANDLERS) -reports $(abspath $(CRITEST_REPORTS)) $(CRITEST_FOCUS_FLAG)

# The probe soak (cmd/soak, internal/soak): one pod per handler (runsc on
# our shim, runc on containerd-shim), 2,000 exec probes each (ok, exit 1, a
# missing binary) and container restarts; each shim's files, fds, threads,
# goroutines, USS and log.json before and after, failing what grew
# (docs/reliability.md). SOAK_FLAGS passes more, e.g. -probes 500 -log soak.log.
SOAK_FLAGS ?=
.PHONY: soak
soak: setup-packages build
	$(GO) build -o $(BIN)/soak ./cmd/soak
	$(BIN)/soak -shim $(SHIM) $(SOAK_FLAGS)

# Shims side by side through CRI, alternating (cmd/cri-bench, docs/benchmarks.md):
# on Debian's containerd 1.6 and runsc, ours against runc (containerd-shim),
# with the fork fallback; cri-bench-gvisor adds gVisor's own v2 shim, which
# needs containerd 1.7, all on containerd 1.7 and the current runsc, and
# writes cri-bench.json and the chart cri-bench.png (drawn by publish-bench,
# whose module holds the plotting library). CRI_BENCH_FLAGS passes more,
# e.g. -rounds 20.
CRI_BENCH_FLAGS ?=
.PHONY: cri-bench cri-bench-gvisor
cri-bench: setup build
	$(GO) build -o $(BIN)/cri-bench ./cmd/cri-bench
	$(BIN)/cri-bench -shim $(SHIM) $(CRI_BENCH_FLAGS)

cri-bench-gvisor: setup build gvisor-shim
	$(GO) build -o $(BIN)/cri-bench ./cmd/cri-bench
	CONTAINERD=$(CURDIR)/$(CONTAINERD17) RUNSC=$(CURDIR)/$(RUNSC_CURRENT) $(BIN)/cri-bench -shim $(SHIM) \
		-gvisor-shim $(GVISOR_SHIM) -json $(CURDIR)/cri-bench.json $(CRI_BENCH_FLAGS)
	cd cmd/publish-bench && $(GO) run . cri-chart -json $(CURDIR)/cri-bench.json -chart $(CURDIR)/cri-bench.png

# The bare-runtime checks behind docs/cri.md's critest table: one busybox
# container per check with runsc (RUNSC, else PATH's) and runc, no containerd.
.PHONY: runsc-checks
runsc-checks: setup-packages
	$(GO) build -o $(BIN)/runsc-checks ./cmd/runsc-checks
	$(BIN)/runsc-checks -runsc $(or $(RUNSC),runsc)
