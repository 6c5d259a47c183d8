package oneproc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// printEnv makes the test binary print its GOMAXPROCS and exit (see
// TestOneProcDespiteEnvironment).
const printEnv = "ONEPROC_TEST_PRINT"

func TestMain(m *testing.M) {
	if os.Getenv(printEnv) != "" {
		fmt.Print(runtime.GOMAXPROCS(0))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// containerd's v1 runtime starts every shim with GOMAXPROCS=2 in its
// environment; importing the package must still leave one P.
func TestOneProcDespiteEnvironment(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2", printEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", os.Args[0], err)
	}
	if got := strings.TrimSpace(string(out)); got != "1" {
		t.Fatalf("GOMAXPROCS with GOMAXPROCS=2 in the environment = %s, want 1", got)
	}
}
