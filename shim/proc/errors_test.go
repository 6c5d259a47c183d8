package proc

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
)

// A refused bundle keeps the cause as well as its class, so a caller can
// tell a missing config.json from a malformed one.
func TestBundleErrorsKeepTheirCause(t *testing.T) {
	_, err := ReadBundle(t.TempDir())
	if !errdefs.IsInvalidArgument(err) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing config.json: %v: want InvalidArgument wrapping fs.ErrNotExist", err)
	}

	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadBundle(bundle)
	var syntax *json.SyntaxError
	if !errdefs.IsInvalidArgument(err) || !errors.As(err, &syntax) {
		t.Errorf("malformed config.json: %v: want InvalidArgument wrapping a *json.SyntaxError", err)
	}
}
