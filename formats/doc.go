// Package formats owns the codecs between bytes and Arrow record batches.
// Each format lives in a subpackage (json, csv; Parquet and Arrow IPC
// follow) and registers itself by name, so connectors pick a format from a
// job file's options without knowing the implementations.
//
// An Encoder writes batches to an io.Writer; it is used by one goroutine and
// does not take ownership of the batches it encodes.
//
//	f, err := formats.Lookup("json")
//	enc, err := f.NewEncoder(w, schema)
//	err = enc.Encode(batch)
//	err = enc.Close() // flushes; does not close w
package formats
