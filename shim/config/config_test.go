package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/publisher"
)

func testdata(name string) string {
	return filepath.Join("..", "..", "testdata", "config", name)
}

func TestLoadValid(t *testing.T) {
	got, err := Load(testdata("valid.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		RuncShim: "/usr/bin/containerd-shim",
		RunscConfig: map[string]string{
			"debug":     "true",
			"debug-log": "/var/log/runsc/%ID%/",
			"network":   "none",
		},
		Publisher: PublisherConfig{
			Mode:           publisher.ModeTTRPC,
			QueueSize:      1024,
			RequestTimeout: 2 * time.Second,
			FlushTimeout:   10 * time.Second,
		},
		Shim: ShimConfig{GCPercent: 100, MemoryLimit: 64 << 20, MaxProcs: 2, ReturnMemoryAfter: 512 << 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load(valid.toml):\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadEmptyIsDefaults(t *testing.T) {
	got, err := Load(testdata("empty.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, Config{}) {
		t.Fatalf("empty file gave %+v, want the zero Config", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "runsc.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: got %v, want an error satisfying errors.Is(err, fs.ErrNotExist)", err)
	}
	// An unreadable one says it is the config (the user sees this error).
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || err.Error() != "config: read "+dir+": is a directory" {
		t.Fatalf("a directory: got %v, want it named as the config", err)
	}
}

// Every bad file gives a one-line error that names the file and enough of
// the place (line and/or key) for the operator to fix it.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"malformed.toml", []string{"line 4"}},
		{"unknown-key.toml", []string{`unknown key "publisher.queue_sise"`}},
		{"unknown-top-key.toml", []string{`unknown key "runsc_shim"`}},
		{"wrong-type.toml", []string{"line 3", "publisher.queue_size", "incompatible types"}},
		{"wrong-type-runsc.toml", []string{"line 3", "runsc_config.debug", "incompatible types"}},
		{"bad-mode.toml", []string{"line 2", `key "publisher.mode"`, "carrier-pigeon"}},
		{"bad-duration.toml", []string{"line 2", `key "publisher.request_timeout"`, "invalid duration"}},
		{"negative-queue.toml", []string{`key "publisher.queue_size"`, "negative"}},
		{"bad-size.toml", []string{"line 2", `key "shim.memory_limit"`, "invalid size"}},
		{"negative-gc.toml", []string{`key "shim.gc_percent"`, "must be a positive percentage, or 0 for the default, got -"}},
		{"negative-procs.toml", []string{`key "shim.max_procs"`, "must be a positive number of Ps, or 0 for the default (1), got -"}},
		{"dashed-runsc-key.toml", []string{`key "runsc_config.--network"`, "without dashes"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := testdata(tc.file)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want an error", tc.file)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			for _, want := range append([]string{path}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a bad file must not look like a missing one: %v", err)
			}
		})
	}
}

func TestMemoryLimitUnits(t *testing.T) {
	for in, want := range map[string]int64{"512B": 512, "64KiB": 64 << 10, "64MiB": 64 << 20, "2GiB": 2 << 30} {
		got, err := Parse("t.toml", []byte("[shim]\nmemory_limit = \""+in+"\"\n"))
		if err != nil || got.Shim.MemoryLimit != want {
			t.Errorf("memory_limit = %q: got %d, %v; want %d", in, got.Shim.MemoryLimit, err, want)
		}
	}
	for _, in := range []string{"64", "64MB", "-1MiB", "0MiB", "1.5GiB", "MiB", "9999999999999GiB", "64 MiB"} {
		if _, err := Parse("t.toml", []byte("[shim]\nmemory_limit = \""+in+"\"\n")); err == nil {
			t.Errorf("memory_limit = %q accepted", in)
		}
	}
	if _, err := Parse("t.toml", []byte("[shim]\nmemory_limit = 1024\n")); err == nil {
		t.Error("a bare number accepted as memory_limit")
	}
}

func TestReturnMemoryAfter(t *testing.T) {
	got, err := Parse("t.toml", []byte("[shim]\nreturn_memory_after = \"256KiB\"\n"))
	if err != nil || got.Shim.ReturnMemoryAfter != 256<<10 {
		t.Errorf("return_memory_after = \"256KiB\": got %d, %v", got.Shim.ReturnMemoryAfter, err)
	}
	if _, err := Parse("t.toml", []byte("[shim]\nreturn_memory_after = 4096\n")); err == nil || !strings.Contains(err.Error(), "return_memory_after") {
		t.Errorf("a bare number: %v, want an error naming the key", err)
	}
	if got, err := Parse("t.toml", nil); err != nil || got.Shim.ReturnMemoryAfter != 0 {
		t.Errorf("unset: %d, %v; want 0 (the default)", got.Shim.ReturnMemoryAfter, err)
	}
}

// 0 is accepted where the errors for negative values say so: it keeps
// the default.
func TestZeroKeepsDefault(t *testing.T) {
	got, err := Parse("t.toml", []byte("[shim]\ngc_percent = 0\nmax_procs = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Shim.GCPercent != 0 || got.Shim.MaxProcs != 0 {
		t.Errorf("shim config %+v, want zeros (the defaults)", got.Shim)
	}
}
