// Package objstore is Sluice's small interface to remote object storage,
// where the LSM keeps its SSTables, manifests and checkpoint metadata. It
// sits over gocloud.dev/blob and is configured by URL:
//
//	file:///var/lib/sluice/state          local folder (the default for users)
//	mem://                                a fresh in-memory bucket (tests)
//	s3://bucket?region=eu-west-1          Amazon S3 or any S3-compatible server:
//	    &endpoint=http://127.0.0.1:9000   ... a non-AWS endpoint
//	    &use_path_style=true              ... path-style addressing (MinIO, gofakes3)
//	    &anonymous=true                   ... unsigned requests
//	azblob://container                    Azure Blob Storage; Azurite with
//	    ?domain=127.0.0.1:10000&protocol=http&localemu=true&storage_account=devstoreaccount1
//
// Every scheme accepts prefix=some/folder/ to confine the Storage to a
// folder. S3 credentials come from the AWS SDK's default chain (AWS_* env
// vars, shared config, instance roles); Azure credentials from
// AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN,
// AZURE_STORAGE_CONNECTION_STRING or the default Azure identity chain, read
// through Options.Getenv at Open.
//
// Objects are immutable (design invariant 4): they are created whole, never
// appended to or overwritten by Sluice. CreateObject's Writable publishes
// nothing until Finish. CreateIfAbsent is the conditional create that every
// object that publishes state (manifests, checkpoint pointers) goes through:
// it uses the backend's native conditional write (S3 If-None-Match: *, Azure
// If-None-Match: *, link(2) on a local file system, a locked check in
// memory), so of two racing writers exactly one wins and the other gets
// ErrAlreadyExists.
//
// Wrappers: NewFaultInjector fails, delays or "crashes" chosen operations so
// tests can simulate a process dying between two writes; NewCounter counts
// requests and bytes per request kind for cost reports.
//
// # Object names
//
// Names are '/'-separated paths of segments made of ASCII letters, digits and
// "-_.=+", where no segment is empty or starts with '.'. ValidateName checks
// one; every method rejects others with ErrInvalidName. The rule keeps names
// identical on every backend and leaves dot-files free for temporary files.
// One more rule is the caller's to keep, because a local file system cannot
// hold both: no name may be a folder of another ("a" and "a/b").
//
// # Concurrency
//
// A Storage and the Readables it returns are safe for concurrent use. A
// Writable belongs to one goroutine.
//
// # Usage
//
//	st, err := objstore.Open(ctx, "s3://state?region=eu-west-1&prefix=job-7/")
//	w, err := st.CreateObject(ctx, "sst/000042.sst")
//	err = w.Write(block)      // repeat
//	err = w.Finish()          // or w.Abort()
//	err = st.CreateIfAbsent(ctx, "manifest/000007", manifestBytes)
//	if errors.Is(err, objstore.ErrAlreadyExists) { /* fenced: someone newer published */ }
//	r, size, err := st.ReadObject(ctx, "sst/000042.sst")
//	err = r.ReadAt(ctx, buf, size-footerLen) // one range GET
package objstore
