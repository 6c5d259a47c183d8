package cri

import "testing"

func TestRunsc2022(t *testing.T) {
	for version, want := range map[string]bool{
		"runsc version 0.0~20221219.0":       true, // Debian's package
		"runsc version release-20221219.0":   true, // gVisor's release
		"runsc version release-20220510.0":   true,
		"runsc version VERSION_MISSING":      false, // built from the Go module
		"runsc version release-20260901.0":   false,
		"runsc version release-20230102.0":   false,
		"runsc version 0.0~120221219.0":      false, // no date
		"runsc version release-202212190.0":  false,
		"runsc version release-20221219.0-x": true,
	} {
		if got := Runsc2022(version); got != want {
			t.Errorf("Runsc2022(%q) = %v, want %v", version, got, want)
		}
	}
}

func TestShimConfigFor(t *testing.T) {
	if got := ShimConfigFor("runsc version 0.0~20221219.0"); got != ShimConfig2022 {
		t.Errorf("Debian's runsc gets %q, want the host network config", got)
	}
	if got := ShimConfigFor("runsc version VERSION_MISSING"); got != ShimConfig {
		t.Errorf("current runsc gets %q, want gVisor's netstack", got)
	}
}
