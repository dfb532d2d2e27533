package oracle

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	// The DuckDB database/sql driver ("duckdb"), with DuckDB statically
	// linked through cgo.
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/sluicedata/sluice/connectors/nexmark"
)

// Streams are the three Nexmark tables, in the order Load writes them.
var Streams = []nexmark.Stream{nexmark.StreamPerson, nexmark.StreamAuction, nexmark.StreamBid}

// timestampColumns are the event-time columns of each table. Parquet stores
// the generator's timestamp[ms, UTC] as an instant, which DuckDB reads as
// TIMESTAMPTZ; Load converts them to plain TIMESTAMP (UTC wall time), which
// is what nexmark-flink's TIMESTAMP(3) columns are and what the SQL's
// interval arithmetic and strftime expect.
var timestampColumns = map[nexmark.Stream][]string{
	nexmark.StreamPerson:  {"dateTime"},
	nexmark.StreamAuction: {"dateTime", "expires"},
	nexmark.StreamBid:     {"dateTime"},
}

// Dataset is the events [0, Events) of one Nexmark generator configuration,
// loaded into an in-memory DuckDB database as the tables person, auction and
// bid with nexmark-flink's column names and types.
//
// A Dataset is safe for concurrent queries (database/sql pools connections);
// Close it once.
type Dataset struct {
	// DB is the DuckDB database holding the three tables.
	DB *sql.DB
	// Options are the nexmark source options the events were generated with
	// (without "stream"); a Sluice job must run with the same ones.
	Options map[string]any
	// Rows is the number of rows of each table.
	Rows map[nexmark.Stream]int64
	// Disorder is, per table, the largest amount by which a row's dateTime
	// is behind the latest dateTime of the rows before it in event order
	// (0 when the stream is in order). A streaming run sees each split in
	// event order, so a row can be behind its source's watermark (the
	// latest dateTime minus the bounded out-of-orderness) only if this
	// exceeds the bound.
	Disorder map[nexmark.Stream]time.Duration
}

// Load generates the events with the Sluice generator configured by opts
// (the nexmark source options; "events" must be positive), writes each
// stream to a Parquet file under dir, and loads the three files into a new
// in-memory DuckDB database. mem allocates the generator's batches, which
// are all released before Load returns.
func Load(ctx context.Context, dir string, opts map[string]any, mem memory.Allocator) (*Dataset, error) {
	if _, ok := opts["stream"]; ok {
		return nil, fmt.Errorf("oracle: options: stream %v: the dataset holds all three streams, leave it unset", opts["stream"])
	}
	ds := &Dataset{Options: maps.Clone(opts), Rows: map[nexmark.Stream]int64{}, Disorder: map[nexmark.Stream]time.Duration{}}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("oracle: open duckdb: %w", err)
	}
	ds.DB = db
	for _, s := range Streams {
		path := filepath.Join(dir, string(s)+".parquet")
		n, disorder, err := writeStream(path, opts, s, mem)
		if err != nil {
			db.Close()
			return nil, err
		}
		ds.Rows[s], ds.Disorder[s] = n, disorder
		// Replace each timestamp column in place by its UTC wall time.
		var repl []string
		for _, c := range timestampColumns[s] {
			repl = append(repl, fmt.Sprintf("make_timestamp(epoch_us(%s)) AS %s", c, c))
		}
		q := fmt.Sprintf("CREATE TABLE %s AS SELECT * REPLACE (%s) FROM read_parquet('%s')",
			s, strings.Join(repl, ", "), strings.ReplaceAll(path, "'", "''"))
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("oracle: load %s into duckdb: %w", path, err)
		}
		var got int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+string(s)).Scan(&got); err != nil {
			db.Close()
			return nil, fmt.Errorf("oracle: count %s: %w", s, err)
		}
		if got != n {
			db.Close()
			return nil, fmt.Errorf("oracle: table %s has %d rows in duckdb, the generator wrote %d", s, got, n)
		}
	}
	return ds, nil
}

// Close closes the database.
func (d *Dataset) Close() error { return d.DB.Close() }

// writeStream writes the rows of stream s among the configured events to a
// Parquet file at path, a generator batch at a time, and returns the number
// of rows written and their dateTime disorder (see Dataset.Disorder).
func writeStream(path string, opts map[string]any, s nexmark.Stream, mem memory.Allocator) (int64, time.Duration, error) {
	var n, latest, disorder int64
	o := maps.Clone(opts)
	o["stream"] = string(s)
	cfg, err := nexmark.ParseConfig(o)
	if err != nil {
		return 0, 0, fmt.Errorf("oracle: nexmark options %v: %w", o, err)
	}
	if cfg.Events <= 0 {
		return 0, 0, fmt.Errorf("oracle: options: events %d: must be positive (the dataset is finite)", cfg.Events)
	}
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("oracle: nexmark generator: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, fmt.Errorf("oracle: %w", err)
	}
	// The Parquet writer owns f from here: its Close closes f.
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithAllocator(mem))
	w, err := pqarrow.NewFileWriter(nexmark.Schema(s), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		f.Close()
		return 0, 0, fmt.Errorf("oracle: parquet writer for %s: %w", path, err)
	}
	for from := int64(0); from < cfg.Events; {
		b, next := g.Batch(mem, s, from, cfg.Events, 16384)
		if next <= from {
			b.Release()
			w.Close()
			return 0, 0, fmt.Errorf("oracle: generator made no progress at event %d of %s", from, s)
		}
		if b.NumRows() > 0 {
			idx := b.Schema().FieldIndices("dateTime")
			times, ok := b.Column(idx[0]).(*array.Timestamp)
			if len(idx) != 1 || !ok {
				b.Release()
				w.Close()
				return 0, 0, fmt.Errorf("oracle: %s batch has no timestamp column dateTime: %v", s, b.Schema())
			}
			for _, t := range times.Values() {
				latest = max(latest, int64(t))
				disorder = max(disorder, latest-int64(t))
			}
			err = w.WriteBuffered(b)
		}
		n += b.NumRows()
		b.Release()
		if err != nil {
			w.Close()
			return 0, 0, fmt.Errorf("oracle: write %s: %w", path, err)
		}
		from = next
	}
	if err := w.Close(); err != nil {
		return 0, 0, fmt.Errorf("oracle: close %s: %w", path, err)
	}
	return n, time.Duration(disorder) * time.Millisecond, nil
}

// Query runs a SQL query on the dataset and returns its column names and
// rows, each value normalized by Normalize.
func (d *Dataset) Query(ctx context.Context, query string) ([]string, [][]any, error) {
	rows, err := d.DB.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, fmt.Errorf("oracle: duckdb: %w", err)
	}
	cols, out, err := scanAll(rows)
	if err != nil {
		return nil, nil, err
	}
	for _, vals := range out {
		for i, v := range vals {
			if vals[i], err = Normalize(v); err != nil {
				return nil, nil, fmt.Errorf("oracle: duckdb column %q: %w", cols[i], err)
			}
		}
	}
	return cols, out, nil
}

// scanAll reads every row of rows, as the driver's values, and closes
// rows.
func scanAll(rows *sql.Rows) ([]string, [][]any, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, fmt.Errorf("oracle: duckdb columns: %w", err)
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, fmt.Errorf("oracle: duckdb scan: %w", err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("oracle: duckdb: %w", err)
	}
	return cols, out, nil
}
