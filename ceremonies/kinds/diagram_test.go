package kinds_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
)

// TestDiagramGolden keeps each machine's Mermaid diagram in testdata/fsm,
// so that a changed transition shows in review. Rewrite the files with
// UPDATE_GOLDEN=1 go test ./ceremonies/kinds/ -run TestDiagramGolden.
func TestDiagramGolden(t *testing.T) {
	for _, d := range kinds.Definitions() {
		t.Run(d.Kind, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "fsm", d.Kind+".mmd")
			got := d.Diagram()
			if os.Getenv("UPDATE_GOLDEN") == "1" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", path)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("golden diagram: %v (create it with UPDATE_GOLDEN=1)", err)
			}
			if got != string(want) {
				t.Errorf("Diagram() of %s differs from %s (if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff):\n got:\n%s\nwant:\n%s", d.Kind, path, got, want)
			}
			if d.Diagram() != got {
				t.Error("Diagram() is not stable from call to call")
			}
		})
	}
}
