package translog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// witnessPrefix begins every witness's cosigner name (WitnessName).
const witnessPrefix = "ceremony-witness/"

// CheckCosignatures checks every co-signature line of a signed
// checkpoint (a signature line under a witness name, WitnessName) with
// the witness keys given: a line of a known key must verify (C2SP
// tlog-cosignature); a line that is no note signature line, or whose
// signature is not base64 of a key ID, a timestamp and an Ed25519
// signature, is an error. It returns how many lines verified and the
// names of the witnesses whose key is not among keys (their lines are
// well formed but cannot be checked).
func CheckCosignatures(signed []byte, keys []ed25519.PublicKey) (verified int, unknown []string, err error) {
	b, err := body(signed)
	if err != nil {
		return 0, nil, err
	}
	byName := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		byName[WitnessName(k)] = k
	}
	sigs := strings.TrimSuffix(string(signed[len(b)+1:]), "\n")
	for i, line := range strings.Split(sigs, "\n") {
		name, sig, ok := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		if !strings.HasPrefix(line, "— ") || !ok {
			return verified, unknown, fmt.Errorf("translog: signature line %d (%q) is not a note signature line (\"— NAME SIGNATURE\")", i+1, line)
		}
		if !strings.HasPrefix(name, witnessPrefix) {
			continue // the log's own signature, checked by Open
		}
		raw, derr := base64.StdEncoding.DecodeString(sig)
		if derr != nil || len(raw) != 4+8+ed25519.SignatureSize {
			return verified, unknown, fmt.Errorf("translog: the co-signature of %s is not base64 of a key ID, a timestamp and an Ed25519 signature: it was changed", name)
		}
		pub, known := byName[name]
		if !known {
			unknown = append(unknown, name)
			continue
		}
		one := append(append(bytes.Clone(b), '\n'), line+"\n"...)
		if _, err := VerifyCosignature(one, name, pub); errors.Is(err, ErrNotCosigned) {
			return verified, unknown, fmt.Errorf("translog: the co-signature of %s carries another key ID than that witness's key: it was changed", name)
		} else if err != nil {
			return verified, unknown, err
		}
		verified++
	}
	return verified, unknown, nil
}

// CosignatureFiles returns the co-signature files next to the checkpoint
// file cpPath (Dir.WriteCosignature), sorted.
func CosignatureFiles(cpPath string) ([]string, error) {
	files, err := filepath.Glob(cpPath + ".*" + cosignSuffix)
	if err != nil {
		return nil, fmt.Errorf("translog: co-signatures of %s: %w", cpPath, err)
	}
	sort.Strings(files)
	return files, nil
}

// CheckCosignatureFiles checks every co-signature file of the directory
// with the witness keys given (CheckCosignatures, each file on its own
// checkpoint). The first that fails is an error naming the file. It
// returns how many verified and the files whose witness key is not among
// keys.
func (d Dir) CheckCosignatureFiles(keys []ed25519.PublicKey) (verified int, unknown []string, err error) {
	cps, err := d.Files()
	if err != nil {
		return 0, nil, err
	}
	for _, cp := range cps {
		files, err := CosignatureFiles(cp)
		if err != nil {
			return verified, unknown, err
		}
		if len(files) == 0 {
			continue
		}
		signed, err := os.ReadFile(cp)
		if err != nil {
			return verified, unknown, fmt.Errorf("translog: read checkpoint %s: %w", cp, err)
		}
		for _, f := range files {
			line, err := os.ReadFile(f)
			if err != nil {
				return verified, unknown, fmt.Errorf("translog: read co-signature %s: %w", f, err)
			}
			if !bytes.HasPrefix(line, []byte("— "+witnessPrefix)) || !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
				return verified, unknown, fmt.Errorf("co-signature %s is not one witness's note signature line: the file was changed or cut", f)
			}
			n, unk, err := CheckCosignatures(append(bytes.Clone(signed), line...), keys)
			if err != nil {
				return verified, unknown, fmt.Errorf("co-signature %s of checkpoint %s: %w", f, filepath.Base(cp), err)
			}
			verified += n
			if len(unk) > 0 {
				unknown = append(unknown, f)
			}
		}
	}
	return verified, unknown, nil
}
