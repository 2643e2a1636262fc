package tests

// Deploy tests: what ships to a cluster (infra/knative, stack.yml, Dockerfile) is validated here,
// without a cluster or a Docker engine, one concern per file:
//
//   - deploy_schema_test.go: every YAML document in infra/knative is validated against the JSON
//     Schema of its CRD in ../shared/schemas (chosen by apiVersion and kind), then for what a
//     schema misses: unknown fields anywhere (an API server drops them silently) and ObjectMeta.
//   - deploy_webhook_test.go: the Knative Service webhook's rules, the Strimzi KafkaTopic rules,
//     the delivery and KEDA rules of the KafkaSource webhooks; kinds without a schema there
//     (Secret, KafkaSink) get structural checks written there. A broken copy of each manifest
//     must fail, and what upstream accepts must pass.
//   - deploy_refs_test.go: what ties the manifests together (Secret keys, topics, sinks, Services),
//     that every mounted Secret key is read, and that kustomization.yaml lists files that exist
//     and together cover the folder.
//   - deploy_kustomize_test.go and deploy_kn_test.go: the kustomize renderings, and the README's
//     kn commands against the YAML.
//   - deploy_openfaas_test.go: stack.yml has the shape faas-cli needs and the annotations the
//     kafka-connector and the queue-worker read, and the build context faas-cli makes.
//   - deploy_image_test.go: the Dockerfile is linted for the image rules, and the binaries it
//     names are built with its flags and proven static (debug/elf); TestDeployColdStart measures
//     process start to /readyz 200 against the real services.
//
// This file holds what they share: the paths, the manifest loader and the accessors of decoded
// documents.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// Paths, relative to this package's directory (go test runs tests in it).
const (
	deployRepoRoot   = ".."
	deployKnativeDir = "../infra/knative"
	deployStackFile  = "../stack.yml"
	deployDockerfile = "../Dockerfile"
	// deploySchemaDirEnv overrides where the CRD schemas are; by default ../shared/schemas beside
	// the repository.
	deploySchemaDirEnv = "SENTISTREAM_SCHEMA_DIR"
)

// deployDoc is one YAML document of a manifest file, decoded as JSON values (json.Number for
// numbers, as jsonschema wants them).
type deployDoc struct {
	file string // base name
	idx  int    // 0-based position among the file's non-empty documents
	obj  map[string]any
}

func (d deployDoc) String() string {
	return fmt.Sprintf("%s#%d (%s %s)", d.file, d.idx, deployStr(d.obj, "kind"), deployStr(d.obj, "metadata", "name"))
}

func (d deployDoc) gvk() string {
	return deployStr(d.obj, "apiVersion") + " " + deployStr(d.obj, "kind")
}

var deployDocSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// deployDecodeYAML splits a multi-document YAML file and decodes each non-empty document.
func deployDecodeYAML(data []byte) ([]any, error) {
	var out []any
	for i, chunk := range deployDocSeparator.Split(string(data), -1) {
		j, err := yaml.YAMLToJSON([]byte(chunk))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// deployManifestFiles returns the manifest files of dir: every *.yaml/*.yml but
// kustomization.yaml.
func deployManifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || n == "kustomization.yaml" || n == "kustomization.yml" {
			continue
		}
		if strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") {
			files = append(files, n)
		}
	}
	return files
}

func deployLoadDocs(t *testing.T, dir string) []deployDoc {
	t.Helper()
	var docs []deployDoc
	for _, f := range deployManifestFiles(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		vals, err := deployDecodeYAML(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(vals) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
		for i, v := range vals {
			obj, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s#%d: a manifest is a mapping, got %T", f, i, v)
				continue
			}
			docs = append(docs, deployDoc{file: f, idx: i, obj: obj})
		}
	}
	if len(docs) == 0 {
		t.Fatalf("no manifests in %s", dir)
	}
	return docs
}

type deployProblems []string

func (p *deployProblems) add(path, msg string) {
	if path == "" {
		*p = append(*p, msg)
		return
	}
	*p = append(*p, path+": "+msg)
}

func deployAllowKeys(p *deployProblems, m map[string]any, path string, allowed ...string) {
	for _, k := range deploySortedKeys(m) {
		if !slices.Contains(allowed, k) {
			kp := k
			if path != "" {
				kp = path + "." + k
			}
			p.add(kp, fmt.Sprintf("unknown field; want one of %v", allowed))
		}
	}
}

// deployMap follows keys through nested mappings; nil when a step is missing or not a mapping.
func deployMap(v any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

func deployStr(v any, keys ...string) string {
	if len(keys) == 0 {
		s, _ := v.(string)
		return s
	}
	s, _ := deployMap(v, keys[:len(keys)-1]...)[keys[len(keys)-1]].(string)
	return s
}

// deployInt reads an integral JSON number.
func deployInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		return int64(n), n == math.Trunc(n)
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func deploySortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// deployClone deep-copies a decoded document, so a test can break its copy.
func deployClone(obj map[string]any) map[string]any {
	var cp func(any) any
	cp = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			m := make(map[string]any, len(t))
			for k, e := range t {
				m[k] = cp(e)
			}
			return m
		case []any:
			s := make([]any, len(t))
			for i, e := range t {
				s[i] = cp(e)
			}
			return s
		}
		return v
	}
	return cp(obj).(map[string]any)
}
