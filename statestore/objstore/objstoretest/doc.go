// Package objstoretest holds what tests of object-storage users share: a
// conformance suite every objstore backend passes (RunConformance), and
// starters for real servers run by the test itself: an in-process S3 server
// (StartS3, gofakes3 with its in-memory backend) and Azurite (StartAzurite,
// the npm package pinned in tools/azurite, run as a child process).
//
// Servers listen on 127.0.0.1 at a random port and are stopped by
// t.Cleanup. StartAzurite skips the test when Azurite is not installed,
// unless the environment has CI=true, where it fails: install it with
// `npm ci --prefix tools/azurite`.
package objstoretest
