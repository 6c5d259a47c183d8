package cri_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

type uint64Value struct {
	Value string `json:"value"`
}

func (v uint64Value) n() uint64 { n, _ := strconv.ParseUint(v.Value, 10, 64); return n }

type usage struct {
	CPU struct {
		UsageCoreNanoSeconds uint64Value `json:"usageCoreNanoSeconds"`
	} `json:"cpu"`
	Memory struct {
		WorkingSetBytes uint64Value `json:"workingSetBytes"`
	} `json:"memory"`
}

const hogBytes = 64 << 20

// crictl stats and statsp answer. A pod's figures cover its containers (a
// container that wrote 64 MiB to its tmpfs /dev/shm shows in them). A container's figures are those
// of the cgroup of its task's pid: its own with runc, the whole sandbox's
// with runsc (logged; see docs/cri.md).
func TestStatsAnswerPerContainerAndPod(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "stats")
		ctx := timeout(t, 2*time.Minute)
		idle, err := pod.Run(ctx, cri.Container{Name: "idle", Command: []string{"sleep", "3600"}})
		if err != nil {
			t.Fatal(err)
		}
		hog, err := pod.Run(ctx, cri.Container{Name: "hog", Command: []string{"sh", "-c",
			`head -c ` + strconv.Itoa(hogBytes) + ` /dev/zero > /dev/shm/hog && echo ready; sleep 3600`}})
		if err != nil {
			t.Fatal(err)
		}
		waitLogged(t, n, hog, "ready")

		perContainer := map[string]uint64{}
		for _, id := range []string{idle, hog} {
			var s struct {
				Stats []struct {
					Attributes struct {
						ID string `json:"id"`
					} `json:"attributes"`
					usage
				} `json:"stats"`
			}
			if err := n.CrictlJSON(ctx, &s, "stats", "--id", id); err != nil {
				t.Fatal(err)
			}
			if len(s.Stats) != 1 || s.Stats[0].Attributes.ID != id {
				t.Fatalf("crictl stats --id %s: %+v, want its one entry", id, s.Stats)
			}
			if s.Stats[0].CPU.UsageCoreNanoSeconds.n() == 0 || s.Stats[0].Memory.WorkingSetBytes.n() == 0 {
				t.Errorf("crictl stats of %s: no CPU or memory figure: %+v", id, s.Stats[0].usage)
			}
			perContainer[id] = s.Stats[0].Memory.WorkingSetBytes.n()
		}

		var p struct {
			Stats []struct {
				Attributes struct {
					ID string `json:"id"`
				} `json:"attributes"`
				Linux usage `json:"linux"`
			} `json:"stats"`
		}
		if err := n.CrictlJSON(ctx, &p, "statsp", "--id", pod.ID); err != nil {
			t.Fatal(err)
		}
		if len(p.Stats) != 1 || p.Stats[0].Attributes.ID != pod.ID {
			t.Fatalf("crictl statsp --id %s: %+v, want its one entry", pod.ID, p.Stats)
		}
		podMemory := p.Stats[0].Linux.Memory.WorkingSetBytes.n()
		if p.Stats[0].Linux.CPU.UsageCoreNanoSeconds.n() == 0 || podMemory < hogBytes {
			t.Errorf("crictl statsp: CPU %d ns, memory %d bytes; want CPU and at least the hog's %d bytes",
				p.Stats[0].Linux.CPU.UsageCoreNanoSeconds.n(), podMemory, hogBytes)
		}
		t.Logf("working set: pod %d MiB, idle container %d MiB, hog container %d MiB", podMemory>>20, perContainer[idle]>>20, perContainer[hog]>>20)
		if handler == cri.Runc && perContainer[idle] >= hogBytes {
			t.Errorf("runc: the idle container's working set %d includes the hog's: want its own cgroup's", perContainer[idle])
		}
	})
}
