package web

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes: openapi.json documents exactly the API's
// routes, each with its method, and says which roles may call it.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := assets.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json is version %q, want 3.x", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
			var o struct {
				Description string `json:"description"`
			}
			json.Unmarshal(op, &o)
			if !strings.HasPrefix(o.Description, "Roles: ") {
				t.Errorf("%s %s: the description does not say which roles may call it", method, path)
			}
		}
	}
	for _, rt := range routes() {
		served = append(served, rt.method+" "+rt.path)
		var o struct {
			Description string `json:"description"`
		}
		json.Unmarshal(doc.Paths[rt.path][strings.ToLower(rt.method)], &o)
		for _, r := range rt.roles {
			if !strings.Contains(o.Description, r) {
				t.Errorf("%s %s: the route lets %s call it, the document does not say so (%q)", rt.method, rt.path, r, o.Description)
			}
		}
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("openapi.json documents:\n%s\n\nthe server serves:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}
