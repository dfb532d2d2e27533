package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Azure writes bypass gocloud's azureblob writer: aborting it (cancelling
// its context mid-upload) crashes with a nil pointer in gocloud v0.47, and
// it always stages blocks even for a tiny conditional create. Here:
//
//   - CreateObject stages a block every azureBlockSize bytes and commits the
//     block list at Finish; an object of one block or less is one Put Blob.
//     Abort commits nothing, so nothing becomes visible (Azure discards
//     uncommitted blocks after a week).
//   - CreateIfAbsent is one Put Blob with If-None-Match: *.
//
// Reads, lists and deletes still go through gocloud.

const azureBlockSize = 4 << 20

type azureTarget struct {
	client *container.Client
	prefix string // from the URL's prefix parameter
}

func (a *azureTarget) blob(name string) *blockblob.Client {
	return a.client.NewBlockBlobClient(a.prefix + name)
}

func azureAlreadyExists(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet)
}

func (s *bucketStorage) azureCreateIfAbsent(ctx context.Context, name string, data []byte) error {
	etagAny := azcore.ETagAny
	_, err := s.azure.blob(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{
		AccessConditions: &azblobblob.AccessConditions{
			ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfNoneMatch: &etagAny},
		},
	})
	if err != nil {
		if azureAlreadyExists(err) {
			return fmt.Errorf("objstore: create-if-absent %s %q: %w: %v", s.url, name, ErrAlreadyExists, err)
		}
		return s.errorf("create-if-absent", name, err)
	}
	return nil
}

type azureWritable struct {
	ctx    context.Context
	s      *bucketStorage
	name   string
	client *blockblob.Client
	buf    []byte
	blocks []string
	nonce  [8]byte
	done   bool
}

func (s *bucketStorage) azureCreate(ctx context.Context, name string) *azureWritable {
	w := &azureWritable{ctx: ctx, s: s, name: name, client: s.azure.blob(name)}
	_, _ = rand.Read(w.nonce[:])
	return w
}

func (w *azureWritable) Write(p []byte) error {
	if w.done {
		return fmt.Errorf("objstore: write %s %q: %w", w.s.url, w.name, ErrClosed)
	}
	w.buf = append(w.buf, p...)
	for len(w.buf) >= azureBlockSize {
		if err := w.stage(w.buf[:azureBlockSize]); err != nil {
			return err
		}
		w.buf = append(w.buf[:0], w.buf[azureBlockSize:]...)
	}
	return nil
}

// stage uploads one uncommitted block. Block ids are unique per writer, so
// concurrent writers of one name do not mix their blocks.
func (w *azureWritable) stage(p []byte) error {
	var raw [16]byte
	copy(raw[:8], w.nonce[:])
	binary.BigEndian.PutUint64(raw[8:], uint64(len(w.blocks)))
	id := base64.StdEncoding.EncodeToString(raw[:])
	if _, err := w.client.StageBlock(w.ctx, id, streaming.NopCloser(bytes.NewReader(p)), nil); err != nil {
		return w.s.errorf("write", w.name, err)
	}
	w.blocks = append(w.blocks, id)
	return nil
}

func (w *azureWritable) Finish() error {
	if w.done {
		return fmt.Errorf("objstore: finish %s %q: %w", w.s.url, w.name, ErrClosed)
	}
	w.done = true
	if len(w.blocks) == 0 {
		if _, err := w.client.Upload(w.ctx, streaming.NopCloser(bytes.NewReader(w.buf)), nil); err != nil {
			return w.s.errorf("finish", w.name, err)
		}
		w.buf = nil
		return nil
	}
	if len(w.buf) > 0 {
		if err := w.stage(w.buf); err != nil {
			return err
		}
	}
	w.buf = nil
	if _, err := w.client.CommitBlockList(w.ctx, w.blocks, nil); err != nil {
		return w.s.errorf("finish", w.name, err)
	}
	return nil
}

func (w *azureWritable) Abort() {
	w.done = true
	w.buf = nil
}
