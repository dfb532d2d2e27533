package objstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Storage is a flat namespace of immutable objects. Safe for concurrent use.
// Errors name the storage URL and the object, and wrap ErrNotFound,
// ErrAlreadyExists or ErrInvalidName where those apply.
type Storage interface {
	// ReadObject opens name for ranged reads and returns its size. It costs
	// one metadata request (HEAD). A missing object fails with ErrNotFound.
	ReadObject(ctx context.Context, name string) (r Readable, size int64, err error)

	// ReadAll returns the whole object in one GET. A missing object fails
	// with ErrNotFound. Use it for small objects such as manifests.
	ReadAll(ctx context.Context, name string) ([]byte, error)

	// CreateObject starts writing name. Nothing is visible under name until
	// Finish returns nil; the caller must end every Writable with Finish or
	// Abort. An existing object of the same name is replaced when Finish
	// succeeds, so CreateObject is for names nobody else can choose (e.g.
	// SSTs named by a unique id); publish state with CreateIfAbsent. ctx
	// bounds the whole write: cancelling it aborts the write.
	CreateObject(ctx context.Context, name string) (Writable, error)

	// CreateIfAbsent atomically creates name holding data, unless name
	// already exists, in which case it fails with an error wrapping
	// ErrAlreadyExists and leaves the existing object untouched. Of several
	// concurrent callers for one name, at most one succeeds.
	CreateIfAbsent(ctx context.Context, name string, data []byte) error

	// List returns the names that start with prefix, in ascending byte
	// order. prefix need not end in '/'.
	List(ctx context.Context, prefix string) ([]string, error)

	// Delete removes name. Deleting a missing object is not an error, so
	// garbage collection can retry freely.
	Delete(ctx context.Context, name string) error

	// Size returns the size of name (one HEAD). A missing object fails with
	// ErrNotFound.
	Size(ctx context.Context, name string) (int64, error)

	// Close releases the storage. Readables and Writables must be closed
	// first.
	Close() error
}

// Readable reads ranges of one object. Safe for concurrent use.
type Readable interface {
	// ReadAt fills p with the object's bytes starting at off: one range GET.
	// It reads all of p or fails; a range past the end of the object fails
	// with an error wrapping io.ErrUnexpectedEOF.
	ReadAt(ctx context.Context, p []byte, off int64) error
	// Close releases the Readable.
	Close() error
}

// Writable writes one new object. Not safe for concurrent use. Every
// Writable must end with exactly one Finish or Abort; after either, all
// calls fail (Abort is a no-op).
type Writable interface {
	// Write appends p. The bytes may be buffered or uploaded in parts, but
	// nothing is visible until Finish. p may be reused once Write returns.
	Write(p []byte) error
	// Finish completes the object and makes it visible. If Finish fails the
	// object may or may not exist (the request may have reached the server);
	// callers that must know use CreateIfAbsent or read it back.
	Finish() error
	// Abort discards the object: nothing becomes visible under its name.
	Abort()
}

var (
	// ErrNotFound is wrapped by errors for a missing object.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrAlreadyExists is wrapped by CreateIfAbsent when the object already
	// exists: another writer published first.
	ErrAlreadyExists = errors.New("objstore: object already exists")
	// ErrInvalidName is wrapped by errors for a name that breaks the naming
	// rule (see the package doc).
	ErrInvalidName = errors.New("objstore: invalid object name")
	// ErrClosed is wrapped by errors for calls after Close, Finish or Abort.
	ErrClosed = errors.New("objstore: closed")
)

// IsNotFound reports whether err means the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// MaxNameLen is the longest object name accepted.
const MaxNameLen = 900

// SafeSegment turns s (a job name, for example) into a valid name segment:
// every character a name cannot hold becomes '_', and a segment that would
// be empty or start with '.' gets a leading '_'.
func SafeSegment(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '=', r == '+':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if out := b.String(); out != "" && out[0] != '.' {
		return out
	}
	return "_" + b.String()
}

// ValidateName returns an error wrapping ErrInvalidName, naming the reason,
// if name is not a valid object name.
func ValidateName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why) }
	if name == "" {
		return bad("empty")
	}
	if len(name) > MaxNameLen {
		return bad(fmt.Sprintf("%d bytes long, the maximum is %d", len(name), MaxNameLen))
	}
	segStart := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '/':
			if segStart {
				return bad(fmt.Sprintf("empty path segment at byte %d", i))
			}
			segStart = true
			continue
		case c == '.':
			if segStart {
				return bad(fmt.Sprintf("path segment starts with '.' at byte %d", i))
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '=', c == '+':
		default:
			return bad(fmt.Sprintf("byte %d is %q; allowed are letters, digits, '/' and \"-_.=+\"", i, c))
		}
		segStart = false
	}
	if segStart {
		return bad("ends with '/'")
	}
	return nil
}

// validatePrefix checks a List prefix: any prefix of a valid name.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// A prefix ending in '/' or '.' is a prefix of a valid name if the name
	// completed with a letter is.
	if err := ValidateName(prefix + "x"); err != nil {
		return fmt.Errorf("%w (as a list prefix)", err)
	}
	return nil
}
