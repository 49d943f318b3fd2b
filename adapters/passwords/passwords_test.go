package passwords

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestFileStoresArgon2idHashesOnly(t *testing.T) {
	f := Open(filepath.Join(t.TempDir(), "pw.json"))
	pw := []byte("correct horse battery")
	if err := f.Set("alice", pw); err != nil {
		t.Fatal(err)
	}
	if err := f.Check("alice", pw); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := f.Check("alice", []byte("correct horse battery!")); err != ErrWrong {
		t.Fatalf("wrong password: %v", err)
	}
	if err := f.Check("bob", pw); err != ErrWrong {
		t.Fatalf("unknown account: %v", err)
	}
	if err := f.Set("alice", []byte("short")); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
	b, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, pw) || !bytes.Contains(b, []byte("$argon2id$v=19$m=65536,t=3,p=2$")) {
		t.Fatalf("the file holds %s", b)
	}
	if info, _ := os.Stat(f.Path()); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
}
