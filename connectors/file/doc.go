// Package file provides the "file" sink: it writes rows as JSON lines, CSV
// or Parquet files to a local folder or a bucket (S3, Azure Blob, a
// file:// or mem:// URL), exactly once. It implements
// connectors.TransactionalSink on top of connectors/twophase: files are
// written under the hidden _pending/ folder of the sink's root and moved
// to their final names only when the checkpoint that covers their rows
// completes, so readers never see partial or uncommitted files.
//
// # Options
//
//	path            a local folder, or a blob URL with the state store's
//	                conventions (see statestore/objstore): file:///abs/dir,
//	                s3://bucket?region=...&prefix=out/q5/,
//	                azblob://container?prefix=out/, mem:// (tests). A
//	                folder inside a bucket is named with prefix=, not a path.
//	                Required.
//	format          json (default: JSON lines, .jsonl), csv (.csv) or
//	                parquet (.parquet).
//	roll_bytes      start a new file once one holds this many bytes: a
//	                number or a size such as "64MiB", "1GB". Default
//	                "128MiB". Parquet sizes are estimated (compressed pages
//	                plus the open row group) and overshoot by up to a batch.
//	roll_interval   start a new file once one has been open this long, such
//	                as "15m", on the job's clock, checked when rows arrive.
//	                Default: off. Every checkpoint also ends every open file.
//	partition_by    list of columns: Hive-style folders col=value/ in this
//	                order. Values are written as text (dates 2006-01-02,
//	                timestamps "2006-01-02 15:04:05.999999999" in UTC for a
//	                column with a time zone); the bytes "#%'*/:=?\^{[]
//	                and control characters are escaped as %XX, as Hive
//	                does; NULL and "" go to __HIVE_DEFAULT_PARTITION__.
//	                bool, integer, float, string, date32 and timestamp
//	                columns qualify.
//	partition_time  {column, format, time_zone}: folders from a timestamp
//	                or date32 column, before the partition_by folders.
//	                format uses %Y %m %d %H %M %S and %%, '/' between
//	                folders; default "dt=%Y-%m-%d" (for instance
//	                "dt=%Y-%m-%d/hour=%H"). time_zone (IANA, default UTC)
//	                sets the bucket boundaries of a column with a time zone;
//	                wall-clock timestamps and dates are bucketed as they
//	                read. A NULL time goes to key=__HIVE_DEFAULT_PARTITION__.
//	compression     parquet only: snappy (default), zstd, gzip, lz4
//	                (LZ4_RAW) or none.
//	row_group_rows  parquet only: rows per row group; default 131072.
//	spool_dir       bucket targets only: where files are written before
//	                their upload; default the system temporary folder.
//
// Partition columns stay in the files too, so each file is self-contained
// and readers that ignore the folders see exact types.
//
// # Files
//
// A file committed by checkpoint c is named
//
//	<root>/<folders>part-<subtask>-<attempt>-<c>-<seq>-<run><ext>
//
// where run is 8 random hex digits per writer: no other subtask, attempt,
// checkpoint or run of a job sharing the folder produces it. A job that
// does not checkpoint commits at the end of its input (Flush) and names a
// subtask's files part-<subtask><ext>, part-<subtask>-1<ext>, ... per
// folder, replacing the files of an earlier run of the same job. Pending
// files live in <root>/_pending/<job>/<attempt>/ and end in .inprogress.
//
// At submission New checks that the path can be written, without writing
// under a final name: a local folder, or its nearest existing parent, must
// be writable; a bucket must accept a probe object under _pending/.
//
// # Runtime contract
//
// A writer (Open) writes batches to one open file per folder, rolling by
// size and time. PreCommit(c) ends every open file and returns the Txn of
// the files since the previous PreCommit; the Committer (Sink.Committer)
// moves them to their final names once checkpoint c completes, and
// Recover, at job start, commits the restored checkpoint's Txns and
// deletes every other pending file of the job. Flush (no checkpoints) is
// PreCommit and Commit at once. Close abandons open files. Sink.Close
// releases the storage once the job is done.
//
// # Concurrency
//
// A Sink is shared by the job's subtasks; each writer belongs to one
// goroutine.
package file
