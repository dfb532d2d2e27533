package file_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"
	"gocloud.dev/blob"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/connectors/file"
	"github.com/sluicedata/sluice/connectors/twophase"
	"github.com/sluicedata/sluice/formats/parquet"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/objstore/objstoretest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The AWS and Azure SDKs keep idle HTTP connections in pools shared
		// by the process.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

var ctx = context.Background()

var t0 = time.Date(2024, 3, 10, 22, 30, 0, 0, time.UTC)

// schemaAll has a column of every type the Parquet format writes.
var schemaAll = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "wall", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	{Name: "paris", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Europe/Paris"}, Nullable: true},
}, nil)

// schemaText is schemaAll without the binary column, for JSON and CSV.
var schemaText = func() *arrow.Schema {
	var fields []arrow.Field
	for _, f := range schemaAll.Fields() {
		if f.Name != "bin" {
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, nil)
}()

// gen makes random batches whose ids count up from 0.
type gen struct {
	rng    *rand.Rand
	mem    memory.Allocator
	next   int64
	schema *arrow.Schema // default schema
}

func (g *gen) batch(n int) arrow.RecordBatch {
	schema := g.schema
	if schema == nil {
		schema = schemaAll
	}
	b := array.NewRecordBuilder(g.mem, schema)
	defer b.Release()
	strs := []string{"a", "b b", "x/y", "k=v", "50%", "", "é", "#1", "a:b", ".", "_x"}
	for range n {
		for i, f := range schema.Fields() {
			fb := b.Field(i)
			if f.Nullable && g.rng.IntN(6) == 0 {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(g.next)
				g.next++
			case *array.BooleanBuilder:
				fb.Append(g.rng.IntN(2) == 0)
			case *array.Int8Builder:
				fb.Append(int8(g.rng.IntN(256) - 128))
			case *array.Int16Builder:
				fb.Append(int16(g.rng.IntN(7) - 3))
			case *array.Int32Builder:
				fb.Append(g.rng.Int32() - 1<<30)
			case *array.Uint8Builder:
				fb.Append(uint8(g.rng.IntN(3)))
			case *array.Uint16Builder:
				fb.Append(uint16(g.rng.IntN(65536)))
			case *array.Uint32Builder:
				fb.Append(g.rng.Uint32())
			case *array.Uint64Builder:
				fb.Append(g.rng.Uint64())
			case *array.Float32Builder:
				fb.Append(float32(g.rng.NormFloat64()))
			case *array.Float64Builder:
				fb.Append(g.rng.NormFloat64() * 1e9)
			case *array.StringBuilder:
				fb.Append(strs[g.rng.IntN(len(strs))])
			case *array.LargeStringBuilder:
				fb.Append(strs[g.rng.IntN(len(strs))])
			case *array.BinaryBuilder:
				fb.Append([]byte{byte(g.rng.IntN(256)), 0})
			case *array.Date32Builder:
				fb.Append(arrow.Date32FromTime(t0.AddDate(0, 0, g.rng.IntN(3))))
			case *array.TimestampBuilder:
				t := t0.Add(time.Duration(g.rng.IntN(4*3600)) * time.Second)
				switch f.Type.(*arrow.TimestampType).Unit {
				case arrow.Second:
					fb.Append(arrow.Timestamp(t.Unix()))
				case arrow.Millisecond:
					fb.Append(arrow.Timestamp(t.UnixMilli() + int64(g.rng.IntN(1000))))
				default:
					fb.Append(arrow.Timestamp(t.UnixMicro() + int64(g.rng.IntN(1e6))))
				}
			}
		}
	}
	return b.NewRecordBatch()
}

// rowStrings renders every row of b, one string per row.
func rowStrings(b arrow.RecordBatch) []string {
	out := make([]string, b.NumRows())
	for i := range out {
		var sb strings.Builder
		for c, col := range b.Columns() {
			if c > 0 {
				sb.WriteByte('|')
			}
			if col.IsNull(i) {
				sb.WriteString("NULL")
			} else {
				sb.WriteString(col.ValueStr(i))
			}
		}
		out[i] = sb.String()
	}
	return out
}

// target is a store the test can read behind the sink's back.
type target struct {
	name  string
	store func(t *testing.T) twophase.Store
	read  func(name string) ([]byte, error)
}

func memTarget(t *testing.T) *target {
	b, err := objstore.OpenBucket(ctx, "mem://", objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &target{
		name:  "mem",
		store: func(t *testing.T) twophase.Store { return noClose{twophase.NewBlobStore(b, "mem://", t.TempDir())} },
		read:  func(name string) ([]byte, error) { return b.ReadAll(ctx, name) },
	}
}

// noClose keeps a test's bucket open when a sink closes its store.
type noClose struct{ twophase.Store }

func (noClose) Close() error { return nil }

func dirTarget(t *testing.T) (*target, string) {
	root := filepath.Join(t.TempDir(), "out")
	return &target{
		name: "dir",
		store: func(t *testing.T) twophase.Store {
			s, err := twophase.OpenDir(root)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		read: func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(root, name)) },
	}, root
}

func newSink(t *testing.T, cfg file.Config, store twophase.Store) *file.Sink {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = store.String()
	}
	s, err := file.NewOnStore(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(schemaAll); err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t *testing.T, s *file.Sink, sc connectors.SinkContext) connectors.TransactionalWriter {
	t.Helper()
	if sc.Schema == nil {
		sc.Schema = schemaAll
	}
	if sc.Job == "" {
		sc.Job = "job"
	}
	w, err := s.Open(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	return w.(connectors.TransactionalWriter)
}

// committed lists the final (visible) files under the store's root.
func committed(t *testing.T, s twophase.Store) []string {
	t.Helper()
	names, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, twophase.PendingDir) {
			out = append(out, n)
		}
	}
	return out
}

// readParquet reads the committed Parquet files: rows per file.
func readParquet(t *testing.T, tg *target, names []string, mem memory.Allocator) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, name := range names {
		data, err := tg.read(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parquet.NewReader(bytes.NewReader(data), int64(len(data)), mem)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !r.Schema().Equal(schemaAll) {
			t.Fatalf("%s: schema %s", name, r.Schema())
		}
		for {
			b, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[name] = append(out[name], rowStrings(b)...)
			b.Release()
		}
	}
	return out
}

func all(m map[string][]string) []string {
	var out []string
	for _, rows := range m {
		out = append(out, rows...)
	}
	slices.Sort(out)
	return out
}

// TestParquetCheckpoints writes random batches across checkpoints with
// partitioning, size rolling and nothing visible before a commit, and
// compares the committed rows with what was written, on a bucket and on a
// local folder.
func TestParquetCheckpoints(t *testing.T) {
	dt, _ := dirTarget(t)
	for _, tg := range []*target{memTarget(t), dt} {
		t.Run(tg.name, func(t *testing.T) {
			for seed := range uint64(4) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				rng := rand.New(rand.NewPCG(seed, 3))
				store := tg.store(t)
				cfg := file.Config{Format: "parquet", RowGroupRows: 50, Compression: []string{"snappy", "zstd", "gzip", "none"}[seed]}
				if seed%2 == 0 {
					cfg.PartitionBy = []string{"u8", "s"}
				} else {
					cfg.PartitionTime = &file.PartitionTime{Column: "ts", Format: "dt=%Y-%m-%d/hour=%H"}
					cfg.RollBytes = 4096
				}
				s := newSink(t, cfg, store)
				job := fmt.Sprint("job", seed)
				w := open(t, s, connectors.SinkContext{Job: job, Attempt: 1, Allocator: mem})
				g := &gen{rng: rng, mem: mem}
				var want []string
				var txns []connectors.Txn
				before := committed(t, store)
				for ckpt := uint64(1); ckpt <= 3; ckpt++ {
					for range rng.IntN(4) + 1 {
						b := g.batch(rng.IntN(200) + 1)
						want = append(want, rowStrings(b)...)
						if err := w.Write(ctx, b); err != nil {
							t.Fatal(err)
						}
					}
					txn, err := w.PreCommit(ctx, ckpt)
					if err != nil {
						t.Fatal(err)
					}
					txns = append(txns, txn)
					if got := committed(t, store); !slices.Equal(got, before) {
						t.Fatalf("visible before the commit: %q", got)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if err := s.Committer().Commit(ctx, txns); err != nil {
					t.Fatal(err)
				}
				var mine []string
				for _, n := range committed(t, store) {
					if !slices.Contains(before, n) {
						mine = append(mine, n)
					}
				}
				got := readParquet(t, tg, mine, mem)
				slices.Sort(want)
				if g := all(got); !slices.Equal(g, want) {
					t.Fatalf("seed %d: %d rows committed, %d written", seed, len(g), len(want))
				}
				checkFolders(t, got, cfg)
				if seed%2 == 1 && len(mine) <= 6 {
					t.Errorf("seed %d: roll_bytes 4096 made only %d files", seed, len(mine))
				}
				name := regexp.MustCompile(`^(([^/]+=[^/]+/)+)part-0-1-[1-3]-\d+-[0-9a-f]{8}\.parquet$`)
				for _, n := range mine {
					if !name.MatchString(n) {
						t.Errorf("file name %q", n)
					}
				}
				mem.AssertSize(t, 0)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// checkFolders checks, with a model independent of the sink's code, that
// every row sits in the folder its values name.
func checkFolders(t *testing.T, files map[string][]string, cfg file.Config) {
	t.Helper()
	col := map[string]int{}
	for i, f := range schemaAll.Fields() {
		col[f.Name] = i
	}
	esc := func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			if strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 || c < 0x20 {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
		return b.String()
	}
	for name, rows := range files {
		for _, row := range rows {
			vals := strings.Split(row, "|")
			var want string
			if pt := cfg.PartitionTime; pt != nil {
				v := vals[col[pt.Column]]
				if v == "NULL" {
					want = "dt=__HIVE_DEFAULT_PARTITION__/hour=__HIVE_DEFAULT_PARTITION__/"
				} else {
					ts, err := time.Parse(time.RFC3339Nano, v)
					if err != nil {
						t.Fatalf("model: %v", err)
					}
					want = ts.UTC().Format("dt=2006-01-02/hour=15/")
				}
			}
			for _, c := range cfg.PartitionBy {
				v := vals[col[c]]
				if v == "NULL" || v == "" {
					v = "__HIVE_DEFAULT_PARTITION__"
				} else {
					v = esc(v)
				}
				want += c + "=" + v + "/"
			}
			if !strings.HasPrefix(name, want) || strings.Contains(name[len(want):], "/") {
				t.Fatalf("row %q is in %q, want folder %q", row, name, want)
			}
		}
	}
}

// TestBoundedJSON is a job without checkpoints: Flush commits part-0.jsonl
// in the folder, as the examples' users expect.
func TestBoundedJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q0")
	for run := range 2 {
		sink, err := file.New(file.Config{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) && run == 0 {
			t.Fatalf("New created the folder: %v", err)
		}
		w := open(t, sink, connectors.SinkContext{Attempt: uint64(run), Schema: schemaText})
		g := &gen{rng: rand.New(rand.NewPCG(1, 1)), mem: memory.DefaultAllocator, schema: schemaText}
		for range 3 {
			if err := w.Write(ctx, g.batch(10)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sink.Close()
		data, err := os.ReadFile(filepath.Join(dir, "part-0.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(data, []byte("\n")); n != 30 {
			t.Fatalf("run %d: %d lines, want 30", run, n)
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"part-0.jsonl"}) {
			t.Fatalf("run %d: folder holds %q", run, names)
		}
	}
}

// TestRollByTime rolls on the injected clock.
func TestRollByTime(t *testing.T) {
	tg := memTarget(t)
	store := tg.store(t)
	s, err := file.NewOnStore(file.Config{Path: "mem://", Format: "csv", RollInterval: time.Minute}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := clock.NewFake(t0)
	w := open(t, s, connectors.SinkContext{Attempt: 3, Clock: clk, Schema: schemaText})
	g := &gen{rng: rand.New(rand.NewPCG(2, 2)), mem: memory.DefaultAllocator, schema: schemaText}
	write := func() {
		if err := w.Write(ctx, g.batch(5)); err != nil {
			t.Fatal(err)
		}
	}
	write()
	clk.Advance(59 * time.Second)
	write() // same file
	clk.Advance(time.Second)
	write() // a minute after the first: a new file
	clk.Advance(30 * time.Second)
	write()
	txn, err := w.PreCommit(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	if txn, err := w.PreCommit(ctx, 10); txn != nil || err != nil {
		t.Fatalf("PreCommit with nothing written: %q, %v", txn, err)
	}
	if err := s.Committer().Commit(ctx, []connectors.Txn{txn}); err != nil {
		t.Fatal(err)
	}
	got := committed(t, store)
	if len(got) != 2 || !regexp.MustCompile(`^part-0-3-9-0-[0-9a-f]{8}\.csv$`).MatchString(got[0]) || !regexp.MustCompile(`^part-0-3-9-1-[0-9a-f]{8}\.csv$`).MatchString(got[1]) {
		t.Fatalf("files %q, want part-0-3-9-0-<run>.csv and part-0-3-9-1-<run>.csv", got)
	}
	for i, name := range got {
		data, _ := tg.read(name)
		if lines := strings.Count(string(data), "\n"); lines != 11 { // header + 10 rows
			t.Errorf("file %d has %d lines", i, lines)
		}
	}
	w.Close()
}

// TestRecover checks that a restart commits the restored checkpoint's
// transactions and removes the rest of what the failed attempt wrote.
func TestRecover(t *testing.T) {
	dt, root := dirTarget(t)
	store := dt.store(t)
	s := newSink(t, file.Config{Format: "parquet", PartitionBy: []string{"flag"}}, store)
	defer s.Close()
	g := &gen{rng: rand.New(rand.NewPCG(4, 4)), mem: memory.DefaultAllocator}
	w := open(t, s, connectors.SinkContext{Attempt: 1})
	var want []string
	var restored []connectors.Txn
	for ckpt := uint64(1); ckpt <= 3; ckpt++ {
		b := g.batch(50)
		if ckpt <= 2 {
			want = append(want, rowStrings(b)...)
		}
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		txn, err := w.PreCommit(ctx, ckpt)
		if err != nil {
			t.Fatal(err)
		}
		if ckpt <= 2 {
			restored = append(restored, txn) // checkpoint 2 completed; 3 did not
		}
	}
	if err := w.Write(ctx, g.batch(7)); err != nil { // open at the crash
		t.Fatal(err)
	}
	// The process dies: no Close.
	if err := s.Committer().Recover(ctx, connectors.RecoverContext{Job: "job", Txns: restored}); err != nil {
		t.Fatal(err)
	}
	got := readParquet(t, dt, committed(t, store), memory.DefaultAllocator)
	slices.Sort(want)
	if g := all(got); !slices.Equal(g, want) {
		t.Fatalf("%d rows committed, want %d", len(g), len(want))
	}
	if _, err := os.Stat(filepath.Join(root, "_pending", "job")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the job's pending folder survived Recover: %v", err)
	}
	w.Close()
}

// TestCommitFaults fails the upload of a checkpoint's files and then its
// commit: the job restarts from the last completed checkpoint, and the
// committed rows are those of completed checkpoints, each once.
func TestCommitFaults(t *testing.T) {
	tg := memTarget(t)
	var mu sync.Mutex
	fail := map[twophase.Op]int{}
	store := twophase.WithFaults(tg.store(t), func(_ context.Context, op twophase.Op, name string, done bool) error {
		mu.Lock()
		defer mu.Unlock()
		if fail[op] > 0 && done == (op == twophase.OpPublish) {
			fail[op]--
			return fmt.Errorf("injected %s failure (done=%v)", op, done)
		}
		return nil
	})
	s := newSink(t, file.Config{Format: "parquet"}, store)
	defer s.Close()
	g := &gen{rng: rand.New(rand.NewPCG(5, 5)), mem: memory.DefaultAllocator}
	var want []string
	w := open(t, s, connectors.SinkContext{Attempt: 1})
	b := g.batch(20)
	want = append(want, rowStrings(b)...)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	t1, err := w.PreCommit(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Checkpoint 1 completes, but its commit crashes after the publish.
	fail[twophase.OpPublish] = 1
	if err := s.Committer().Commit(ctx, []connectors.Txn{t1}); err == nil {
		t.Fatal("the injected commit failure was not reported")
	}
	// Checkpoint 2's upload fails: the job fails and restarts from 1.
	if err := w.Write(ctx, g.batch(20)); err != nil {
		t.Fatal(err)
	}
	fail[twophase.OpFinish] = 1
	if _, err := w.PreCommit(ctx, 2); err == nil || !strings.Contains(err.Error(), "injected finish failure") {
		t.Fatalf("PreCommit with a failing upload: %v", err)
	}
	w.Close()
	if err := s.Committer().Recover(ctx, connectors.RecoverContext{Job: "job", Txns: []connectors.Txn{t1}}); err != nil {
		t.Fatal(err)
	}
	// Attempt 2 replays checkpoint 2's rows.
	w = open(t, s, connectors.SinkContext{Attempt: 2})
	b = g.batch(20)
	want = append(want, rowStrings(b)...)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	t2, err := w.PreCommit(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Committer().Commit(ctx, []connectors.Txn{t2}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := readParquet(t, tg, committed(t, store), memory.DefaultAllocator)
	slices.Sort(want)
	if g := all(got); !slices.Equal(g, want) {
		t.Fatalf("%d rows committed, want %d", len(g), len(want))
	}
	if names, _ := store.List(ctx, twophase.PendingDir); len(names) != 0 {
		t.Fatalf("pending objects left: %q", names)
	}
}

// TestBuckets runs a partitioned Parquet sink on S3 and Azurite through
// blob URLs, as a job file names them.
func TestBuckets(t *testing.T) {
	for _, kind := range []string{"s3", "azblob"} {
		t.Run(kind, func(t *testing.T) {
			var url string
			var getenv func(string) string
			switch kind {
			case "s3":
				srv := objstoretest.StartS3(t)
				srv.CreateBucket(t, "lake")
				url = srv.URL("lake", "prefix", "q5/")
			case "azblob":
				az := objstoretest.StartAzurite(t)
				az.CreateContainer(t, "lake")
				url = az.URL("lake", "prefix", "q5/")
				getenv = az.Getenv
			}
			s, err := file.New(file.Config{Path: url, Format: "parquet", PartitionBy: []string{"s"}, Getenv: getenv, SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w := open(t, s, connectors.SinkContext{Attempt: 1})
			g := &gen{rng: rand.New(rand.NewPCG(6, 6)), mem: memory.DefaultAllocator}
			b := g.batch(300)
			want := rowStrings(b)
			if err := w.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			txn, err := w.PreCommit(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Committer().Commit(ctx, []connectors.Txn{txn}); err != nil {
				t.Fatal(err)
			}
			w.Close()
			bucket, err := objstore.OpenBucket(ctx, url, objstore.Options{Getenv: getenv})
			if err != nil {
				t.Fatal(err)
			}
			defer bucket.Close()
			var names []string
			it := bucket.List(&blob.ListOptions{})
			for {
				obj, err := it.Next(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, obj.Key)
			}
			tg := &target{read: func(name string) ([]byte, error) { return bucket.ReadAll(ctx, name) }}
			got := readParquet(t, tg, names, memory.DefaultAllocator)
			slices.Sort(want)
			if g := all(got); !slices.Equal(g, want) {
				t.Fatalf("%d rows committed, want %d; files %q", len(g), len(want), names)
			}
			checkFolders(t, got, file.Config{PartitionBy: []string{"s"}})
		})
	}
}
