package worker

import (
	"net"
	"strings"

	"go.temporal.io/sdk/client"
)

// Compression is the gRPC compression for a client of the Temporal
// frontend at hostPort: none to one on this machine (herald dev, the
// embedded server), where gzip only spends CPU on both ends of a loopback
// connection (2.5 % of a stream burst's CPU); gzip, the SDK's default, to
// any other, where it saves the network.
func Compression(hostPort string) client.GrpcCompression {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
		return &client.GrpcCompressionNone{}
	}
	return &client.GrpcCompressionGzip{}
}
