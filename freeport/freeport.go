// Package freeport chooses TCP ports for servers that bind them later, as the
// embedded Temporal server and the chaos harness's restarted processes do.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// A server's services bind their ports some time after they are chosen, and
// Temporal exits the process when a bind fails. A port from the kernel's
// ephemeral range (what listening on port 0 returns) can be taken meanwhile as
// the local end of any outgoing connection, which a busy process makes by the
// thousand; so ports are drawn below that range, where the kernel never
// assigns one on its own.
const lowestPort = 10000

// Pick returns a port below the ephemeral range that nothing listens on.
func Pick(ip string) (int, error) {
	high := ephemeralLow() - 1
	if high <= lowestPort {
		return anyPort(ip)
	}
	for range 200 {
		port := lowestPort + rand.IntN(high-lowestPort+1)
		if Check(ip, port) == nil {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port between %d and %d on %s", lowestPort, high, ip)
}

// ephemeralLow is the first port of the kernel's ephemeral range, or the
// IANA default where the kernel does not say.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 49152
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 49152
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 49152
	}
	return low
}

func anyPort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Check reports whether port can be listened on now.
func Check(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
