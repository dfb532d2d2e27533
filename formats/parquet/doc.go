// Package parquet encodes Arrow record batches as Parquet files with
// github.com/parquet-go/parquet-go, and reads such files back into Arrow. It
// registers itself in formats as "parquet" (default Options); connectors
// that take codec options build a Format with New.
//
// # Types
//
// Every Arrow field becomes one flat column, in the schema's order; a
// nullable field is OPTIONAL, any other REQUIRED.
//
//	bool                    BOOLEAN
//	int8, int16, int32      INT32  with INT(8|16|32, signed)
//	int64                   INT64  with INT(64, signed)
//	uint8, uint16, uint32   INT32  with INT(8|16|32, unsigned)
//	uint64                  INT64  with INT(64, unsigned)
//	float32, float64        FLOAT, DOUBLE
//	string, large_string    BYTE_ARRAY with STRING (dictionary encoded)
//	binary, large_binary    BYTE_ARRAY (dictionary encoded)
//	date32                  INT32  with DATE
//	timestamp[ms|us|ns]     INT64  with TIMESTAMP(unit, isAdjustedToUTC)
//	timestamp[s]            INT64  with TIMESTAMP(MILLIS, ...): values x1000
//
// A timestamp with a time zone (any zone) holds instants and is written
// with isAdjustedToUTC=true; one without a zone is wall-clock time,
// isAdjustedToUTC=false. Other types are rejected by Check and NewEncoder
// with an error naming the column and its type. The Arrow schema is also
// stored in the file metadata under ARROW:schema, as Arrow C++ does, so
// Arrow readers (pyarrow, this package's Reader) restore zone names and
// second units exactly.
//
// # Writing
//
// The encoder converts each Arrow column of a batch into Parquet values in
// one pass over the Arrow buffers and hands them to parquet-go's column
// writers; no row objects are built. A row group is cut every
// Options.RowGroupRows rows; Options.Compression picks the codec (snappy by
// default, zstd, gzip, lz4 = LZ4_RAW, none).
//
// # Concurrency
//
// An Encoder and a Reader each belong to one goroutine.
//
// # Usage
//
//	f, err := parquet.New(parquet.Options{Compression: "zstd", RowGroupRows: 65536})
//	enc, err := f.NewEncoder(w, schema)
//	err = enc.Encode(batch) // repeat; batches stay owned by the caller
//	err = enc.Close()       // writes the footer; does not close w
//
//	r, err := parquet.NewReader(file, size, memory.DefaultAllocator)
//	for { b, err := r.Next(); if err == io.EOF { break }; ...; b.Release() }
package parquet
