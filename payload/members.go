package payload

import (
	"bytes"
	"encoding/json"
	"iter"
)

// Members yields a JSON object's members in the order they are written,
// which a Go map would lose. It yields nothing for what is not an object
// and stops at the first member it cannot read.
func Members(obj json.RawMessage) iter.Seq2[string, json.RawMessage] {
	return func(yield func(string, json.RawMessage) bool) {
		dec := json.NewDecoder(bytes.NewReader(obj))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return
			}
			if !yield(tok.(string), raw) {
				return
			}
		}
	}
}
