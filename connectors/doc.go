// Package connectors defines how data enters and leaves a Sluice job: the
// Source and Sink contracts, and a registry that maps a connector name used in
// a job spec ("nexmark", "file", "print", "blackhole", ...) to a factory.
//
// Connector implementations live in subpackages and register themselves from
// an init function; a binary links the set it wants by importing them, usually
// through connectors/all. Nothing in this package knows about a particular
// connector, and the runtime (compute) knows connectors only through these
// interfaces.
//
// Sources are divided into splits (a generator range, a file, a Kafka
// partition). A split is read by exactly one SplitReader at a time, and a
// reader can be reopened at a Position taken from a checkpoint, which is what
// makes sources replayable and rescalable.
//
// Sinks are opened once per subtask. Every batch handed to a SinkWriter is
// owned by the writer, which releases it exactly once.
//
// Configuration is declared per connector as a Go struct and decoded from the
// job spec's options with Decode, which rejects unknown options and names the
// offending field, so a typo in a job file is an error at submission time.
//
// Usage:
//
//	src, err := connectors.NewSource("nexmark", map[string]any{"stream": "bid", "events": 1000000})
//	splits, err := src.Splits(ctx, 4)
//	r, err := src.Open(ctx, splits[0], nil, connectors.ReadOptions{Allocator: mem, BatchSize: 4096})
//	for {
//		b, err := r.Next(ctx)
//		if err == io.EOF { break }
//		... use b, then b.Release()
//	}
package connectors
