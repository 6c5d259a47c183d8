package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
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

// execRuncShim replaces this process (same pid, so containerd's bookkeeping
// holds) by the runc shim with the same arguments and environment. The
// inherited socket on fd 3 and stdio pass through exec untouched. It only
// returns on error.
func execRuncShim(configPath string, args, env []string) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	path, err := runcShimPath(cfg, exec.LookPath)
	if err != nil {
		return err
	}
	argv := append([]string{path}, args...)
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("runc-exec hack: exec %s: %w", path, err)
	}
	return nil
}
