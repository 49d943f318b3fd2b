// Package jetstream is the events.Store on NATS JetStream (ARCHITECTURE.md,
// "Events"; NATS docs, JetStream), always reached through a nats.go
// connection.
//
// Rules a caller must know:
//   - Where the server runs: by default Open starts a nats-server in this
//     process, storing under <DataDir>/jetstream, and connects in-process,
//     without a TCP port. Config.Listen adds a loopback-only listener whose
//     one user is the nkey of Config.NkeySeedFile, allowed the store's
//     subjects and nothing else ('ceremony serve'). With Config.Remote.URLs
//     Open connects to an existing server or cluster instead (credentials
//     file or nkey seed, TLS) and creates the stream with
//     Remote.Replicas replicas (default 3 when it knows of 3 or more
//     servers). Close stops what Open started; call it before exit.
//     One embedded store at a time may use a DataDir: Open takes a kernel
//     lock (flock; on Unix) on the store directory itself, writes its pid,
//     command line and start time into a holder file (deleting it releases
//     nothing), and a second Open fails with ErrLocked naming them.
//   - Durability: by default (SyncAlways) every write is fsynced before it
//     is acknowledged, so an acknowledged event is on disk. SyncRelaxed
//     leaves the server's periodic fsync (events of the last interval can be
//     lost on a power cut): for rehearsals only, and only when asked for.
//   - One stream (default "CEREMONIES"), subjects ceremony.<id>.<type>, file
//     storage, DenyDelete and DenyPurge, no age, size or count limits. An
//     existing stream with other settings is refused, never changed.
//   - Append checks the event before storing it: the bytes must decode
//     (events.Decode) to an envelope of the given ceremony and event id. A
//     stale expectation is an *events.ConflictError. A lost acknowledgement
//     is resolved by reading back what the ceremony holds after the
//     expected sequence. While no stream leader answers (an election on a
//     cluster, or no quorum) the same publish, same message id and
//     expectation, is retried for up to 4 s in all (appendBudget). If the
//     outcome stays unknown the error wraps ErrOutcomeUnknown (and says
//     the cluster has no quorum when no leader answered): reload the
//     ceremony before deciding again.
//   - Load and Replay decode every stored event; a corrupt one is an error
//     naming its stream sequence, never skipped. Replay stops at the stream's
//     last sequence as it was when Replay started.
//   - ReadSealedProjection and ReadSealedCeremony read without starting
//     the server, only while the data directory's seal holds and the
//     files an orderly close wrote next to it name that seal; any doubt is
//     an error, and the caller starts the server. ReadSealedCeremony reads
//     nats-server v2.15.2's block files itself (blockrecord.go).
//   - A Store is safe for concurrent use by many goroutines. After Close
//     every call returns an error wrapping ErrClosed.
package jetstream
