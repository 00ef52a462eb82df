package main

import (
	"context"
	"fmt"
	"io"
)

// runRotateKey re-encrypts every stored secret under the first key of
// --encryption-key "new,old": step three of a key rotation (README,
// "Rotating the encryption key").
func runRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rotate-encryption-key", stderr)
	var c common
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	box, err := c.box()
	if err != nil {
		return err
	}
	n, err := st.Reencrypt(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d row(s) re-encrypted under key %s; every secret is now under it\n", n, box.KeyID())
	return nil
}
