package ctrdaemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The environment variables that pick the runsc and the containerd a test
// run uses (`make setup` builds the current runsc and containerd 1.7 into
// bin/). Each names a binary whose name, after symlinks, is the command's own
// ("runsc", "containerd"): its directory goes first on this process's PATH,
// so every lookup by name finds it, in the tests and in what they start (the
// daemon, its shims, the shims' `runsc` and `containerd publish`), which
// inherit PATH. Unset or empty: the Debian packages' binaries on PATH.
const (
	RunscEnv      = "RUNSC"
	ContainerdEnv = "CONTAINERD"
)

// binariesErr is why RUNSC or CONTAINERD could not be applied; New and
// BinariesErr report it, as there is no test to fail at init.
var binariesErr = applyBinaryEnv(map[string]string{RunscEnv: "runsc", ContainerdEnv: "containerd"})

// BinariesErr returns why RUNSC or CONTAINERD names no usable binary, or nil.
func BinariesErr() error { return binariesErr }

func applyBinaryEnv(commands map[string]string) error {
	for _, env := range []string{ContainerdEnv, RunscEnv} {
		dir, err := binaryDir(env, os.Getenv(env), commands[env])
		if err != nil {
			return err
		}
		if dir != "" {
			os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	return nil
}

// binaryDir returns the directory to put first on PATH for the binary in
// value (a path), which must be called command once symlinks are resolved;
// "" when value is empty.
func binaryDir(env, value, command string) (string, error) {
	if value == "" {
		return "", nil
	}
	path, err := filepath.EvalSymlinks(value)
	if err == nil {
		path, err = filepath.Abs(path)
	}
	if err != nil {
		return "", fmt.Errorf("%s=%s: %w", env, value, err)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s=%s: not an executable file", env, value)
	}
	if filepath.Base(path) != command {
		return "", fmt.Errorf("%s=%s: resolves to %s; its name must be %q (it is found on PATH by that name)", env, value, path, command)
	}
	if strings.ContainsRune(path, os.PathListSeparator) {
		return "", fmt.Errorf("%s=%s: a path with %q cannot go on PATH", env, value, os.PathListSeparator)
	}
	return filepath.Dir(path), nil
}
