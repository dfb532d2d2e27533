// Package twophase is the reusable base of exactly-once sinks that write
// files to object storage (connectors.TransactionalSink, design invariant
// 6). It owns the storage side of two-phase commit; a sink owns its format,
// rolling and partitioning and calls in here.
//
// # Protocol
//
// A sink subtask writes each file to a pending object under the sink's
// root:
//
//	_pending/<job>/<attempt>/<subtask>-<seq><ext>.inprogress
//
// Hive-style readers skip the '_pending' folder and no "*.parquet" glob
// matches the names. Writer.Create starts a file and File.Finish uploads it;
// finished files join the open transaction. At checkpoint c's barrier the
// sink finishes its open files and calls Writer.PreCommit(c), which returns
// the Txn: JSON listing each file's pending name and final name,
//
//	<folder>part-<subtask>-<attempt>-<c>-<seq>-<run><ext>
//
// unique across subtasks, attempts and checkpoints (run is random per
// writer, so two runs sharing a folder do not collide). After the checkpoint
// completes, Committer.Commit moves every pending object to its final name
// (a rename on a local folder, a copy and a delete on a bucket). Commit is
// idempotent and crash-safe: a file whose pending object exists is (again)
// moved; one whose pending object is gone and whose final object exists
// is done. When a job starts, Committer.Recover commits the Txns of the
// checkpoint it restarts from and deletes every other pending object of the
// job: rows the replay will produce again. A job without checkpoints
// commits at the end of its input (Writer.Commit), naming files
// part-<subtask><ext>, part-<subtask>-1<ext>, ... so a rerun replaces them.
//
// Nothing under a final name is ever written before its checkpoint
// completes, so readers never see uncommitted or partial files.
//
// # Stores
//
// A Store is a local folder (OpenDir: fsync, then rename; Publish is an
// atomic rename) or a gocloud bucket (NewBlobStore: files are spooled to a
// local temporary file and uploaded whole at Finish; Publish is a
// server-side copy and a delete). WithFaults wraps a Store to fail, crash
// or stall chosen operations in tests.
//
// # Concurrency
//
// A Store and a Committer are safe for concurrent use (the Committer's
// methods are not called concurrently with each other, per
// connectors.Committer). A Writer and its Files belong to one goroutine,
// except that different Files of a Writer may Finish concurrently.
//
// # Usage
//
//	store, err := twophase.OpenDir("out/q5")
//	w := twophase.NewWriter(store, sinkContext)
//	f, err := w.Create("dt=2024-01-01/", ".parquet")
//	_, err = f.Write(data)
//	err = f.Finish(ctx)
//	txn, err := w.PreCommit(checkpointID) // stored in the checkpoint
//	err = twophase.NewCommitter(store).Commit(ctx, []connectors.Txn{txn})
package twophase
