package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/gofiber/fiber/v2"
	"gopkg.in/yaml.v3"
)

// OpenAPIYAML is the OpenAPI 3.1 document of every /api/v1 route, as kept
// in the repository (api/openapi.yaml). It is written in YAML for people
// to review and edit; the API's tests check that it names exactly the
// routes the server has and that every answer they receive fits it.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// OpenAPIJSON is the document as served at /api/v1/openapi.json: JSON is
// what client generators and Postman import. Converted once, keeping the
// YAML's order (paths grouped as written, not sorted).
var OpenAPIJSON = sync.OnceValues(func() ([]byte, error) { return yamlToJSON(OpenAPIYAML) })

// openAPIDocument serves the document. It needs no API key: it describes
// the routes, nothing of a deployment's data, and a client must be able to
// read it before it has a key.
func (s *Server) openAPIDocument(c *fiber.Ctx) error {
	doc, err := OpenAPIJSON()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(doc)
}

// yamlToJSON converts one YAML document to JSON, mappings in their order.
func yamlToJSON(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeJSON(&b, &root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one YAML document", n.Line)
		}
		return writeJSON(b, n.Content[0])
	case yaml.AliasNode:
		// Anchors let the document share a response list between the
		// webhook and integration forms of a route; JSON has none, so the
		// shared part is written out at each use.
		return writeJSON(b, n.Alias)
	case yaml.MappingNode:
		return writeMapping(b, n)
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		out, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b.Write(out)
		return nil
	}
	return fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

func writeMapping(b *bytes.Buffer, n *yaml.Node) error {
	b.WriteByte('{')
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		// A repeated key would silently drop one of the two in JSON.
		if k.Kind != yaml.ScalarNode || k.Value == "<<" || seen[k.Value] {
			return fmt.Errorf("line %d: mapping keys must be distinct scalars (no merge keys)", k.Line)
		}
		seen[k.Value] = true
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k.Value)
		b.Write(key)
		b.WriteByte(':')
		if err := writeJSON(b, n.Content[i+1]); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}
