package oracle

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/connectors/file"
)

// parquetSchema has every column type the file sink writes to Parquet,
// with the DuckDB type each must read back as.
var parquetSchema, parquetDuckTypes = func() (*arrow.Schema, []string) {
	cols := []struct {
		name string
		typ  arrow.DataType
		duck string
	}{
		{"id", arrow.PrimitiveTypes.Int64, "BIGINT"},
		{"flag", arrow.FixedWidthTypes.Boolean, "BOOLEAN"},
		{"i8", arrow.PrimitiveTypes.Int8, "TINYINT"},
		{"i16", arrow.PrimitiveTypes.Int16, "SMALLINT"},
		{"i32", arrow.PrimitiveTypes.Int32, "INTEGER"},
		{"u8", arrow.PrimitiveTypes.Uint8, "UTINYINT"},
		{"u16", arrow.PrimitiveTypes.Uint16, "USMALLINT"},
		{"u32", arrow.PrimitiveTypes.Uint32, "UINTEGER"},
		{"u64", arrow.PrimitiveTypes.Uint64, "UBIGINT"},
		{"f32", arrow.PrimitiveTypes.Float32, "FLOAT"},
		{"f64", arrow.PrimitiveTypes.Float64, "DOUBLE"},
		{"s", arrow.BinaryTypes.String, "VARCHAR"},
		{"ls", arrow.BinaryTypes.LargeString, "VARCHAR"},
		{"bin", arrow.BinaryTypes.Binary, "BLOB"},
		{"day", arrow.FixedWidthTypes.Date32, "DATE"},
		{"ts_utc_ms", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, "TIMESTAMP WITH TIME ZONE"},
		{"ts_paris_s", &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Europe/Paris"}, "TIMESTAMP WITH TIME ZONE"},
		{"ts_wall_us", &arrow.TimestampType{Unit: arrow.Microsecond}, "TIMESTAMP"},
		{"ts_wall_ns", &arrow.TimestampType{Unit: arrow.Nanosecond}, "TIMESTAMP_NS"},
	}
	var fields []arrow.Field
	var duck []string
	for i, c := range cols {
		// id is required; every other column is nullable.
		fields = append(fields, arrow.Field{Name: c.name, Type: c.typ, Nullable: i > 0})
		duck = append(duck, c.duck)
	}
	return arrow.NewSchema(fields, nil), duck
}()

// parquetRows makes n random rows with ids from first, NULLs in about a
// fifth of the nullable cells, and strings that need escaping in folder
// names.
func parquetRows(rng *rand.Rand, mem memory.Allocator, first int64, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, parquetSchema)
	defer b.Release()
	strs := []string{"plain", "a b", "x/y", "k=v", "50%", "é", "#1", "a:b?*", "", "__HIVE_DEFAULT_PARTITION__x"}
	t0 := time.Date(2024, 10, 26, 22, 0, 0, 0, time.UTC)
	for r := range n {
		for i, f := range parquetSchema.Fields() {
			fb := b.Field(i)
			if f.Nullable && rng.IntN(5) == 0 {
				fb.AppendNull()
				continue
			}
			ts := t0.Add(time.Duration(rng.Int64N(int64(30 * time.Hour))))
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(first + int64(r))
			case *array.BooleanBuilder:
				fb.Append(rng.IntN(2) == 0)
			case *array.Int8Builder:
				fb.Append([]int8{math.MinInt8, -1, 0, math.MaxInt8}[rng.IntN(4)])
			case *array.Int16Builder:
				fb.Append(int16(rng.IntN(1 << 16)))
			case *array.Int32Builder:
				fb.Append(rng.Int32() - 1<<30)
			case *array.Uint8Builder:
				fb.Append(uint8(rng.IntN(3)))
			case *array.Uint16Builder:
				fb.Append(math.MaxUint16)
			case *array.Uint32Builder:
				fb.Append(rng.Uint32())
			case *array.Uint64Builder:
				fb.Append([]uint64{0, math.MaxUint64, rng.Uint64()}[rng.IntN(3)])
			case *array.Float32Builder:
				fb.Append(float32(rng.NormFloat64()))
			case *array.Float64Builder:
				fb.Append([]float64{rng.NormFloat64(), math.Inf(-1), -0.0, 1e300}[rng.IntN(4)])
			case *array.StringBuilder:
				fb.Append(strs[rng.IntN(len(strs))])
			case *array.LargeStringBuilder:
				fb.Append(strs[rng.IntN(len(strs))])
			case *array.BinaryBuilder:
				fb.Append([]byte{0, byte(rng.IntN(256)), '\n'})
			case *array.Date32Builder:
				fb.Append(arrow.Date32FromTime(ts))
			case *array.TimestampBuilder:
				switch f.Type.(*arrow.TimestampType).Unit {
				case arrow.Second:
					fb.Append(arrow.Timestamp(ts.Unix()))
				case arrow.Millisecond:
					fb.Append(arrow.Timestamp(ts.UnixMilli()))
				case arrow.Microsecond:
					fb.Append(arrow.Timestamp(ts.UnixMicro()))
				default:
					fb.Append(arrow.Timestamp(ts.UnixNano()))
				}
			}
		}
	}
	return b.NewRecordBatch()
}

// canonical renders a value as DuckDB returns it through database/sql, or
// as the model holds it, with its Go type, exactly (floats by their bits).
func canonical(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case float32:
		return fmt.Sprintf("float32:%08x", math.Float32bits(v))
	case float64:
		return fmt.Sprintf("float64:%016x", math.Float64bits(v))
	case []byte:
		return "bytes:" + hex.EncodeToString(v)
	case time.Time:
		return "time:" + v.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// modelRows renders the rows of b as DuckDB should return them; hive
// lists the columns read from folder names, where "" reads back as NULL.
func modelRows(b arrow.RecordBatch, hive ...string) []string {
	out := make([]string, b.NumRows())
	for r := range out {
		var cells []string
		for c, col := range b.Columns() {
			var v any
			if !col.IsNull(r) {
				switch a := col.(type) {
				case *array.Int64:
					v = a.Value(r)
				case *array.Boolean:
					v = a.Value(r)
				case *array.Int8:
					v = a.Value(r)
				case *array.Int16:
					v = a.Value(r)
				case *array.Int32:
					v = a.Value(r)
				case *array.Uint8:
					v = a.Value(r)
				case *array.Uint16:
					v = a.Value(r)
				case *array.Uint32:
					v = a.Value(r)
				case *array.Uint64:
					v = a.Value(r)
				case *array.Float32:
					v = a.Value(r)
				case *array.Float64:
					v = a.Value(r)
				case *array.String:
					v = a.Value(r)
				case *array.LargeString:
					v = a.Value(r)
				case *array.Binary:
					v = a.Value(r)
				case *array.Date32:
					v = a.Value(r).ToTime()
				case *array.Timestamp:
					v = a.Value(r).ToTime(a.DataType().(*arrow.TimestampType).Unit)
				}
			}
			if slices.Contains(hive, parquetSchema.Field(c).Name) && v == "" {
				v = nil
			}
			cells = append(cells, canonical(v))
		}
		out[r] = strings.Join(cells, "|")
	}
	return out
}

// duckRows runs query and renders its rows like modelRows.
func duckRows(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	_, vals, err := scanAll(rows)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	out := make([]string, len(vals))
	for r, row := range vals {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = canonical(v)
		}
		out[r] = strings.Join(cells, "|")
	}
	return out
}

// writeWithCrash runs two subtasks of the sink through three checkpoints
// with a crash: checkpoint 1 commits, checkpoint 2 is pre-committed but
// never completes, the job recovers from checkpoint 1 and a second
// attempt replays checkpoint 2's rows and commits them. It returns the
// rows that must be visible, each once.
func writeWithCrash(t *testing.T, cfg file.Config, rng *rand.Rand) []arrow.RecordBatch {
	t.Helper()
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sink, err := file.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Check(parquetSchema); err != nil {
		t.Fatal(err)
	}
	open := func(attempt uint64, subtask int) connectors.TransactionalWriter {
		w, err := sink.Open(ctx, connectors.SinkContext{Job: "oracle", Attempt: attempt, Subtask: subtask, Parallelism: 2, Schema: parquetSchema, Allocator: mem})
		if err != nil {
			t.Fatal(err)
		}
		return w.(connectors.TransactionalWriter)
	}
	var want []arrow.RecordBatch
	var next int64
	batch := func() arrow.RecordBatch {
		n := 1 + rng.IntN(400)
		b := parquetRows(rng, memory.DefaultAllocator, next, n)
		next += int64(n)
		return b
	}
	write := func(w connectors.TransactionalWriter, b arrow.RecordBatch) {
		b.Retain()
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Attempt 1.
	ws := []connectors.TransactionalWriter{open(1, 0), open(1, 1)}
	var ckpt1 []connectors.Txn
	for _, w := range ws {
		for range 3 {
			b := batch()
			want = append(want, b)
			write(w, b)
		}
		txn, err := w.PreCommit(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		ckpt1 = append(ckpt1, txn)
		// Rows of checkpoint 2, lost with the crash and replayed below.
		b := batch()
		write(w, b)
		if _, err := w.PreCommit(ctx, 2); err != nil {
			t.Fatal(err)
		}
		write(w, b) // and some, open at the crash
		b.Release()
	}
	if err := sink.Committer().Commit(ctx, ckpt1); err != nil {
		t.Fatal(err)
	}
	// Crash: the writers die without Close. Attempt 2 recovers from 1.
	if err := sink.Committer().Recover(ctx, connectors.RecoverContext{Job: "oracle", Txns: ckpt1}); err != nil {
		t.Fatal(err)
	}
	var ckpt2 []connectors.Txn
	for s := range 2 {
		w := open(2, s)
		for range 2 {
			b := batch()
			want = append(want, b)
			write(w, b)
		}
		txn, err := w.PreCommit(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		ckpt2 = append(ckpt2, txn)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Committer().Commit(ctx, ckpt2); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestParquetSinkDuckDB has DuckDB read what the Parquet file sink
// committed, partitioned by columns and by time, and checks that it gets
// exactly the rows written, each once, with their types: timestamps (with
// and without time zone, every unit), NULLs, unsigned and extreme values.
func TestParquetSinkDuckDB(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range parquetSchema.Fields() {
		cols = append(cols, `"`+f.Name+`"`)
	}
	for _, tc := range []struct {
		name string
		cfg  file.Config
		hive []string // partition columns DuckDB reads from folder names
	}{
		{"columns", file.Config{Format: "parquet", Compression: "zstd", PartitionBy: []string{"s", "u8"}, RowGroupRows: 100}, []string{"s", "u8"}},
		{"hours", file.Config{Format: "parquet", Compression: "lz4", RollBytes: 16 << 10,
			PartitionTime: &file.PartitionTime{Column: "ts_utc_ms", Format: "dt=%Y-%m-%d/hour=%H"}}, nil},
		{"flat", file.Config{Format: "parquet", Compression: "gzip"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lake")
			tc.cfg.Path = dir
			want := writeWithCrash(t, tc.cfg, rand.New(rand.NewPCG(11, uint64(len(tc.name)))))
			var model, hiveModel []string
			for _, b := range want {
				model = append(model, modelRows(b)...)
				hiveModel = append(hiveModel, modelRows(b, tc.hive...)...)
				b.Release()
			}
			slices.Sort(model)
			slices.Sort(hiveModel)
			glob := filepath.Join(dir, "**", "*.parquet")

			// The file columns, types first.
			rows, err := db.Query(fmt.Sprintf("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('%s', hive_partitioning = false))", glob))
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			for rows.Next() {
				var name, typ string
				if err := rows.Scan(&name, &typ); err != nil {
					t.Fatal(err)
				}
				if i >= len(parquetDuckTypes) || name != parquetSchema.Field(i).Name || typ != parquetDuckTypes[i] {
					t.Errorf("DuckDB column %d: %s %s, want %s %s", i, name, typ, parquetSchema.Field(min(i, len(parquetDuckTypes)-1)).Name, parquetDuckTypes[min(i, len(parquetDuckTypes)-1)])
				}
				i++
			}
			rows.Close()
			if i != len(parquetDuckTypes) {
				t.Fatalf("DuckDB sees %d columns, want %d", i, len(parquetDuckTypes))
			}
			got := duckRows(t, db, fmt.Sprintf("SELECT * FROM read_parquet('%s', hive_partitioning = false)", glob))
			slices.Sort(got)
			if !slices.Equal(got, model) {
				t.Fatalf("DuckDB read %d rows, the sink committed %d; first difference:\n%s", len(got), len(model), firstDiff(got, model))
			}

			// Through the folders, as a Hive-partitioned table.
			hiveTypes := ""
			for _, c := range tc.hive {
				i := parquetSchema.FieldIndices(c)[0]
				hiveTypes += fmt.Sprintf(", '%s': %s", c, parquetDuckTypes[i])
			}
			if hiveTypes != "" {
				hiveTypes = ", hive_types = {" + hiveTypes[2:] + "}"
			}
			got = duckRows(t, db, fmt.Sprintf("SELECT %s FROM read_parquet('%s', hive_partitioning = true%s)", strings.Join(cols, ", "), glob, hiveTypes))
			slices.Sort(got)
			if !slices.Equal(got, hiveModel) {
				t.Fatalf("DuckDB read %d rows through the folders, want %d; first difference:\n%s", len(got), len(hiveModel), firstDiff(got, hiveModel))
			}
			if tc.cfg.PartitionTime != nil {
				var bad int
				q := fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s', hive_partitioning = true)
					WHERE dt IS DISTINCT FROM CAST(ts_utc_ms AS DATE) OR hour IS DISTINCT FROM hour(ts_utc_ms)`, glob)
				if err := db.QueryRow(q).Scan(&bad); err != nil {
					t.Fatal(err)
				}
				if bad != 0 {
					t.Fatalf("%d rows sit in a dt=/hour= folder that is not their time's", bad)
				}
			}
		})
	}
}

func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			return "missing: " + want[i]
		case i >= len(want):
			return "extra:   " + got[i]
		case got[i] != want[i]:
			return "got:  " + got[i] + "\nwant: " + want[i]
		}
	}
	return ""
}
