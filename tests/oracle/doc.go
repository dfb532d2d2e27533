// Package oracle checks Sluice's Nexmark queries against DuckDB, a real and
// independent SQL engine.
//
// It is its own Go module (github.com/sluicedata/sluice/tests/oracle, with
// a replace of the main module to ../..), so that DuckDB and cgo never enter
// the main module's dependency graph or the sluice binary. Run it with
//
//	cd tests/oracle && go test ./...
//
// # What it owns
//
//   - Load (dataset.go): generates N events with the Sluice Nexmark
//     generator (connectors/nexmark, the columnar Generator.Batch API),
//     writes the person, auction and bid streams to Parquet with arrow-go's
//     pqarrow writer and loads them into an in-memory DuckDB database, with
//     nexmark-flink's column names and timestamps as UTC TIMESTAMPs.
//   - Normalize, Compare, Materialize (compare.go): values of both engines
//     mapped to one Go type each; a multiset comparison of rows (floats
//     within RelTol); a changelog (+I/-U/+U/-D in an _op column) applied
//     to an empty table.
//   - The tests (queries_test.go): for each query, the nexmark-flink SQL
//     translated to DuckDB (every translation is documented beside the
//     query), the job file examples/nexmark/qN.yaml run with
//     compute/computetest on the same events (the dataset's options
//     override each nexmark source's), and the two results compared row for
//     row. A query whose job file does not exist yet is skipped locally and
//     fails when CI=true. The first dataset runs on the in-memory state
//     backend, the second on the LSM, so every operator is checked on both.
//   - Exactly-once under failure (exactlyonce_test.go, eo_*_test.go): q5
//     and q8 into the Parquet file sink on the LSM backend with 200 ms
//     checkpoints, killed 20 times each (SIGKILLs of a child `sluice run
//     --resume`, and in-process attempts with object-store failures and
//     stalls, source failures and commit failures); DuckDB compares the
//     committed files with a run without failure (EXCEPT ALL both ways),
//     and the state folder must hold nothing no retained checkpoint
//     reaches. eo_badinput_test.go: missing, corrupt and mismatched
//     savepoints and unwritable sink folders are clear errors that change
//     nothing. parquet_test.go: DuckDB reads the sink's Parquet files.
//
// # Concurrency
//
// A Dataset may be queried from several goroutines (database/sql pools
// connections); Close it once, after the last query. Compare and
// Materialize are pure functions.
//
// # Usage
//
//	ds, err := oracle.Load(ctx, dir, map[string]any{"events": 200_000, "seed": 7}, mem)
//	defer ds.Close()
//	cols, want, err := ds.Query(ctx, "SELECT auction, price FROM bid WHERE auction % 123 = 0")
//	if d := oracle.Compare(cols, got, want); !d.Empty() { ... d.String() ... }
package oracle
