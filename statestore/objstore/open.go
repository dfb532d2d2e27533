package objstore

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
)

// Options configure Open.
type Options struct {
	// Getenv reads credentials and defaults from the environment (Azure
	// only; the AWS SDK reads its own). Default: os.Getenv. Tests inject a
	// map lookup instead of changing the process environment.
	Getenv func(string) string
}

// EnsureDefaults fills unset fields.
func (o *Options) EnsureDefaults() {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
}

// Open opens the storage named by rawURL with default Options.
func Open(ctx context.Context, rawURL string) (Storage, error) {
	return OpenWith(ctx, rawURL, Options{})
}

// OpenWith opens the storage named by rawURL (see the package doc for the
// schemes and parameters). Errors name the URL and the reason.
func OpenWith(ctx context.Context, rawURL string, opts Options) (Storage, error) {
	opts.EnsureDefaults()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("objstore: open %q: not a URL: %w", rawURL, err)
	}
	shown := redact(u)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("objstore: open %s: %s", shown, fmt.Sprintf(format, args...))
	}
	q := u.Query()
	prefix := q.Get("prefix")
	q.Del("prefix")
	if prefix != "" {
		if err := validatePrefix(prefix); err != nil {
			return nil, fail("parameter prefix: %v", err)
		}
		if !strings.HasSuffix(prefix, "/") {
			return nil, fail("parameter prefix=%q must end with '/'", prefix)
		}
	}
	u.RawQuery = q.Encode()

	s := &bucketStorage{url: shown}
	switch u.Scheme {
	case "mem":
		if len(q) > 0 || u.Path != "" {
			return nil, fail("mem:// takes no path or parameters besides prefix")
		}
		s.kind = "mem"
		s.bucket = memblob.OpenBucket(nil)
	case "file":
		if len(q) > 0 {
			return nil, fail("file:// takes no parameters besides prefix, got %q", u.RawQuery)
		}
		dir := u.Path
		if u.Host == "." {
			dir = "." + dir
		} else if u.Host != "" && u.Host != "localhost" {
			return nil, fail("file URLs name a local path: file:///abs/path or file://./rel/path (host %q)", u.Host)
		}
		if dir == "" {
			return nil, fail("no directory path")
		}
		dir = filepath.Clean(filepath.FromSlash(dir))
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, fail("create directory: %v", err)
		}
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			return nil, fail("%v", err)
		}
		s.kind = "file"
		s.bucket = b
		s.dir = dir
		if prefix != "" {
			s.dir = filepath.Join(dir, filepath.FromSlash(prefix))
		}
	case "s3":
		if u.Host == "" {
			return nil, fail("no bucket name (s3://bucket)")
		}
		b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
		if err != nil {
			return nil, fail("%s", scrub(err, u, shown))
		}
		s.kind = "s3"
		s.bucket = b
	case "azblob":
		if u.Host == "" {
			return nil, fail("no container name (azblob://container)")
		}
		b, err := openAzure(ctx, u, opts.Getenv)
		if err != nil {
			return nil, fail("%s", scrub(err, u, shown))
		}
		s.kind = "azblob"
		s.bucket = b
		s.azure = &azureTarget{prefix: prefix}
		if !b.As(&s.azure.client) {
			return nil, fail("internal error: azure bucket has no container client")
		}
	case "":
		return nil, fail("no scheme; use file://, mem://, s3:// or azblob://")
	default:
		return nil, fail("unsupported scheme %q; use file://, mem://, s3:// or azblob://", u.Scheme)
	}
	if prefix != "" {
		s.bucket = blob.PrefixedBucket(s.bucket, prefix)
	}
	return s, nil
}

// OpenBucket opens the bucket named by rawURL with the same schemes,
// parameters (prefix= included) and credentials as OpenWith, for callers
// that need gocloud's whole API (listing folders, server-side copies) and
// keys outside the object naming rule, such as the file sink. A file://
// bucket writes through a temporary file and a rename, without fsync. The
// caller closes the bucket.
func OpenBucket(ctx context.Context, rawURL string, opts Options) (*blob.Bucket, error) {
	s, err := OpenWith(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	return s.(*bucketStorage).bucket, nil
}

// redact drops credentials from a URL for error messages.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	q := c.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "key") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") || strings.Contains(lk, "sig") {
			q.Set(k, "REDACTED")
		}
	}
	c.RawQuery = q.Encode()
	if c.Host == "" && c.Path == "" && c.Opaque == "" {
		// url.URL prints "mem:" for "mem://".
		out := c.Scheme + "://"
		if c.RawQuery != "" {
			out += "?" + c.RawQuery
		}
		return out
	}
	return c.String()
}

// scrub replaces the unredacted URL in a driver's error message.
func scrub(err error, raw *url.URL, shown string) string {
	return strings.ReplaceAll(err.Error(), raw.String(), shown)
}

// openAzure opens an azblob:// URL reading credentials through getenv, the
// same variables gocloud's azureblob reads, but per call instead of once
// per process.
func openAzure(ctx context.Context, u *url.URL, getenv func(string) string) (*blob.Bucket, error) {
	svc := azureblob.ServiceURLOptions{
		AccountName:   getenv("AZURE_STORAGE_ACCOUNT"),
		SASToken:      getenv("AZURE_STORAGE_SAS_TOKEN"),
		StorageDomain: getenv("AZURE_STORAGE_DOMAIN"),
		Protocol:      getenv("AZURE_STORAGE_PROTOCOL"),
	}
	svc.IsCDN = getenv("AZURE_STORAGE_IS_CDN") == "true"
	svc.IsLocalEmulator = getenv("AZURE_STORAGE_IS_LOCAL_EMULATOR") == "true"
	connStr := getenv("AZURE_STORAGE_CONNECTION_STRING")
	if connStr == "" {
		connStr = getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING")
	}
	if svc.AccountName == "" && connStr != "" {
		for part := range strings.SplitSeq(connStr, ";") {
			if k, v, ok := strings.Cut(part, "="); ok && k == "AccountName" {
				svc.AccountName = v
			}
		}
	}
	accountKey := getenv("AZURE_STORAGE_KEY")
	opener := &azureblob.URLOpener{
		ServiceURLOptions: svc,
		MakeClient: func(svcURL azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
			containerURL, err := url.JoinPath(string(svcURL), string(name))
			if err != nil {
				return nil, err
			}
			switch {
			case connStr != "" && (accountKey == "" || svc.AccountName == ""):
				return container.NewClientFromConnectionString(connStr, string(name), nil)
			case svc.AccountName != "" && accountKey != "":
				cred, err := azblob.NewSharedKeyCredential(svc.AccountName, accountKey)
				if err != nil {
					return nil, fmt.Errorf("AZURE_STORAGE_KEY: %w", err)
				}
				return container.NewClientWithSharedKeyCredential(containerURL, cred, nil)
			case svc.SASToken != "":
				return container.NewClientWithNoCredential(containerURL, nil)
			default:
				cred, err := azidentity.NewDefaultAzureCredential(nil)
				if err != nil {
					return nil, fmt.Errorf("no AZURE_STORAGE_KEY, SAS token or connection string, and the default Azure credential failed: %w", err)
				}
				return container.NewClient(containerURL, cred, nil)
			}
		},
	}
	return opener.OpenBucketURL(ctx, u)
}
