package objstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/statestore/objstore"
)

// TestOpenBucket checks that OpenBucket honours the URL conventions of
// OpenWith: a file:// folder, prefix=, and the same errors.
func TestOpenBucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := objstore.OpenBucket(ctx, "file://"+dir+"?prefix=out/q5/", objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "k=a b%/part-0.parquet", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out", "q5", "k=a b%", "part-0.parquet")); err != nil || string(data) != "x" {
		t.Fatalf("object under the prefix: %q, %v", data, err)
	}
	if _, err := objstore.OpenBucket(ctx, "ftp://x", objstore.Options{}); err == nil || !strings.Contains(err.Error(), `unsupported scheme "ftp"`) {
		t.Fatalf("bad scheme: %v", err)
	}
}
