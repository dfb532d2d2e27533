package file_test

import (
	"fmt"
	"os"
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

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]any
		want file.Config
	}{
		{map[string]any{"path": "p", "roll_bytes": "64MiB", "roll_interval": "90s"}, file.Config{Path: "p", RollBytes: 64 << 20, RollInterval: 90 * time.Second}},
		{map[string]any{"path": "p", "roll_bytes": float64(1000)}, file.Config{Path: "p", RollBytes: 1000}},
		{map[string]any{"path": "p", "roll_bytes": "1.5 GB"}, file.Config{Path: "p", RollBytes: 1_500_000_000}},
		{map[string]any{"path": "p", "roll_bytes": "4096"}, file.Config{Path: "p", RollBytes: 4096}},
		{map[string]any{"path": "p", "format": "parquet", "compression": "zstd", "row_group_rows": float64(1000), "partition_by": []any{"a", "b"},
			"partition_time": map[string]any{"column": "t", "format": "y=%Y", "time_zone": "Asia/Tokyo"}},
			file.Config{Path: "p", Format: "parquet", Compression: "zstd", RowGroupRows: 1000, PartitionBy: []string{"a", "b"},
				PartitionTime: &file.PartitionTime{Column: "t", Format: "y=%Y", TimeZone: "Asia/Tokyo"}}},
	} {
		got, err := file.ParseOptions(tc.opts)
		if err != nil {
			t.Errorf("ParseOptions(%v): %v", tc.opts, err)
			continue
		}
		if got.Path != tc.want.Path || got.Format != tc.want.Format || got.RollBytes != tc.want.RollBytes || got.RollInterval != tc.want.RollInterval ||
			got.Compression != tc.want.Compression || got.RowGroupRows != tc.want.RowGroupRows || !slices.Equal(got.PartitionBy, tc.want.PartitionBy) ||
			(got.PartitionTime == nil) != (tc.want.PartitionTime == nil) || got.PartitionTime != nil && *got.PartitionTime != *tc.want.PartitionTime {
			t.Errorf("ParseOptions(%v) = %+v, want %+v", tc.opts, got, tc.want)
		}
	}
}

// TestBadOptions checks that every mistake is an error naming the option,
// the value and the reason, from the registry's factory as a job file
// reaches it.
func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	aFile := filepath.Join(dir, "plain")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts map[string]any
		want []string
	}{
		{map[string]any{}, []string{`option "path"`, "required"}},
		{map[string]any{"path": dir, "rol_bytes": 1}, []string{`option "rol_bytes"`, "unknown option"}},
		{map[string]any{"path": dir, "format": "xml"}, []string{`option "format"`, `"xml"`, "json, csv, parquet"}},
		{map[string]any{"path": dir, "compression": "zstd"}, []string{`option "compression"`, "applies to format parquet, not json"}},
		{map[string]any{"path": dir, "format": "csv", "row_group_rows": 5}, []string{`option "row_group_rows"`, "not csv"}},
		{map[string]any{"path": dir, "format": "parquet", "compression": "brotli"}, []string{`option "compression"`, `"brotli"`, "snappy, zstd, gzip, lz4, none"}},
		{map[string]any{"path": dir, "format": "parquet", "row_group_rows": -1}, []string{`option "row_group_rows"`, "-1 must be positive"}},
		{map[string]any{"path": dir, "roll_bytes": "lots"}, []string{`option "roll_bytes"`, `"lots"`, "64MiB"}},
		{map[string]any{"path": dir, "roll_bytes": 1.5}, []string{`option "roll_bytes"`, "1.5 is not a whole number"}},
		{map[string]any{"path": dir, "roll_bytes": -5}, []string{`option "roll_bytes"`, "-5 must be positive"}},
		{map[string]any{"path": dir, "roll_interval": 5}, []string{`option "roll_interval"`, "5 is not a duration"}},
		{map[string]any{"path": dir, "roll_interval": "soon"}, []string{`option "roll_interval"`, `"soon"`}},
		{map[string]any{"path": dir, "partition_by": []any{"a", "a"}}, []string{`option "partition_by"`, `"a" is listed twice`}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"format": "%Y"}}, []string{`option "partition_time.column"`, "required"}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"column": "t", "format": "d=%Q"}}, []string{`option "partition_time.format"`, "unknown directive %Q"}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"column": "t", "format": "day"}}, []string{`option "partition_time.format"`, "no directive"}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"column": "t", "format": "_h=%H"}}, []string{`option "partition_time.format"`, "starts with '_'"}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"column": "t", "format": "../%Y"}}, []string{`option "partition_time.format"`, "'..'"}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"column": "t", "format": "%Y//%m"}}, []string{`option "partition_time.format"`, "empty"}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"column": "t", "time_zone": "Mars/Olympus"}}, []string{`option "partition_time.time_zone"`, `"Mars/Olympus"`}},
		{map[string]any{"path": dir, "partition_time": map[string]any{"column": "t", "zone": "UTC"}}, []string{"unknown", "zone"}},
		{map[string]any{"path": aFile + "/out"}, []string{`option "path"`, aFile, "not a directory"}},
		{map[string]any{"path": aFile}, []string{`option "path"`, aFile, "is a file"}},
		{map[string]any{"path": "/proc/sys/sluice-out"}, []string{`option "path"`, `"/proc/sys"`, "not writable"}},
		{map[string]any{"path": "s3://bucket/out/q5?region=us-east-1"}, []string{`option "path"`, "?prefix=out/q5/"}},
		{map[string]any{"path": "ftp://host/x"}, []string{`option "path"`, `unsupported scheme "ftp"`}},
	} {
		_, err := connectors.NewSink("file", tc.opts)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("options %v: error %v, want it to contain %q", tc.opts, err, w)
				break
			}
		}
	}
	// Several mistakes are reported together.
	_, err := connectors.NewSink("file", map[string]any{"path": dir, "format": "xml", "roll_bytes": -1})
	if err == nil || !strings.Contains(err.Error(), `"format"`) || !strings.Contains(err.Error(), `"roll_bytes"`) {
		t.Errorf("two mistakes: %v", err)
	}
}

// TestUnwritableFolder checks permission bits (meaningless for root, who
// TestBadOptions covers with a read-only pseudo file system).
func TestUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes through permission bits")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	_, err := file.New(file.Config{Path: filepath.Join(dir, "out")})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("unwritable folder: %v", err)
	}
}

// TestNothingCreatedAtSubmission checks that New leaves no trace in a
// local folder: no folder, no file.
func TestNothingCreatedAtSubmission(t *testing.T) {
	parent := t.TempDir()
	s, err := file.New(file.Config{Path: filepath.Join(parent, "a", "b")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("New left %v", entries)
	}
}

func TestCheck(t *testing.T) {
	s := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "b", Type: arrow.BinaryTypes.Binary},
		{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
	}, nil)
	for _, tc := range []struct {
		cfg  file.Config
		want []string
	}{
		{file.Config{Format: "json"}, []string{`column "b"`, "binary"}},
		{file.Config{Format: "parquet", PartitionBy: []string{"x"}}, []string{`option "partition_by"`, `column "x" is not in the input`, "s, b, t"}},
		{file.Config{Format: "parquet", PartitionBy: []string{"b"}}, []string{`option "partition_by"`, `column "b" is binary`}},
		{file.Config{Format: "parquet", PartitionTime: &file.PartitionTime{Column: "s"}}, []string{`option "partition_time.column"`, `column "s" is utf8, not a timestamp`}},
		{file.Config{Format: "parquet", PartitionTime: &file.PartitionTime{Column: "nope"}}, []string{`option "partition_time.column"`, `"nope" is not in the input`}},
	} {
		sink := newSinkNoCheck(t, tc.cfg)
		err := sink.Check(s)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: Check = %v, want it to contain %q", tc.cfg, err, w)
				break
			}
		}
		sink.Close()
	}
}

func newSinkNoCheck(t *testing.T, cfg file.Config) *file.Sink {
	t.Helper()
	cfg.Path = "mem://"
	s, err := file.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFolders checks folder names value by value: escaping, NULL and "",
// dates and timestamps, time buckets in a time zone across a DST change.
func TestFolders(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "k ey", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"}, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	type row struct {
		s  *string
		f  *float64
		d  *time.Time
		ts *time.Time
		b  bool
	}
	str := func(s string) *string { return &s }
	flt := func(f float64) *float64 { return &f }
	tm := func(t time.Time) *time.Time { return &t }
	// 2024-10-27 03:00 Paris summer time ends: 02:00-03:00 happens twice.
	dst := time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC) // 02:30 CEST
	rows := []row{
		{s: str("a/b=c d%"), f: flt(1.5), d: tm(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)), ts: tm(dst), b: true},
		{s: nil, f: nil, d: nil, ts: nil},
		{s: str(""), f: flt(-0.25), d: tm(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)), ts: tm(dst.Add(time.Hour))}, // 02:30 CET
		{s: str("é:#?*"), f: flt(1e21), ts: tm(dst.Add(2 * time.Hour))},                                               // 03:30 CET
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	for _, r := range rows {
		if r.s == nil {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.StringBuilder).Append(*r.s)
		}
		if r.f == nil {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Float64Builder).Append(*r.f)
		}
		if r.d == nil {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Date32Builder).Append(arrow.Date32FromTime(*r.d))
		}
		if r.ts == nil {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts.UnixMicro()))
		}
		b.Field(4).(*array.BooleanBuilder).Append(r.b)
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()

	for _, tc := range []struct {
		name string
		cfg  file.Config
		want []string
	}{
		{"columns", file.Config{PartitionBy: []string{"s", "k ey", "b"}}, []string{
			"s=a%2Fb%3Dc d%25/k ey=1.5/b=true/",
			"s=__HIVE_DEFAULT_PARTITION__/k ey=__HIVE_DEFAULT_PARTITION__/b=false/",
			"s=__HIVE_DEFAULT_PARTITION__/k ey=-0.25/b=false/",
			"s=é%3A%23%3F%2A/k ey=1e+21/b=false/",
		}},
		{"date and timestamp values", file.Config{PartitionBy: []string{"d", "ts"}}, []string{
			"d=2024-01-02/ts=2024-10-27 00%3A30%3A00/",
			"d=__HIVE_DEFAULT_PARTITION__/ts=__HIVE_DEFAULT_PARTITION__/",
			"d=1969-12-31/ts=2024-10-27 01%3A30%3A00/",
			"d=__HIVE_DEFAULT_PARTITION__/ts=2024-10-27 02%3A30%3A00/",
		}},
		{"hours in Paris", file.Config{PartitionTime: &file.PartitionTime{Column: "ts", Format: "dt=%Y-%m-%d/hour=%H", TimeZone: "Europe/Paris"}}, []string{
			"dt=2024-10-27/hour=02/", // CEST and CET 02:30 share the wall-clock hour
			"dt=__HIVE_DEFAULT_PARTITION__/hour=__HIVE_DEFAULT_PARTITION__/",
			"dt=2024-10-27/hour=02/",
			"dt=2024-10-27/hour=03/",
		}},
		{"days in UTC then a column", file.Config{PartitionTime: &file.PartitionTime{Column: "ts"}, PartitionBy: []string{"b"}}, []string{
			"dt=2024-10-27/b=true/",
			"dt=__HIVE_DEFAULT_PARTITION__/b=false/",
			"dt=2024-10-27/b=false/",
			"dt=2024-10-27/b=false/",
		}},
		{"months of a date column", file.Config{PartitionTime: &file.PartitionTime{Column: "d", Format: "%Y/%m%%"}}, []string{
			"2024/01%/",
			"__HIVE_DEFAULT_PARTITION__/__HIVE_DEFAULT_PARTITION__/",
			"1969/12%/",
			"__HIVE_DEFAULT_PARTITION__/__HIVE_DEFAULT_PARTITION__/",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := memTarget(t)
			store := tg.store(t)
			tc.cfg.Path = "mem://"
			tc.cfg.Format = "csv"
			s, err := file.NewOnStore(tc.cfg, store)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(sch); err != nil {
				t.Fatal(err)
			}
			// One row per batch: each row's file tells its folder.
			w := open(t, s, connectors.SinkContext{Schema: sch})
			var txns []connectors.Txn
			for i := range rows {
				if err := w.Write(ctx, rec.NewSlice(int64(i), int64(i+1))); err != nil {
					t.Fatal(err)
				}
				txn, err := w.PreCommit(ctx, uint64(i+1))
				if err != nil {
					t.Fatal(err)
				}
				txns = append(txns, txn)
			}
			if err := s.Committer().Commit(ctx, txns); err != nil {
				t.Fatal(err)
			}
			w.Close()
			for i, want := range tc.want {
				var found bool
				for _, name := range committed(t, store) {
					if strings.HasPrefix(name, want) && strings.HasPrefix(name[len(want):], fmt.Sprintf("part-0-0-%d-", i+1)) {
						found = true
					}
				}
				if !found {
					t.Errorf("row %d: no file in %q; files: %q", i, want, committed(t, store))
				}
			}
		})
	}
}
