package file

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/formats/parquet"
)

// DefaultRollBytes is the default for Config.RollBytes.
const DefaultRollBytes = 128 << 20

// Config is the file sink's options. The job-file names are in the package
// doc.
type Config struct {
	// Path is a local folder or a blob URL (file://, s3://, azblob://,
	// mem://) with the state store's conventions. Required.
	Path string
	// Format is "json" (the default, JSON lines), "csv" or "parquet".
	Format string
	// RollBytes starts a new file once one holds this many bytes. Default
	// DefaultRollBytes.
	RollBytes int64
	// RollInterval starts a new file once one has been open this long, by
	// the writer's clock, checked when a batch arrives. 0 (the default)
	// rolls by size and at checkpoints only.
	RollInterval time.Duration
	// PartitionBy names columns whose values make Hive-style folders,
	// col=value/, in this order.
	PartitionBy []string
	// PartitionTime, if set, makes folders from a time column; they come
	// before the PartitionBy folders.
	PartitionTime *PartitionTime
	// Compression is the Parquet codec: snappy (default), zstd, gzip, lz4,
	// none. Parquet only.
	Compression string
	// RowGroupRows is the Parquet row group size in rows. Default
	// parquet.DefaultRowGroupRows. Parquet only.
	RowGroupRows int
	// SpoolDir is where files bound for a bucket are written before their
	// upload. Default os.TempDir(). Unused for a local folder.
	SpoolDir string
	// Getenv reads cloud credentials (see objstore.Options). Default
	// os.Getenv.
	Getenv func(string) string
}

// PartitionTime buckets rows by a time column.
type PartitionTime struct {
	// Column is a timestamp or date32 column. Required.
	Column string `json:"column"`
	// Format is the folder path of a bucket, with strftime directives %Y
	// (year), %m (month), %d (day), %H (hour), %M (minute), %S (second)
	// and %% ('%'); '/' separates folders. Default "dt=%Y-%m-%d".
	Format string `json:"format"`
	// TimeZone is the IANA zone bucket boundaries are taken in for a
	// column with a time zone. Default "UTC". Timestamps without a time
	// zone (wall-clock times) and dates are bucketed as they read.
	TimeZone string `json:"time_zone"`
}

// jobOptions is Config as written in a job file.
type jobOptions struct {
	Path          string         `json:"path"`
	Format        string         `json:"format"`
	RollBytes     any            `json:"roll_bytes"`
	RollInterval  any            `json:"roll_interval"`
	PartitionBy   []string       `json:"partition_by"`
	PartitionTime *PartitionTime `json:"partition_time"`
	Compression   string         `json:"compression"`
	RowGroupRows  int            `json:"row_group_rows"`
	SpoolDir      string         `json:"spool_dir"`
}

// ParseOptions decodes job-file options into a Config. Errors name the
// option and the value.
func ParseOptions(opts map[string]any) (Config, error) {
	var j jobOptions
	if err := connectors.Decode(opts, &j); err != nil {
		return Config{}, err
	}
	cfg := Config{
		Path:          j.Path,
		Format:        j.Format,
		PartitionBy:   j.PartitionBy,
		PartitionTime: j.PartitionTime,
		Compression:   j.Compression,
		RowGroupRows:  j.RowGroupRows,
		SpoolDir:      j.SpoolDir,
	}
	var err error
	if j.RollBytes != nil {
		n, e := parseBytes(j.RollBytes)
		if e != nil {
			err = errors.Join(err, fmt.Errorf("option %q: %w", "roll_bytes", e))
		}
		cfg.RollBytes = n
	}
	if j.RollInterval != nil {
		s, ok := j.RollInterval.(string)
		d, e := time.ParseDuration(s)
		switch {
		case !ok:
			err = errors.Join(err, fmt.Errorf("option %q: value %v is not a duration such as \"10m\"", "roll_interval", j.RollInterval))
		case e != nil:
			err = errors.Join(err, fmt.Errorf("option %q: value %q is not a duration such as \"10m\"", "roll_interval", s))
		default:
			cfg.RollInterval = d
		}
	}
	return cfg, err
}

// parseBytes reads a byte count: a whole number, or a string such as
// "64MiB", "1GB" or "1048576".
func parseBytes(v any) (int64, error) {
	switch v := v.(type) {
	case float64:
		if v != math.Trunc(v) || v > math.MaxInt64 || v < math.MinInt64 {
			return 0, fmt.Errorf("value %v is not a whole number of bytes", v)
		}
		return int64(v), nil
	case string:
		s := strings.TrimSpace(v)
		i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		num, unit := s, ""
		if i >= 0 {
			num, unit = s[:i], strings.TrimSpace(s[i:])
		}
		mult, ok := map[string]float64{
			"": 1, "b": 1,
			"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
			"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
		}[strings.ToLower(unit)]
		f, err := strconv.ParseFloat(num, 64)
		if !ok || err != nil || num == "" {
			return 0, fmt.Errorf("value %q is not a size such as \"64MiB\" or \"1GB\"", v)
		}
		n := f * mult
		if n > math.MaxInt64 {
			return 0, fmt.Errorf("value %q is too large", v)
		}
		return int64(n), nil
	default:
		return 0, fmt.Errorf("value %v is not a size such as \"64MiB\" or 1048576", v)
	}
}

// ensureDefaults fills zero fields with their defaults.
func (c *Config) ensureDefaults() {
	if c.Format == "" {
		c.Format = "json"
	}
	if c.RollBytes == 0 {
		c.RollBytes = DefaultRollBytes
	}
	if c.PartitionTime != nil {
		pt := *c.PartitionTime
		if pt.Format == "" {
			pt.Format = "dt=%Y-%m-%d"
		}
		if pt.TimeZone == "" {
			pt.TimeZone = "UTC"
		}
		c.PartitionTime = &pt
	}
}

// validate reports every invalid option that needs no schema or storage.
func (c *Config) validate() error {
	var err error
	bad := func(option string, format string, args ...any) {
		err = errors.Join(err, fmt.Errorf("option %q: %s", option, fmt.Sprintf(format, args...)))
	}
	if c.Path == "" {
		bad("path", "a folder or a blob URL is required")
	}
	switch c.Format {
	case "json", "csv":
		if c.Compression != "" {
			bad("compression", "applies to format parquet, not %s", c.Format)
		}
		if c.RowGroupRows != 0 {
			bad("row_group_rows", "applies to format parquet, not %s", c.Format)
		}
	case "parquet":
		if (parquet.Options{Compression: c.Compression}).Validate() != nil {
			bad("compression", "value %q is not one of snappy, zstd, gzip, lz4, none", c.Compression)
		}
		if c.RowGroupRows < 0 {
			bad("row_group_rows", "value %d must be positive", c.RowGroupRows)
		}
	default:
		bad("format", "value %q is not one of json, csv, parquet", c.Format)
	}
	if c.RollBytes < 0 {
		bad("roll_bytes", "value %d must be positive", c.RollBytes)
	}
	if c.RollInterval < 0 {
		bad("roll_interval", "value %s must be positive", c.RollInterval)
	}
	seen := map[string]bool{}
	for _, col := range c.PartitionBy {
		switch {
		case col == "":
			bad("partition_by", "a column name is empty")
		case seen[col]:
			bad("partition_by", "column %q is listed twice", col)
		}
		seen[col] = true
	}
	if pt := c.PartitionTime; pt != nil {
		if pt.Column == "" {
			bad("partition_time.column", "a timestamp or date column is required")
		}
		if _, e := parseTimeFormat(pt.Format); e != nil {
			bad("partition_time.format", "value %q: %v", pt.Format, e)
		}
		if _, e := time.LoadLocation(pt.TimeZone); e != nil {
			bad("partition_time.time_zone", "value %q is not a time zone: %v", pt.TimeZone, e)
		}
	}
	return err
}
