// Package config reads the shim's TOML configuration file (-config, by
// default /etc/containerd/runsc.toml): the runc shim used by the runc-exec
// hack, the runsc global flags, the event publisher's settings and the
// shim's Go runtime settings.
package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/gvisor-containerd-shim/publisher"
)

// DefaultPath is where the shim looks for its config unless -config says otherwise.
const DefaultPath = "/etc/containerd/runsc.toml"

// Config is the content of the shim's config file. The zero value is the
// configuration of a missing file.
type Config struct {
	// RuncShim is the shim the runc-exec hack execs; empty means
	// containerd-shim from PATH.
	RuncShim string
	// RunscConfig holds runsc global flags: each entry becomes --key=value,
	// with %ID% in a value replaced by the container id (so that e.g.
	// debug-log = "/var/log/runsc/%ID%/" gives each container its own logs);
	// package shim/runsc does the expansion.
	RunscConfig map[string]string
	// Publisher configures how events reach containerd.
	Publisher PublisherConfig
	// Shim tunes the Go runtime of the shim process.
	Shim ShimConfig
}

// ShimConfig is the [shim] table: Go runtime settings of a long-lived,
// mostly idle process, one per container. Zero values keep Go's defaults
// (or GOGC and GOMEMLIMIT from the environment).
type ShimConfig struct {
	// GCPercent is the GC target percentage (GOGC).
	GCPercent int
	// MemoryLimit is the soft memory limit of the Go runtime in bytes
	// (GOMEMLIMIT): a ceiling the GC works harder to stay under.
	MemoryLimit int64
	// MaxProcs is GOMAXPROCS once the config is read; 0 keeps the shim's 1.
	MaxProcs int
	// ReturnMemoryAfter is how much the shim allocates before it returns
	// its free memory to the OS, once quiet (internal/memtrim); 0 keeps
	// the default.
	ReturnMemoryAfter int64
}

// PublisherConfig is the [publisher] table. Zero values mean the
// publisher's (or the service's) defaults.
type PublisherConfig struct {
	Mode           publisher.Mode
	QueueSize      int
	RequestTimeout time.Duration
	// FlushTimeout bounds how long the init's Delete, and the shim's exit on
	// SIGTERM, wait for queued events to reach containerd.
	FlushTimeout time.Duration
}

// file mirrors the TOML layout; its field types validate values while
// decoding so that errors carry the TOML line and key.
type file struct {
	RuncShim    string            `toml:"runc_shim"`
	RunscConfig map[string]string `toml:"runsc_config"`
	Publisher   struct {
		Mode           mode     `toml:"mode"`
		QueueSize      int      `toml:"queue_size"`
		RequestTimeout duration `toml:"request_timeout"`
		FlushTimeout   duration `toml:"flush_timeout"`
	} `toml:"publisher"`
	Shim struct {
		GCPercent   int  `toml:"gc_percent"`
		MemoryLimit size `toml:"memory_limit"`
		MaxProcs    int  `toml:"max_procs"`
		ReturnAfter size `toml:"return_memory_after"`
	} `toml:"shim"`
}

// mode is a publisher mode, checked as the TOML is decoded.
type mode publisher.Mode

// UnmarshalText accepts the modes publisher.ParseMode does.
func (m *mode) UnmarshalText(b []byte) error {
	parsed, err := publisher.ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = mode(parsed)
	return nil
}

// duration accepts only strings such as "5s": a bare TOML integer would
// otherwise silently mean nanoseconds.
type duration time.Duration

// UnmarshalText parses a non-negative Go duration string.
func (d *duration) UnmarshalText(b []byte) error {
	parsed, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"5s\", \"250ms\")", b)
	}
	if parsed < 0 {
		return fmt.Errorf("duration %q must not be negative", b)
	}
	*d = duration(parsed)
	return nil
}

// size accepts a string such as "64MiB" (B, KiB, MiB or GiB, as in
// GOMEMLIMIT): a bare number would leave the unit to guess.
type size int64

// UnmarshalText parses a count of bytes with its unit.
func (z *size) UnmarshalText(b []byte) error {
	s := string(b)
	units := []struct {
		suffix string
		scale  int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		digits, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64/u.scale {
			break
		}
		*z = size(n * u.scale)
		return nil
	}
	return fmt.Errorf("invalid size %q (want a positive whole number of B, KiB, MiB or GiB, e.g. \"64MiB\")", b)
}

// Load reads the config file at path. A missing file returns an error that
// satisfies errors.Is(err, fs.ErrNotExist); callers treat it as the zero
// Config. Every other error names the file and the offending line or key.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data, the content of the file at path (used in errors only).
func Parse(path string, data []byte) (Config, error) {
	var f file
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %s", path, describe(err))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = fmt.Sprintf("%q", k.String())
		}
		return Config{}, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	if f.Publisher.QueueSize < 0 {
		return Config{}, fmt.Errorf("config %s: key \"publisher.queue_size\": must not be negative, got %d", path, f.Publisher.QueueSize)
	}
	if f.Shim.GCPercent < 0 {
		return Config{}, fmt.Errorf("config %s: key \"shim.gc_percent\": must be a positive percentage, or 0 for the default, got %d", path, f.Shim.GCPercent)
	}
	if f.Shim.MaxProcs < 0 {
		return Config{}, fmt.Errorf("config %s: key \"shim.max_procs\": must be a positive number of Ps, or 0 for the default (1), got %d", path, f.Shim.MaxProcs)
	}
	for k := range f.RunscConfig {
		if k == "" || strings.HasPrefix(k, "-") {
			return Config{}, fmt.Errorf("config %s: key \"runsc_config.%s\": runsc flag names are written without dashes", path, k)
		}
	}
	return Config{
		RuncShim:    f.RuncShim,
		RunscConfig: f.RunscConfig,
		Publisher: PublisherConfig{
			Mode:           publisher.Mode(f.Publisher.Mode),
			QueueSize:      f.Publisher.QueueSize,
			RequestTimeout: time.Duration(f.Publisher.RequestTimeout),
			FlushTimeout:   time.Duration(f.Publisher.FlushTimeout),
		},
		Shim: ShimConfig{
			GCPercent:         f.Shim.GCPercent,
			MemoryLimit:       int64(f.Shim.MemoryLimit),
			MaxProcs:          f.Shim.MaxProcs,
			ReturnMemoryAfter: int64(f.Shim.ReturnAfter),
		},
	}, nil
}

// describe renders a toml error on one line: the library's message already
// names the line and the last key, but a ParseError from a value's
// UnmarshalText only carries them in fields.
func describe(err error) string {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return strings.TrimPrefix(err.Error(), "toml: ")
	}
	msg := strings.ReplaceAll(pe.Message, "\n", " ")
	if pe.LastKey == "" {
		return fmt.Sprintf("line %d: %s", pe.Position.Line, msg)
	}
	return fmt.Sprintf("line %d: key %q: %s", pe.Position.Line, pe.LastKey, msg)
}
