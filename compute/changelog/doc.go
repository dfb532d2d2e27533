// Package changelog owns Sluice's updating-stream (changelog) convention and
// helpers to build, read and materialize such streams.
//
// # The convention
//
// An updating stream is an Arrow stream whose first column is named "_op"
// and has type int8. Each row is one change of a result table:
//
//	0  +I  Insert        a new row
//	1  -U  UpdateBefore  the old version of a row that is being updated
//	2  +U  UpdateAfter   the new version of that row
//	3  -D  Delete        a row that is removed
//
// An update is a -U row immediately followed by its +U row (in the same
// batch, from the same producer). An append-only stream has no _op column.
// Producers in Sluice: the unbounded aggregate (per group key: +I for a new
// key, -U old / +U new when its aggregates change, -D when an updating input
// retracts its last row) and top-n (see compute/operator).
//
// An operator that cannot consume an updating input rejects it at plan
// time: IsUpdating(schema) says whether a schema is an updating one.
//
// # Materializing
//
// A Table applies a changelog to a table: +I and +U add a row, -U and -D
// remove an equal row and fail when none is there (an inconsistent
// changelog). With key columns (NewTable(keys...)), the table holds at most
// one row per key: +I/+U of a key already present fails, and -U/-D must
// remove exactly the row stored under the key. Without keys it is a
// multiset. Tests use it to compare an operator's output with a model's
// final table; sinks that write final tables (upsert sinks) use the same
// rules.
//
// # Concurrency
//
// Op values and the functions are safe for concurrent use; a Table belongs to
// one goroutine.
//
// # Usage
//
//	b := changelog.NewOpBuilder(mem)      // build the _op column
//	b.Append(changelog.UpdateBefore)
//	ops, _ := changelog.Ops(batch)        // read it: []Op aliasing the batch
//	t := changelog.NewTable("day")        // keyed by the "day" column
//	if err := t.ApplyBatch(batch); err != nil { ... } // inconsistent changelog
//	rows := t.Rows()                      // the final table, without _op
package changelog
