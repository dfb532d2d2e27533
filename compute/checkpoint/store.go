package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicedata/sluice/statestore/objstore"
)

// Object names in a job's folder.
const (
	metadataName    = "_metadata"
	checkpointsDir  = "checkpoints/"
	checkpointStem  = "chk-"
	attemptsDir     = "attempts/"
	reservedIDsDir  = "ids/"
	idDigits        = 20
	maxAttemptTries = 1000
)

// Store keeps the checkpoint metadata of one job in object storage, in the
// job's folder:
//
//	checkpoints/chk-<id>/_metadata   completed checkpoints, savepoints and the final commit
//	attempts/<n>                     claimed attempt numbers
//	ids/<n>                          checkpoint ids up to n are reserved
//
// Ids and attempt numbers are written as 20 zero-padded digits, so names
// sort by number. Metadata and attempt claims are published with
// CreateIfAbsent: of two processes that publish the same name, one fails.
// Safe for concurrent use.
type Store struct {
	st  objstore.Storage
	url string
	// open opens the storage of a savepoint folder URL.
	open func(ctx context.Context, url string) (objstore.Storage, error)
}

// NewStore returns the store of the job whose folder is st. url names the
// folder in errors and logs.
func NewStore(st objstore.Storage, url string) *Store {
	return &Store{st: st, url: url, open: objstore.Open}
}

func checkpointName(id uint64) string {
	return fmt.Sprintf("%s%s%0*d/%s", checkpointsDir, checkpointStem, idDigits, id, metadataName)
}

// parseNumbered parses "<dir><stem><20 digits><suffix>".
func parseNumbered(name, prefix, suffix string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	if rest, ok = strings.CutSuffix(rest, suffix); !ok || len(rest) != idDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("checkpoint store %s: %w", s.url, fmt.Errorf(format, args...))
}

// Write publishes md as checkpoint md.ID. It fails with an error wrapping
// objstore.ErrAlreadyExists if that checkpoint exists: another attempt
// published it.
func (s *Store) Write(ctx context.Context, md *Metadata) error {
	data, err := md.Encode()
	if err != nil {
		return s.errorf("checkpoint %d: %w", md.ID, err)
	}
	if err := s.st.CreateIfAbsent(ctx, checkpointName(md.ID), data); err != nil {
		return s.errorf("publishing checkpoint %d: %w", md.ID, err)
	}
	return nil
}

// Read returns checkpoint id. A missing one fails with an error wrapping
// objstore.ErrNotFound; a corrupt one with ErrCorrupt.
func (s *Store) Read(ctx context.Context, id uint64) (*Metadata, error) {
	name := checkpointName(id)
	data, err := s.st.ReadAll(ctx, name)
	if err != nil {
		return nil, s.errorf("reading checkpoint %d: %w", id, err)
	}
	md, err := Decode(data)
	if err != nil {
		return nil, s.errorf("checkpoint %d (%s): %w", id, name, err)
	}
	if md.ID != id {
		return nil, s.errorf("checkpoint %d (%s): %w: it holds id %d", id, name, ErrCorrupt, md.ID)
	}
	return md, nil
}

// List returns the ids of the published checkpoints, ascending.
func (s *Store) List(ctx context.Context) ([]uint64, error) {
	names, err := s.st.List(ctx, checkpointsDir+checkpointStem)
	if err != nil {
		return nil, s.errorf("listing checkpoints: %w", err)
	}
	var ids []uint64
	for _, n := range names {
		if id, ok := parseNumbered(n, checkpointsDir+checkpointStem, "/"+metadataName); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Latest returns the checkpoint with the highest id, or nil if there is
// none. If that checkpoint is corrupt, Latest fails (it does not fall back
// to an older one, and deletes nothing).
func (s *Store) Latest(ctx context.Context) (*Metadata, error) {
	ids, err := s.List(ctx)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return s.Read(ctx, ids[len(ids)-1])
}

// Delete removes checkpoint id's metadata. Deleting a missing one is not an
// error.
func (s *Store) Delete(ctx context.Context, id uint64) error {
	if err := s.st.Delete(ctx, checkpointName(id)); err != nil {
		return s.errorf("deleting checkpoint %d: %w", id, err)
	}
	return nil
}

// MaxID returns the highest checkpoint id ever published or reserved in
// the job's folder, 0 if none. A new attempt's coordinator starts above it,
// so ids of failed checkpoints are not reused either.
func (s *Store) MaxID(ctx context.Context) (uint64, error) {
	ids, err := s.List(ctx)
	if err != nil {
		return 0, err
	}
	var top uint64
	if len(ids) > 0 {
		top = ids[len(ids)-1]
	}
	r, err := s.maxNumbered(ctx, reservedIDsDir)
	if err != nil {
		return 0, s.errorf("listing reserved ids: %w", err)
	}
	return max(top, r), nil
}

func (s *Store) maxNumbered(ctx context.Context, dir string) (uint64, error) {
	names, err := s.listRetrying(ctx, dir)
	if err != nil {
		return 0, err
	}
	var top uint64
	for _, n := range names {
		if v, ok := parseNumbered(n, dir, ""); ok {
			top = max(top, v)
		}
	}
	return top, nil
}

// listRetrying lists prefix, retrying a few times when the listing fails
// with ErrNotFound: the file backend's walk fails when a concurrent writer's
// temporary file vanishes under it, which racing NextAttempt calls cause.
func (s *Store) listRetrying(ctx context.Context, prefix string) ([]string, error) {
	var err error
	for range 5 {
		var names []string
		if names, err = s.st.List(ctx, prefix); err == nil || !objstore.IsNotFound(err) {
			return names, err
		}
	}
	return nil, err
}

// ReserveIDs records that checkpoint ids up to upTo are in use, so MaxID
// returns at least upTo, and then removes older reservations. It fails with
// an error wrapping objstore.ErrAlreadyExists if another process reserved
// exactly upTo.
func (s *Store) ReserveIDs(ctx context.Context, upTo uint64) error {
	name := fmt.Sprintf("%s%0*d", reservedIDsDir, idDigits, upTo)
	if err := s.st.CreateIfAbsent(ctx, name, nil); err != nil {
		return s.errorf("reserving checkpoint ids up to %d: %w", upTo, err)
	}
	names, err := s.st.List(ctx, reservedIDsDir)
	if err != nil {
		return nil // the old markers are harmless; the next reservation retries
	}
	for _, n := range names {
		if v, ok := parseNumbered(n, reservedIDsDir, ""); ok && v < upTo {
			_ = s.st.Delete(ctx, n)
		}
	}
	return nil
}

// NextAttempt claims the next attempt number of the job, starting at 1:
// it lists the claimed numbers and creates the next one with
// CreateIfAbsent, trying again when another process claimed it first. Two
// processes never get the same number. Claims are never deleted (one small
// object per attempt).
func (s *Store) NextAttempt(ctx context.Context) (uint64, error) {
	for range maxAttemptTries {
		top, err := s.maxNumbered(ctx, attemptsDir)
		if err != nil {
			return 0, s.errorf("listing attempts: %w", err)
		}
		n := top + 1
		err = s.st.CreateIfAbsent(ctx, fmt.Sprintf("%s%0*d", attemptsDir, idDigits, n), nil)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, objstore.ErrAlreadyExists) {
			return 0, s.errorf("claiming attempt %d: %w", n, err)
		}
	}
	return 0, s.errorf("claiming an attempt: lost the race %d times in a row", maxAttemptTries)
}

// SavepointFolder is the name of the folder of savepoint id of job under a
// savepoint directory. Characters of job that object names cannot hold
// become '_'.
func SavepointFolder(job string, id uint64) string {
	return fmt.Sprintf("savepoint-%s-%d", objstore.SafeSegment(job), id)
}

// WriteSavepoint writes md under dirURL (any object storage URL, e.g.
// file:///var/savepoints or s3://bucket?prefix=savepoints/) as
// <dir>/savepoint-<job>-<id>/_metadata, with CreateIfAbsent, and returns
// the URL of the savepoint's folder, which Load accepts.
func (s *Store) WriteSavepoint(ctx context.Context, dirURL string, md *Metadata) (string, error) {
	folderURL, err := childURL(dirURL, SavepointFolder(md.Job, md.ID))
	if err != nil {
		return "", err
	}
	data, err := md.Encode()
	if err != nil {
		return "", fmt.Errorf("savepoint %s: %w", folderURL, err)
	}
	st, err := s.open(ctx, dirURL)
	if err != nil {
		return "", fmt.Errorf("savepoint directory: %w", err)
	}
	defer st.Close()
	name := SavepointFolder(md.Job, md.ID) + "/" + metadataName
	if err := st.CreateIfAbsent(ctx, name, data); err != nil {
		return "", fmt.Errorf("writing savepoint %s: %w", folderURL, err)
	}
	return folderURL, nil
}

// Load reads the metadata of a savepoint or retained checkpoint. url names
// its folder or the _metadata object in it (file:///sp/savepoint-job-7,
// s3://bucket?prefix=sp/savepoint-job-7/, .../_metadata). Errors name the
// URL and say whether it does not exist, is corrupt or has another format
// version. Load never writes or deletes anything.
func Load(ctx context.Context, url string) (*Metadata, error) {
	return load(ctx, url, objstore.Open)
}

func load(ctx context.Context, raw string, open func(context.Context, string) (objstore.Storage, error)) (*Metadata, error) {
	storageURL, name, err := splitMetadataURL(raw)
	if err != nil {
		return nil, err
	}
	if dir, ok := localDir(storageURL); ok {
		// Opening a file:// storage creates its folder; loading must not.
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("savepoint %s does not exist: %w", raw, err)
		}
	}
	st, err := open(ctx, storageURL)
	if err != nil {
		return nil, fmt.Errorf("savepoint %s: %w", raw, err)
	}
	defer st.Close()
	data, err := st.ReadAll(ctx, name)
	if objstore.IsNotFound(err) {
		return nil, fmt.Errorf("savepoint %s does not exist (no %s object): %w", raw, metadataName, err)
	}
	if err != nil {
		return nil, fmt.Errorf("savepoint %s: %w", raw, err)
	}
	md, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("savepoint %s is not usable: %w", raw, err)
	}
	return md, nil
}

// localDir returns the folder of a file:// storage URL.
func localDir(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return "", false
	}
	dir := u.Path
	if u.Host == "." {
		dir = "." + dir
	}
	if p := u.Query().Get("prefix"); p != "" {
		dir = path.Join(dir, p)
	}
	return filepath.FromSlash(dir), true
}

// childURL returns the URL of folder seg inside the storage folder raw: a
// path segment for file:// URLs, otherwise an extension of the prefix
// parameter.
func childURL(raw, seg string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("savepoint directory %q: not a storage URL (file:///path, s3://bucket?prefix=dir/, ...)", raw)
	}
	q := u.Query()
	if u.Scheme == "file" && !q.Has("prefix") {
		u.Path = path.Join(u.Path, seg)
		return u.String(), nil
	}
	pre := q.Get("prefix")
	if pre != "" && !strings.HasSuffix(pre, "/") {
		pre += "/"
	}
	q.Set("prefix", pre+seg+"/")
	u.RawQuery = encodeQuery(q)
	return urlString(u), nil
}

// urlString is u.String(), except that a URL without host and path keeps
// its "//" (url.URL prints "mem:?..." for "mem://?...").
func urlString(u *url.URL) string {
	if u.Host == "" && u.Path == "" && u.Opaque == "" {
		s := u.Scheme + "://"
		if u.RawQuery != "" {
			s += "?" + u.RawQuery
		}
		return s
	}
	return u.String()
}

// splitMetadataURL splits the URL of a savepoint folder, or of the
// _metadata object in it, into the URL of a storage and the object name.
func splitMetadataURL(raw string) (storageURL, name string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", "", fmt.Errorf("savepoint %q: not a storage URL (file:///path/savepoint-job-7, s3://bucket?prefix=dir/savepoint-job-7/, ...)", raw)
	}
	q := u.Query()
	if u.Scheme == "file" && !q.Has("prefix") {
		dir := strings.TrimSuffix(u.Path, "/")
		if path.Base(dir) == metadataName {
			dir = path.Dir(dir)
		}
		u.Path = dir
		return u.String(), metadataName, nil
	}
	pre := strings.TrimSuffix(q.Get("prefix"), "/")
	if path.Base(pre) == metadataName {
		pre = strings.TrimSuffix(strings.TrimSuffix(pre, metadataName), "/")
	}
	if pre == "" {
		q.Del("prefix")
	} else {
		q.Set("prefix", pre+"/")
	}
	u.RawQuery = encodeQuery(q)
	return urlString(u), metadataName, nil
}

// encodeQuery is url.Values.Encode without escaping '/', so prefixes stay
// readable in the URLs shown to people.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "%2F", "/")
}
