//go:build !unix

package payload

import (
	"io"
	"os"
)

func newPollingReader(f *os.File) io.Reader { return f }

func stdin() io.Reader { return os.Stdin }
