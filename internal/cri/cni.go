package cri

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// CNIBinDir is where Debian's containernetworking-plugins installs.
const CNIBinDir = "/usr/lib/cni"

// network is the run's own CNI bridge: a name and a /24 no other interface
// or route on the host uses, so concurrent runs do not meet.
type network struct {
	Name   string
	Bridge string
	Subnet *net.IPNet
}

// picked are the networks this process chose already: a bridge exists only
// once its first pod runs, so the host does not show them yet.
var (
	pickedMu sync.Mutex
	picked   = map[int]bool{}
)

// newNetwork picks a bridge and subnet from the pid, skipping subnets the
// host already has, and writes a bridge + host-local conflist to confDir
// with the IPAM state in dataDir.
func newNetwork(confDir, dataDir string) (*network, error) {
	used, err := hostSubnets()
	if err != nil {
		return nil, err
	}
	pid := os.Getpid()
	pickedMu.Lock()
	defer pickedMu.Unlock()
	for i := 0; i < 4096; i++ {
		n := pid + i
		_, subnet, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", 200+n/256%50, n%256))
		if overlaps(subnet, used) || picked[n] {
			continue
		}
		picked[n] = true
		nw := &network{Name: fmt.Sprintf("cri-test-%d", n), Bridge: fmt.Sprintf("crit%d", n%10000000), Subnet: subnet}
		if err := nw.writeConflist(confDir, dataDir); err != nil {
			return nil, err
		}
		return nw, nil
	}
	return nil, fmt.Errorf("cni: no free 10.200-249.x.0/24 subnet on this host")
}

func (nw *network) writeConflist(confDir, dataDir string) error {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       nw.Name,
		"plugins": []any{
			map[string]any{
				"type":      "bridge",
				"bridge":    nw.Bridge,
				"isGateway": true,
				"ipMasq":    false,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": nw.Subnet.String()}}},
					"dataDir": dataDir,
				},
			},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(confDir, "10-"+nw.Name+".conflist"), b, 0o644)
}

// Contains reports whether ip is one of this network's pod addresses.
func (nw *network) Contains(ip net.IP) bool { return nw.Subnet.Contains(ip) }

// remove deletes the bridge the bridge plugin created (it outlives pods).
func (nw *network) remove() {
	if _, err := net.InterfaceByName(nw.Bridge); err == nil {
		exec.Command("ip", "link", "del", nw.Bridge).Run()
	}
}

func hostSubnets() ([]*net.IPNet, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("cni: list host addresses: %w", err)
	}
	var nets []*net.IPNet
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			nets = append(nets, n)
		}
	}
	return nets, nil
}

func overlaps(subnet *net.IPNet, used []*net.IPNet) bool {
	for _, u := range used {
		if u.Contains(subnet.IP) || subnet.Contains(u.IP) {
			return true
		}
	}
	return false
}
