package runsc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/errdefs"
	runc "github.com/containerd/go-runc"
)

func requireRunsc(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("runsc"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("runsc and root are required in CI")
		}
		t.Skip("needs runsc and root")
	}
}

func newTest(t *testing.T, command string) (*Runsc, string) {
	dir := t.TempDir()
	r := New(command, filepath.Join(dir, "root"), filepath.Join(dir, "log.json"), "c1", map[string]string{"network": "none"})
	r.Monitor = runc.Monitor // tests are not subreapers; plain cmd.Wait is right here
	return r, dir
}

func TestNewFlagsSubstituteID(t *testing.T) {
	r := New("", "/r", "/l", "abc", map[string]string{"debug-log": "/tmp/%ID%/", "network": "none"})
	got := strings.Join(r.globalArgs(), " ")
	want := "--root /r --log /l --log-format json --debug-log=/tmp/abc/ --network=none"
	if got != want || r.Command != "runsc" {
		t.Fatalf("args %q (command %q), want %q", got, r.Command, want)
	}
}

func TestMissingBinaryIsClear(t *testing.T) {
	r, dir := newTest(t, "/nonexistent/runsc")
	err := r.Create(context.Background(), "c1", dir, &CreateOpts{})
	var rerr *Error
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), `"/nonexistent/runsc" not found`) {
		t.Fatalf("error %v, want a runsc Error naming the missing binary", err)
	}
	if !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("error %v is not a FailedPrecondition", err)
	}
}

func TestFailureCarriesRunscMessage(t *testing.T) {
	requireRunsc(t)
	r, dir := newTest(t, "")
	err := r.Create(context.Background(), "c1", filepath.Join(dir, "nobundle"), &CreateOpts{})
	if err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("error %v, want runsc's message about the missing config.json", err)
	}
	err = r.Start(context.Background(), "nosuch")
	if err == nil || !strings.Contains(err.Error(), "loading container") || strings.Contains(err.Error(), "config.json") {
		t.Fatalf("error %v, want runsc's own (latest) message", err)
	}
}
