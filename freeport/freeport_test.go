package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickIsBelowTheEphemeralRangeAndFree(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		port, err := Pick("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if port < lowestPort || port >= low {
			t.Fatalf("port %d outside [%d, %d)", port, lowestPort, low)
		}
		if err := Check("127.0.0.1", port); err != nil {
			t.Fatalf("picked port %d is not free: %v", port, err)
		}
	}
}

func TestCheckRefusesAPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if err := Check("127.0.0.1", port); err == nil {
		t.Fatalf("port %s in use reported free", strconv.Itoa(port))
	}
}
