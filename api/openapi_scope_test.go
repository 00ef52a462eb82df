package api

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Each operation's security requirement in the OpenAPI document names the
// scope requiredScope decides for its method and path, and its description
// says the same: clients read the scopes from the document, the server
// decides them from the path. (Which operations are public is checked
// against the server in TestOpenAPIPublicOperations.)
func TestOpenAPIScopes(t *testing.T) {
	raw, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	scopeOf := fiber.New()
	scopeOf.Use(func(c *fiber.Ctx) error { return c.SendString(string(requiredScope(c))) })
	methods := []string{"get", "put", "post", "delete", "patch"}
	checked := 0
	for path, item := range doc.Paths {
		for method, opRaw := range item {
			if !slices.Contains(methods, method) {
				continue
			}
			var op struct {
				Security    *[]map[string][]string `json:"security"`
				Description string                 `json:"description"`
			}
			if err := json.Unmarshal(opRaw, &op); err != nil {
				t.Fatal(err)
			}
			reqs := doc.Security
			if op.Security != nil {
				reqs = *op.Security
			}
			if len(reqs) == 0 {
				continue // public
			}
			sample := strings.NewReplacer("{", "", "}", "").Replace(path)
			resp, err := scopeOf.Test(httptest.NewRequest(strings.ToUpper(method), sample, nil))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := io.ReadAll(resp.Body)
			if len(reqs) != 1 || !slices.Equal(reqs[0]["bearerAuth"], []string{string(want)}) {
				t.Errorf("%s %s: security %v, but the server asks for the %s scope", method, path, reqs, want)
			}
			if !strings.HasPrefix(op.Description, "Scope: **"+string(want)+"**") {
				t.Errorf("%s %s: the description does not begin \"Scope: **%s**\": %.60q", method, path, want, op.Description)
			}
			checked++
		}
	}
	if checked < 40 {
		t.Fatalf("only %d operations checked", checked)
	}
}
