package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// ReadJobFile reads a job file in YAML or JSON (chosen by extension; YAML
// accepts JSON too) into a JobSpec.
func ReadJobFile(path string) (*sluicev1.JobSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job file: %w", err)
	}
	spec, err := ParseJobFile(data)
	if err != nil {
		return nil, fmt.Errorf("job file %s: %w", filepath.Base(path), err)
	}
	return spec, nil
}

// ParseJobFile parses a job file in YAML or JSON. Field names follow the
// protobuf JobSpec, in snake_case or lowerCamelCase; unknown fields are errors.
func ParseJobFile(data []byte) (*sluicev1.JobSpec, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	if strings.TrimSpace(string(js)) == "null" {
		return nil, fmt.Errorf("the file is empty")
	}
	spec := &sluicev1.JobSpec{}
	if err := protojson.Unmarshal(js, spec); err != nil {
		return nil, fmt.Errorf("does not match the job spec: %s", cleanProtoErr(err))
	}
	return spec, nil
}

// cleanProtoErr drops protojson's "proto:" prefix and its unstable spacing.
func cleanProtoErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "proto:")
	s = strings.ReplaceAll(s, "\u00a0", " ")
	return strings.TrimSpace(s)
}

// MarshalJobFile renders spec as YAML, the inverse of ParseJobFile.
func MarshalJobFile(spec *sluicev1.JobSpec) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(spec)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(js)
}
