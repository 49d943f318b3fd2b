// Package translog keeps a Merkle tree over every event of the stream and
// the signed checkpoints of it, the way a transparency log does
// (golang.org/x/mod/sumdb/tlog for the tree, golang.org/x/mod/sumdb/note
// for the signed checkpoint in the C2SP tlog-checkpoint format).
//
// Rules a caller must know:
//   - Leaf i of the tree is the event at stream sequence i+1, hashed over
//     its stored bytes (tlog.RecordHash). The stream denies deletes and
//     purges, so its sequences are contiguous from 1; a gap is damage.
//   - The tree's stored hashes are kept in a file (HashFile) that only
//     grows. Opening it recomputes nothing; Check compares it with a tree
//     recomputed from the stream and names the first record that differs
//     or the sequences that are missing.
//   - A checkpoint is signed by the station's audit key (any Ed25519
//     signer: a key file or the HSM) and written to its own file in the
//     checkpoints directory with O_EXCL and fsync; files are never
//     rewritten.
//   - The key that signs a directory's checkpoints is recorded with the
//     first one (KeyFileName) and never changes; a Log without that
//     signer only checks (NewLogAt with a nil signer).
//   - Writers take an exclusive flock on the directory, readers a shared
//     one: nothing is read half written, two processes never append to
//     the hash file at once.
//   - Witnesses co-sign checkpoints (C2SP tlog-cosignature, Ed25519
//     cosignature/v1); a co-signature is its own file next to the
//     checkpoint, and Current carries it.
//   - Nothing here holds a secret: leaves are hashes of stored events.
package translog
