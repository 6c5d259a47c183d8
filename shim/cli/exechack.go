package cli

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/google/gvisor-containerd-shim/shim/config"
)

// runscRootBase is the runtime root base name that selects the runsc path.
const runscRootBase = "runsc"

// usesRuncShim reports whether the runc-exec hack applies: containerd's v1
// runtime has one shim binary for every runtime, so a runtime root not
// named "runsc" means the container is for runc and belongs to the runc shim.
func usesRuncShim(runtimeRoot string) bool {
	return filepath.Base(runtimeRoot) != runscRootBase
}

// runcShimPath resolves the runc shim: runc_shim from the config, else
// containerd-shim looked up with lookPath (exec.LookPath outside tests).
func runcShimPath(cfg config.Config, lookPath func(string) (string, error)) (string, error) {
	if cfg.RuncShim != "" {
		return cfg.RuncShim, nil
	}
	path, err := lookPath("containerd-shim")
	if err != nil {
		return "", fmt.Errorf("runc-exec hack: runc_shim is not configured and containerd-shim is not on PATH: %w", err)
	}
	return path, nil
}

// loadConfig reads the config file; a missing file means the defaults.
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return config.Config{}, nil
	}
	return cfg, err
}

// runcShimArgs rewrites the shim's arguments (parsed by ParseFlags, so every
// flag in them is one of the shim's) for containerd-shim, which defines
// neither -config (this shim's own, added by an operator's wrapper script)
// nor -criu-path (containerd passes it; containerd-shim calls it -criu).
// Either would make containerd-shim exit with "flag provided but not
// defined", and containerd would only report "ttrpc: closed". -config and
// its value are dropped, -criu-path becomes -criu, and everything else
// passes through unchanged, in order. Flag syntax is the flag package's:
// one or two dashes, the value joined by "=" or as the next argument;
// parsing ends at "--" or the first non-flag argument.
func runcShimArgs(args []string) []string {
	known := newFlagSet(&Flags{})
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" || len(arg) < 2 || arg[0] != '-' {
			return append(out, args[i:]...)
		}
		dashes := "-"
		if arg[1] == '-' {
			dashes = "--"
		}
		name, value, joined := strings.Cut(strings.TrimPrefix(arg, dashes), "=")
		var separate []string // the value, when it is the next argument
		if f := known.Lookup(name); !joined && f != nil && !isBoolFlag(f) && i+1 < len(args) {
			i++
			separate = args[i : i+1]
		}
		switch {
		case name == "config":
		case name == "criu-path" && joined:
			out = append(out, dashes+"criu="+value)
		case name == "criu-path":
			out = append(append(out, dashes+"criu"), separate...)
		default:
			out = append(append(out, arg), separate...)
		}
	}
	return out
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// execRuncShim replaces this process (same pid, so containerd's bookkeeping
// holds) by the runc shim with the arguments runcShimArgs gives and the same
// environment. The inherited socket on fd 3 and stdio pass through exec
// untouched. It only returns on error.
func execRuncShim(configPath string, args, env []string) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	path, err := runcShimPath(cfg, exec.LookPath)
	if err != nil {
		return err
	}
	argv := append([]string{path}, runcShimArgs(args)...)
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("runc-exec hack: exec %s: %w", path, err)
	}
	return nil
}
