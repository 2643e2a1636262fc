package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/sentistream/sentistream/internal/testenv"
)

// manifestSchemaPath returns the path of a schema in shared/schemas, which sits beside the repository
// (../shared from the repo root, ../../shared from this package). It skips the test when the
// directory is missing, and fails under CI.
func manifestSchemaPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "schemas", name)
	if _, err := os.Stat(p); err != nil {
		msg := "schema " + name + " not found at " + p + ": clone shared/ beside the repository"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// manifestLoadYAML reads a YAML file into generic JSON values.
func manifestLoadYAML(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return manifestYAMLValue(t, data)
}

func manifestYAMLValue(t *testing.T, data []byte) any {
	t.Helper()
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// manifestCompile compiles an openAPIV3Schema file with santhosh-tekuri/jsonschema.
func manifestCompile(t *testing.T, path string) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	doc := manifestLoadYAML(t, path)
	c := jsonschema.NewCompiler()
	url := "file:///" + filepath.Base(path) + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return s, doc.(map[string]any)
}

// manifestKafkaSourceWebhook checks what KafkaSource's admission webhook enforces beyond the schema.
func manifestKafkaSourceWebhook(v any) error {
	m, _ := v.(map[string]any)
	spec, _ := m["spec"].(map[string]any)
	var errs []error
	if m["apiVersion"] != "sources.knative.dev/v1" || m["kind"] != "KafkaSource" {
		errs = append(errs, fmt.Errorf("want sources.knative.dev/v1 KafkaSource, got %v %v", m["apiVersion"], m["kind"]))
	}
	if md, _ := m["metadata"].(map[string]any); md == nil || md["name"] == nil || md["name"] == "" {
		errs = append(errs, errors.New("metadata.name is required"))
	}
	for _, f := range []string{"sink", "topics", "bootstrapServers"} {
		switch x := spec[f].(type) {
		case nil:
			errs = append(errs, fmt.Errorf("spec.%s is required", f))
		case []any:
			if len(x) == 0 {
				errs = append(errs, fmt.Errorf("spec.%s must not be empty", f))
			}
		case map[string]any:
			if x["ref"] == nil && x["uri"] == nil {
				errs = append(errs, fmt.Errorf("spec.%s needs a ref or a uri", f))
			}
		}
	}
	if v, ok := spec["initialOffset"]; ok && v != "earliest" && v != "latest" {
		errs = append(errs, fmt.Errorf("spec.initialOffset: want earliest or latest, got %v", v))
	}
	if v, ok := spec["ordering"]; ok && v != "ordered" && v != "unordered" {
		errs = append(errs, fmt.Errorf("spec.ordering: want ordered or unordered, got %v", v))
	}
	// The KafkaSource webhook leaves delivery to the ConsumerGroup's, which refuses a duration
	// that is not ISO 8601 and leaves the source NotReady: check it here, as that one does.
	delivery, _ := spec["delivery"].(map[string]any)
	var p deployProblems
	deployDeliveryRules(&p, delivery, "spec.delivery")
	for _, problem := range p {
		errs = append(errs, errors.New(problem))
	}
	return errors.Join(errs...)
}

// manifestValidateKafkaSource returns every problem of a KafkaSource document: schema, unknown fields and
// webhook rules.
func manifestValidateKafkaSource(s *jsonschema.Schema, schemaDoc map[string]any, v any) error {
	var errs []error
	if err := s.Validate(v); err != nil {
		errs = append(errs, err)
	}
	var unknown deployProblems
	deployUnknownFields(&unknown, schemaDoc, v, "")
	for _, problem := range unknown {
		errs = append(errs, errors.New(problem))
	}
	if err := manifestKafkaSourceWebhook(v); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func TestManifestKafkaSources(t *testing.T) {
	schema, schemaDoc := manifestCompile(t, manifestSchemaPath(t, "kafkasource.yaml"))
	sink := manifestLoadYAML(t, "../infra/knative/kafkasink.yaml").(map[string]any)
	sinkName := sink["metadata"].(map[string]any)["name"]
	for _, fn := range []string{"score", "index"} {
		t.Run(fn, func(t *testing.T) {
			v := manifestLoadYAML(t, "../infra/knative/kafkasource-"+fn+".yaml")
			if err := manifestValidateKafkaSource(schema, schemaDoc, v); err != nil {
				t.Fatalf("kafkasource-%s.yaml: %v", fn, err)
			}
			spec := v.(map[string]any)["spec"].(map[string]any)
			want := map[string]any{
				"consumerGroup": "sentistream-" + fn,
				"initialOffset": "earliest",
				"ordering":      "unordered",
			}
			for k, w := range want {
				if spec[k] != w {
					t.Errorf("spec.%s = %v, want %v", k, spec[k], w)
				}
			}
			if !slices.Equal(spec["topics"].([]any), []any{"sentence"}) {
				t.Errorf("spec.topics = %v, want [sentence]", spec["topics"])
			}
			ref := spec["sink"].(map[string]any)["ref"].(map[string]any)
			if ref["apiVersion"] != "serving.knative.dev/v1" || ref["kind"] != "Service" || ref["name"] != fn {
				t.Errorf("spec.sink.ref = %v, want the serving.knative.dev/v1 Service %s", ref, fn)
			}
			delivery := spec["delivery"].(map[string]any)
			for _, k := range []string{"retry", "backoffPolicy", "backoffDelay", "timeout"} {
				if delivery[k] == nil {
					t.Errorf("spec.delivery.%s is not set explicitly", k)
				}
			}
			dls := delivery["deadLetterSink"].(map[string]any)["ref"].(map[string]any)
			if dls["kind"] != "KafkaSink" || dls["apiVersion"] != "eventing.knative.dev/v1alpha1" || dls["name"] != sinkName {
				t.Errorf("deadLetterSink.ref = %v, want the KafkaSink %v", dls, sinkName)
			}
		})
	}
}

func TestManifestKafkaSink(t *testing.T) {
	v := manifestLoadYAML(t, "../infra/knative/kafkasink.yaml").(map[string]any)
	if v["apiVersion"] != "eventing.knative.dev/v1alpha1" || v["kind"] != "KafkaSink" {
		t.Errorf("kafkasink.yaml is %v %v, want eventing.knative.dev/v1alpha1 KafkaSink", v["apiVersion"], v["kind"])
	}
	spec, _ := v["spec"].(map[string]any)
	if spec["topic"] != "sentence-dlq" {
		t.Errorf("spec.topic = %v, want sentence-dlq", spec["topic"])
	}
	if bs, _ := spec["bootstrapServers"].([]any); len(bs) == 0 {
		t.Error("spec.bootstrapServers is required")
	}
	for k := range spec {
		if !slices.Contains([]string{"topic", "bootstrapServers", "contentMode", "numPartitions", "replicationFactor", "auth"}, k) {
			t.Errorf("unknown field spec.%s", k)
		}
	}
	if m, ok := spec["contentMode"]; ok && m != "binary" && m != "structured" {
		t.Errorf("spec.contentMode = %v, want binary or structured", m)
	}
}

// TestManifestKafkaSourceBroken checks that the validation catches what a cluster would drop or
// refuse.
func TestManifestKafkaSourceBroken(t *testing.T) {
	schema, schemaDoc := manifestCompile(t, manifestSchemaPath(t, "kafkasource.yaml"))
	orig, err := os.ReadFile("../infra/knative/kafkasource-score.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"typo field", "consumerGroup:", "consumerGroupp:", "spec.consumerGroupp: unknown field"},
		{"typo nested field", "backoffDelay:", "backofDelay:", "spec.delivery.backofDelay: unknown field"},
		{"bad ordering", "ordering: unordered", "ordering: unorderd", "spec.ordering"},
		{"bad initialOffset", "initialOffset: earliest", "initialOffset: oldest", "spec.initialOffset"},
		{"retry not an integer", "retry: 10", "retry: ten", "retry"},
		{"no topics", "  topics:\n    - sentence\n", "", "spec.topics is required"},
		{"no sink", "  sink:\n", "  sinkk:\n", "spec.sink is required"},
		{"backoffDelay in Go syntax", "backoffDelay: PT0.3S", "backoffDelay: 300ms", "spec.delivery.backoffDelay: 300ms: want an ISO 8601 duration"},
		{"timeout in Go syntax", "timeout: PT30S", "timeout: 30s", "spec.delivery.timeout: 30s: want an ISO 8601 duration"},
		{"timeout as seconds", "timeout: PT30S", "timeout: 30", "spec.delivery.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(orig, []byte(tt.old)) {
				t.Fatalf("kafkasource-score.yaml has no %q to break", tt.old)
			}
			broken := bytes.Replace(orig, []byte(tt.old), []byte(tt.new), 1)
			err := manifestValidateKafkaSource(schema, schemaDoc, manifestYAMLValue(t, broken))
			if err == nil {
				t.Fatalf("broken manifest (%s) passed validation", tt.name)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validation error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
