package objstoretest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server is a running in-process S3 server.
type S3Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:port.
	Endpoint string
	// Backend is the server's in-memory store, for inspecting objects
	// without going through the code under test.
	Backend *s3mem.Backend
}

// URL returns an objstore URL for bucket on this server (the bucket must
// exist; see CreateBucket), with extra query parameters appended.
func (s *S3Server) URL(bucket string, extra ...string) string {
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", "us-east-1")
	q.Set("use_path_style", "true")
	q.Set("anonymous", "true")
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "s3://" + bucket + "?" + q.Encode()
}

// CreateBucket creates a bucket.
func (s *S3Server) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	if err := s.Backend.CreateBucket(bucket); err != nil {
		t.Fatalf("objstoretest: create S3 bucket %q: %v", bucket, err)
	}
}

// StartS3 starts an in-process S3 server (gofakes3 with its in-memory
// backend) on 127.0.0.1 at a random port. t.Cleanup stops it.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	be := s3mem.New()
	faker := gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	return &S3Server{Endpoint: srv.URL, Backend: be}
}

// Azurite's well-known development account.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// AzuriteServer is a running Azurite blob service.
type AzuriteServer struct {
	// Endpoint is the blob service's address, 127.0.0.1:port.
	Endpoint string
	// Env holds the environment objstore.Options.Getenv should see.
	Env map[string]string
}

// Getenv looks up the server's environment, for objstore.Options.Getenv.
func (a *AzuriteServer) Getenv(k string) string { return a.Env[k] }

// URL returns an objstore URL for container on this server (the container
// must exist; see CreateContainer), with extra query parameters appended.
func (a *AzuriteServer) URL(containerName string, extra ...string) string {
	q := url.Values{}
	q.Set("domain", a.Endpoint)
	q.Set("protocol", "http")
	q.Set("localemu", "true")
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "azblob://" + containerName + "?" + q.Encode()
}

// CreateContainer creates a blob container.
func (a *AzuriteServer) CreateContainer(t testing.TB, name string) {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(fmt.Sprintf("http://%s/%s/%s", a.Endpoint, AzuriteAccount, name), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatalf("objstoretest: create Azurite container %q: %v", name, err)
	}
}

// AzuriteBinary returns the path of azurite-blob: $SLUICE_AZURITE if set,
// else tools/azurite/node_modules/.bin/azurite-blob in the module root
// found by walking up from the working directory. It returns "" if none
// exists.
func AzuriteBinary() string {
	if p := os.Getenv("SLUICE_AZURITE"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "tools", "azurite", "node_modules", ".bin", "azurite-blob")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// azuriteStartTimeout bounds how long StartAzurite waits for the port.
const azuriteStartTimeout = 60 * time.Second

// StartAzurite starts Azurite's blob service as a child process, in memory,
// on 127.0.0.1 at a free port, waits until it accepts connections, and
// stops it in t.Cleanup. Without Azurite installed it skips the test, or
// fails it when CI=true.
func StartAzurite(t testing.TB) *AzuriteServer {
	t.Helper()
	bin := AzuriteBinary()
	if bin == "" {
		msg := "objstoretest: Azurite is not installed; run `npm ci --prefix tools/azurite` (or set SLUICE_AZURITE)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	port := freePort(t)
	cmd := exec.Command(bin,
		"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--inMemoryPersistence",
		"--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent")
	cmd.Dir = t.TempDir() // Azurite may write logs to its working directory
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("objstoretest: start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(azuriteStartTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("objstoretest: Azurite did not listen on %s within %v: %v\noutput:\n%s", addr, azuriteStartTimeout, err, out.String())
		}
		select {
		case err := <-exited:
			exited <- err // let the cleanup's receive complete
			t.Fatalf("objstoretest: Azurite exited before listening (%v); output:\n%s", err, out.String())
		case <-tick.C:
		}
	}
	return &AzuriteServer{
		Endpoint: addr,
		Env: map[string]string{
			"AZURE_STORAGE_ACCOUNT": AzuriteAccount,
			"AZURE_STORAGE_KEY":     AzuriteKey,
		},
	}
}

// lockedBuffer collects a child's output; the child writes while the test
// may read.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
