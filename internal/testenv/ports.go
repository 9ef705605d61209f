package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports handed to programs that cannot bind port 0 and report it (monerod,
// redis-server's cluster bus, Pastellad) were once taken from the kernel's
// ephemeral range by binding port 0 and closing it. On a busy machine a
// client socket of another test package could take that port back before the
// program bound it (CI failed so: a cluster node's "bind: Address already in
// use"). So FreePort picks below the ephemeral range, where the kernel never
// assigns client ports, and reserves each port with a lock file held for this
// test process's life, so parallel test packages never pick the same one.

const (
	portLow  = 20000 // above the well-known and common service ports
	portHigh = 32767 // Linux's default ephemeral range starts at 32768
)

var ports = struct {
	sync.Mutex
	held map[int]*os.File // the lock files this process holds, one per port
}{held: map[int]*os.File{}}

// FreePort returns a loopback TCP port that is free now and that no other
// test process using FreePort will be given while this one runs.
func FreePort() (int, error) {
	lo, hi := portRange()
	if hi <= lo {
		return kernelPort()
	}
	dir := filepath.Join(os.TempDir(), "rxpool-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, err
	}
	ports.Lock()
	defer ports.Unlock()
	for range 200 {
		port := lo + rand.IntN(hi-lo+1)
		if ports.held[port] != nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return 0, err
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another test process holds it
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			f.Close() // a program outside our tests listens there
			continue
		}
		l.Close()
		ports.held[port] = f
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d after 200 tries", lo, hi)
}

// portRange is [portLow, portHigh] cut below the machine's ephemeral range.
func portRange() (int, int) {
	lo, hi := portLow, portHigh
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		if start, err := strconv.Atoi(f[0]); err == nil && start-1 < hi {
			hi = start - 1
		}
	}
	return lo, hi
}

// kernelPort is the fallback where the ephemeral range leaves no room below.
func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
