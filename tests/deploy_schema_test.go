package tests

// Schema tests of the deploy manifests: each document against its CRD's openAPIV3Schema, the
// fields an API server would prune, and ObjectMeta. See deploy_test.go for the others.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sentistream/sentistream/internal/testenv"
)

// deploySchemaFiles maps "apiVersion kind" to the file in ../shared/schemas holding its CRD's
// openAPIV3Schema.
var deploySchemaFiles = map[string]string{
	"serving.knative.dev/v1 Service":          "knative-service.yaml",
	"sources.knative.dev/v1 KafkaSource":      "kafkasource.yaml",
	"sources.knative.dev/v1beta1 KafkaSource": "kafkasource-v1beta1.yaml",
	"eventing.knative.dev/v1 Trigger":         "knative-trigger.yaml",
	"eventing.knative.dev/v1 Broker":          "knative-broker.yaml",
	"kafka.strimzi.io/v1 KafkaTopic":          "strimzi-kafkatopic.yaml",
	"kafka.strimzi.io/v1beta2 KafkaTopic":     "strimzi-kafkatopic-v1beta2.yaml",
}

// deployRepoSchemaFiles are the schemas the shared folder lacks, kept in tests/testdata/schemas,
// taken from the upstream release YAML their header lines name, the same way.
var deployRepoSchemaFiles = map[string]string{
	"sources.knative.dev/v1 PingSource":  "pingsource.yaml",
	"sources.knative.dev/v1 SinkBinding": "sinkbinding.yaml",
}

// deploySchemaDir finds ../shared/schemas. Without it the schema tests cannot run: they fail
// under CI (which copies shared/ beside its clone) and skip elsewhere, saying so.
func deploySchemaDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(deploySchemaDirEnv)
	if dir == "" {
		dir = filepath.Join(deployRepoRoot, "..", "shared", "schemas")
	}
	if _, err := os.Stat(filepath.Join(dir, "knative-service.yaml")); err != nil {
		msg := fmt.Sprintf("CRD schemas not found in %s (the shared folder beside the repository; "+
			"or set %s): %v", dir, deploySchemaDirEnv, err)
		if testenv.InCI() {
			t.Fatal("CI is set but " + msg)
		}
		t.Skip(msg)
	}
	return dir
}

// deployValidator validates manifests against the CRD schemas and the rules they miss.
type deployValidator struct {
	compiled map[string]*jsonschema.Schema // by "apiVersion kind"
	raw      map[string]map[string]any     // the same schemas, for the unknown-field walk
}

func deployNewValidator(t *testing.T) *deployValidator {
	t.Helper()
	dir := deploySchemaDir(t)
	v := &deployValidator{compiled: map[string]*jsonschema.Schema{}, raw: map[string]map[string]any{}}
	c := jsonschema.NewCompiler()
	// CRD schemas are OpenAPI v3.0 schema objects, closest to draft 4 (exclusiveMinimum is a
	// boolean there). Unknown keywords (x-kubernetes-*, nullable) are ignored by the compiler and
	// handled by the walk below.
	c.DefaultDraft(jsonschema.Draft4)
	files := map[string]string{}
	for gvk, file := range deploySchemaFiles {
		files[gvk] = filepath.Join(dir, file)
	}
	for gvk, file := range deployRepoSchemaFiles {
		files[gvk] = filepath.Join(deployRepoRoot, "tests", "testdata", "schemas", file)
	}
	for _, gvk := range slices.Sorted(maps.Keys(files)) {
		file := filepath.Base(files[gvk])
		data, err := os.ReadFile(files[gvk])
		if err != nil {
			t.Fatalf("schema for %s: %v", gvk, err)
		}
		vals, err := deployDecodeYAML(data)
		if err != nil || len(vals) != 1 {
			t.Fatalf("schema %s: want one YAML document, got %d (%v)", file, len(vals), err)
		}
		doc, ok := vals[0].(map[string]any)
		if !ok {
			t.Fatalf("schema %s: not a mapping", file)
		}
		loc := "file:///schemas/" + file
		if err := c.AddResource(loc, doc); err != nil {
			t.Fatalf("schema %s: %v", file, err)
		}
		sch, err := c.Compile(loc)
		if err != nil {
			t.Fatalf("compile schema %s: %v", file, err)
		}
		v.compiled[gvk], v.raw[gvk] = sch, doc
	}
	return v
}

// validate returns every problem found in obj, each naming the field's path; none means valid.
func (v *deployValidator) validate(obj map[string]any) []string {
	var p deployProblems
	apiVersion, kind := deployStr(obj, "apiVersion"), deployStr(obj, "kind")
	if apiVersion == "" || kind == "" {
		p.add("", "apiVersion and kind are required")
		return p
	}
	gvk := apiVersion + " " + kind
	deployCheckObjectMeta(&p, obj["metadata"], "metadata", true)
	if _, ok := obj["status"]; ok {
		p.add("status", "is written by the cluster, never by a manifest")
	}

	if sch, ok := v.compiled[gvk]; ok {
		if err := sch.Validate(any(obj)); err != nil {
			var ve *jsonschema.ValidationError
			if errors.As(err, &ve) {
				for _, line := range deployFlattenSchemaError(ve) {
					p.add("", "schema: "+line)
				}
			} else {
				p.add("", "schema: "+err.Error())
			}
		}
		deployUnknownFields(&p, v.raw[gvk], obj, "")
	}

	switch gvk {
	case "serving.knative.dev/v1 Service":
		deployKnativeServiceRules(&p, obj)
	case "kafka.strimzi.io/v1 KafkaTopic", "kafka.strimzi.io/v1beta2 KafkaTopic":
		deployKafkaTopicRules(&p, obj)
	case "v1 Secret":
		deploySecretRules(&p, obj)
	case "eventing.knative.dev/v1alpha1 KafkaSink":
		deployKafkaSinkRules(&p, obj)
	case "sources.knative.dev/v1 KafkaSource", "sources.knative.dev/v1beta1 KafkaSource":
		deployKafkaSourceRules(&p, obj)
	default:
		if _, ok := v.compiled[gvk]; !ok {
			p.add("", fmt.Sprintf("%s: no schema in ../shared/schemas and no structural check here; add one", gvk))
		}
	}
	return p
}

// deployFlattenSchemaError lists the leaves of a jsonschema error tree, one line each.
func deployFlattenSchemaError(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		return []string{"/" + strings.Join(ve.InstanceLocation, "/") + ": " + ve.Error()}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, deployFlattenSchemaError(c)...)
	}
	return out
}

// deployUnknownFields walks value along schema and reports every field the schema does not
// declare, the way an API server prunes them: properties are known; additionalProperties (a
// schema, or true) and x-kubernetes-preserve-unknown-fields admit the rest; an
// x-kubernetes-int-or-string or an untyped leaf ends the walk. An object schema with neither
// properties nor additionalProperties admits no field, as the server prunes them all. The one
// exception is a document's top-level metadata (called with path ""): it is ObjectMeta, which a
// CRD schema leaves open and the server checks itself (deployCheckObjectMeta does here). Paths
// read spec.delivery.retries. The deploy validator and the KafkaSource manifest tests both use it.
func deployUnknownFields(p *deployProblems, schema map[string]any, value any, path string) {
	if b, _ := schema["x-kubernetes-int-or-string"].(bool); b {
		return
	}
	preserve, _ := schema["x-kubernetes-preserve-unknown-fields"].(bool)
	switch val := value.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		var addl map[string]any
		addlTrue := false
		switch a := schema["additionalProperties"].(type) {
		case map[string]any:
			addl = a
		case bool:
			addlTrue = a
		}
		for _, k := range deploySortedKeys(val) {
			if path == "" && (k == "metadata" || k == "apiVersion" || k == "kind") {
				continue // every object's, whether its CRD's schema lists them (PingSource's does not)
			}
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			if ps, ok := props[k].(map[string]any); ok {
				deployUnknownFields(p, ps, val[k], sub)
				continue
			}
			switch {
			case addl != nil:
				deployUnknownFields(p, addl, val[k], sub)
			case addlTrue || preserve:
			default:
				p.add(sub, "unknown field (a cluster drops it silently)")
			}
		}
	case []any:
		items, _ := schema["items"].(map[string]any)
		if items == nil {
			return
		}
		for i, e := range val {
			deployUnknownFields(p, items, e, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// ObjectMeta fields a hand-written manifest may set (the rest are the cluster's).
var deployObjectMetaFields = []string{"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences"}

var (
	deployDNSLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	deployDNSSubdom   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	deployQualifiedNm = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	deployLabelValue  = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
)

// deployCheckObjectMeta checks ObjectMeta: known fields only, a DNS-subdomain name (when
// required), string label and annotation values, and valid label keys and values.
func deployCheckObjectMeta(p *deployProblems, v any, path string, nameRequired bool) {
	meta, ok := v.(map[string]any)
	if !ok {
		if v != nil || nameRequired {
			p.add(path, "must be a mapping with at least a name")
		}
		return
	}
	for _, k := range deploySortedKeys(meta) {
		if !slices.Contains(deployObjectMetaFields, k) {
			p.add(path+"."+k, "unknown ObjectMeta field (a cluster drops it silently)")
		}
	}
	name, _ := meta["name"].(string)
	switch {
	case name == "" && nameRequired:
		p.add(path+".name", "required")
	case name != "" && (len(name) > 253 || !deployDNSSubdom.MatchString(name)):
		p.add(path+".name", fmt.Sprintf("%q is not a DNS subdomain name", name))
	}
	for _, field := range []string{"labels", "annotations"} {
		m, present := meta[field]
		if !present {
			continue
		}
		mm, ok := m.(map[string]any)
		if !ok {
			p.add(path+"."+field, "must be a mapping of strings")
			continue
		}
		for _, k := range deploySortedKeys(mm) {
			kp := path + "." + field + "[" + k + "]"
			s, ok := mm[k].(string)
			if !ok {
				p.add(kp, fmt.Sprintf("value %v is not a string (quote it)", mm[k]))
				continue
			}
			if !deployValidKey(k) {
				p.add(kp, "invalid key: [prefix/]name, name of at most 63 alphanumerics, '-', '_', '.'")
			}
			if field == "labels" && (len(s) > 63 || !deployLabelValue.MatchString(s)) {
				p.add(kp, fmt.Sprintf("invalid label value %q", s))
			}
		}
	}
}

func deployValidKey(k string) bool {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		name, prefix = prefix, ""
	} else if prefix == "" || len(prefix) > 253 || !deployDNSSubdom.MatchString(prefix) {
		return false
	}
	return len(name) <= 63 && deployQualifiedNm.MatchString(name)
}

// TestDeployManifestsValid validates every manifest in infra/knative.
func TestDeployManifestsValid(t *testing.T) {
	v := deployNewValidator(t)
	docs := deployLoadDocs(t, deployKnativeDir)
	seen := map[string]string{}
	for _, d := range docs {
		t.Run(d.file+"#"+strconv.Itoa(d.idx), func(t *testing.T) {
			for _, problem := range v.validate(d.obj) {
				t.Errorf("%s: %s", d, problem)
			}
		})
		id := d.gvk() + " " + deployStr(d.obj, "metadata", "namespace") + "/" + deployStr(d.obj, "metadata", "name")
		if prev, dup := seen[id]; dup {
			t.Errorf("%s and %s declare the same object %s (kustomize refuses duplicates)", prev, d, id)
		}
		seen[id] = d.String()
	}
}
