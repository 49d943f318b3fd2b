package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// storeDigest hashes every file under dir: path, mode and SHA-256 of its
// bytes, one line each, sorted.
func storeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffDigests names the files added, removed or changed between a and b.
func diffDigests(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "removed "+k)
		} else if w != v {
			d = append(d, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	sort.Strings(d)
	return d
}

// A read command changes no file of the store: every file under the data
// directory (JetStream's blocks, indexes and meta files, the tree's
// hashes, the checkpoints) hashes the same before and after each one.
func TestReadCommandsChangeNoStoreFile(t *testing.T) {
	data, _, _ := demoWithCheckpoint(t)
	_, list := runIn(t, "list", "--data-dir", data)
	gen := ""
	for _, l := range strings.Split(list, "\n") {
		if strings.HasPrefix(l, "gen-") {
			gen = strings.Fields(l)[0]
		}
	}
	if gen == "" {
		t.Fatalf("list:\n%s", list)
	}
	cmds := [][]string{
		{"list"},
		{"show", gen},
		{"events", gen},
		{"cards"},
		{"health"},
		{"audit", "verify-store"},
		{"audit", "export", "--out", filepath.Join(t.TempDir(), "exp"), "--ceremony", gen},
		{"audit", "export", "--out", filepath.Join(t.TempDir(), "exp-all")},
		{"audit", "report", gen, "--out", filepath.Join(t.TempDir(), "r.html")},
	}
	for _, args := range cmds {
		before := storeDigest(t, data)
		code, out := runIn(t, append(args, "--data-dir", data)...)
		if code != exitOK {
			t.Errorf("%v: exit %d\n%s", args, code, out)
			continue
		}
		if d := diffDigests(before, storeDigest(t, data)); len(d) > 0 {
			t.Errorf("%v changed the store's files: %s", args, strings.Join(d, "; "))
		}
	}
	// The control: a command that writes is seen by the same comparison.
	before := storeDigest(t, data)
	var o bytes.Buffer
	if code := run(context.Background(), []string{"account", "add", "olga", "--role", "operator", "--data-dir", data}, strings.NewReader("a-long-password-for-olga\n"), &o, &o); code != exitOK {
		t.Fatalf("account add: exit %d\n%s", code, o.String())
	}
	if d := diffDigests(before, storeDigest(t, data)); len(d) == 0 {
		t.Fatal("account add changed no file of the store: the comparison sees nothing")
	}
}
