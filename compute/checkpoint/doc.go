// Package checkpoint owns a job's checkpoints: the Coordinator that
// triggers them and decides when they are complete, the Metadata that
// describes a completed one, and the Store that keeps metadata in object
// storage. The runtime (compute/runtime) injects barriers, takes the
// tasks' snapshots and commits sink transactions through callbacks; this
// package holds no task, state or connector.
//
// # Lifecycle of a checkpoint
//
// Every Interval (never sooner than MinPause after the previous checkpoint
// ended, and with at most MaxConcurrent in flight) the coordinator
// allocates the next id and injects a barrier at every source through
// Deps.Inject. Each task acknowledges with a TaskSnapshot (Ack) or declines
// (Decline). When every task in Deps.Tasks has acknowledged, the
// checkpoint is complete:
//
//  1. its Metadata (positions, state handles, sink transactions) is
//     published to checkpoints/chk-<id>/_metadata with CreateIfAbsent;
//     for a savepoint, the state is pinned (Deps.Pin) and the metadata is
//     first written to the user's directory;
//  2. the sink transactions are committed (Deps.Commit);
//  3. all but the newest Retained checkpoints are deleted and Deps.Retain
//     learns the oldest id whose state must be kept;
//  4. pending checkpoints with smaller ids are subsumed (aborted).
//
// A checkpoint fails when a task declines it, when it is not published
// Timeout after its trigger, or when its metadata cannot be written. More
// than TolerableFailures failures in a row, a failed commit, or another
// process publishing the same id fail the job through Deps.Fail. The sink
// transactions of a failed or aborted checkpoint are carried into the next
// checkpoint that completes (their rows are still part of the output).
//
// Savepoints are checkpoints the user triggers (TriggerSavepoint): they are
// also published in the job's checkpoints, so a restart after a savepoint
// resumes from it (its transactions are committed), and their copy in the
// user's directory is never deleted. Checkpoints go on after some tasks
// have ended their input (TaskFinished): each counts as acknowledged, with
// the end positions it reported and no state, by every checkpoint after the
// last barrier it took. When a bounded job ends, FinalID and
// Finish publish a checkpoint of Kind Final holding the last transactions;
// a job restored from it is finished.
//
// Ids increase across attempts: the coordinator reserves them in blocks in
// the Store (ids/<n>) and Store.MaxID returns the highest id ever published
// or reserved, so a new attempt never reuses the id of a failed checkpoint.
//
// # Concurrency
//
// A Coordinator's state is owned by one goroutine. Its methods are safe for
// concurrent use; Ack, Decline and TaskFinished only queue an event.
// A Store is safe for concurrent use.
//
// # Usage
//
//	store := checkpoint.NewStore(jobFolder, "s3://state?prefix=job-7/")
//	first, _ := store.MaxID(ctx)
//	c, err := checkpoint.New(cfg, checkpoint.Deps{Job: "job-7", Store: store,
//		FirstID: first + 1, Tasks: tasks, Inject: inject, Commit: commit})
//	c.Start(ctx)
//	defer c.Stop()
//	// tasks call c.Ack / c.Decline; at the end of a bounded job:
//	err = c.Finish(ctx, final)
package checkpoint
