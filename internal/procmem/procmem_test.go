package procmem

import (
	"os"
	"testing"
)

const smaps = `00400000-00600000 r-xp 00000000 fd:00 1234                               /usr/bin/shim
Size:               2048 kB
Rss:                1500 kB
Pss:                 700 kB
Shared_Clean:       1000 kB
Private_Clean:       400 kB
Private_Dirty:       100 kB
VmFlags: rd ex mr mw me
c000000000-c000400000 rw-p 00000000 00:00 0 
Size:               4096 kB
Rss:                2000 kB
Pss:                2000 kB
Private_Clean:         0 kB
Private_Dirty:      2000 kB
7ffd0000-7ffd2000 rw-p 00000000 00:00 0                                  [stack]
Rss:                   8 kB
Pss:                   8 kB
Private_Dirty:         8 kB
`

// Each figure is summed over the mappings; USS is private pages only, and
// AnonUSS those of the mappings that name no file ([stack] is anonymous).
func TestParse(t *testing.T) {
	u, err := Parse(smaps, "Name:\tshim\nThreads:\t7\nVmRSS:\t3508 kB\n")
	want := Usage{RSS: 3508, PSS: 2708, USS: 2508, AnonUSS: 2008, Threads: 7}
	if err != nil || u != want {
		t.Fatalf("Parse = %+v, %v; want %+v", u, err, want)
	}
	if _, err := Parse("", "Threads:\t7\n"); err == nil {
		t.Error("no mappings: no error")
	}
	if _, err := Parse(smaps, "Name:\tshim\n"); err == nil {
		t.Error("no Threads: no error")
	}
}

func TestReadSelf(t *testing.T) {
	u, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.Threads < 1 || u.USS <= 0 || u.AnonUSS <= 0 || u.AnonUSS > u.USS || u.USS > u.PSS || u.PSS > u.RSS {
		t.Errorf("Read(self) = %+v; want a thread and 0 < anon <= USS <= PSS <= RSS", u)
	}
	if _, err := Read(-1); err == nil {
		t.Error("Read(-1): no error")
	}
}
