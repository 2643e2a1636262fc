package tests

// Deploy tests: what ships to a cluster (infra/knative, stack.yml, Dockerfile) is validated here,
// without a cluster or a Docker engine. This file holds the manifest validator and the Knative
// tests; deploy_openfaas_test.go the OpenFaaS ones, deploy_image_test.go the Dockerfile, static
// binaries and cold start.
//
//   - Every YAML document in infra/knative is validated against the JSON Schema of its CRD in
//     ../shared/schemas (chosen by apiVersion and kind), then for what a schema misses: unknown
//     fields anywhere (an API server drops them silently), ObjectMeta, the Knative Service
//     webhook's rules and the Strimzi KafkaTopic rules. Kinds without a schema there (Secret,
//     KafkaSink) get structural checks written here. A broken copy of each manifest must fail.
//   - kustomization.yaml lists files that exist and together cover the folder.
//   - stack.yml has the shape faas-cli needs and the annotations the kafka-connector and the
//     queue-worker read.
//   - The Dockerfile is linted for the image rules, and the binaries it names are built with its
//     flags and proven static (debug/elf); TestDeployColdStart measures process start to
//     /readyz 200 against the real services.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/sentistream/sentistream/internal/testenv"
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
	for _, gvk := range slices.Sorted(maps.Keys(deploySchemaFiles)) {
		file := deploySchemaFiles[gvk]
		data, err := os.ReadFile(filepath.Join(dir, file))
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
		root := v.raw[gvk]
		for _, k := range deploySortedKeys(obj) {
			switch k {
			case "metadata", "status":
				continue // ObjectMeta is checked above; the CRD schema leaves it open
			}
			props, _ := root["properties"].(map[string]any)
			sub, ok := props[k].(map[string]any)
			if !ok {
				p.add(k, "unknown field (a cluster drops it silently)")
				continue
			}
			deployUnknownFields(&p, sub, obj[k], k)
		}
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

type deployProblems []string

func (p *deployProblems) add(path, msg string) {
	if path == "" {
		*p = append(*p, msg)
		return
	}
	*p = append(*p, path+": "+msg)
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
// x-kubernetes-int-or-string or an untyped leaf ends the walk.
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
			sub := path + "." + k
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

// Knative Serving's reserved ports and environment variables (queue-proxy and the runtime
// contract) and the volume mount paths it refuses: exactly reservedPaths in
// knative/serving pkg/apis/serving/k8s_validation.go at knative-v1.23.0 (/tmp, /var and /var/log
// are allowed there).
var (
	deployKnativeReservedPorts = []int64{8012, 8013, 8022, 9090, 9091, 8008}
	deployKnativeReservedEnv   = []string{"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}
	deployKnativeReservedPaths = []string{"/", "/dev", "/dev/log"}
	// deployKnativeAutoscaling is every autoscaling.knative.dev/ annotation Knative Serving reads
	// on a Revision (v1.23), kebab-case and the older camelCase spellings.
	deployKnativeAutoscaling = []string{
		"class", "metric", "target", "target-utilization-percentage", "targetUtilizationPercentage",
		"target-burst-capacity", "targetBurstCapacity", "min-scale", "minScale", "max-scale", "maxScale",
		"initial-scale", "initialScale", "activation-scale", "scale-down-delay", "window",
		"panic-window-percentage", "panicWindowPercentage", "panic-threshold-percentage",
		"panicThresholdPercentage", "scale-to-zero-pod-retention-period", "scaleToZeroPodRetentionPeriod",
		"metric-aggregation-algorithm", "metricAggregationAlgorithm", "scaleDownDelay",
	}
)

// deployKnativeServiceRules checks what the Knative Service webhook enforces and the schema
// does not, plus this project's own rules (one container, readiness and liveness probes).
func deployKnativeServiceRules(p *deployProblems, obj map[string]any) {
	if name := deployStr(obj, "metadata", "name"); name != "" && (len(name) > 63 || !deployDNSLabel.MatchString(name)) {
		p.add("metadata.name", fmt.Sprintf("%q: a Knative Service name is a DNS label (at most 63 characters)", name))
	}
	for _, k := range deploySortedKeys(deployMap(obj, "metadata", "annotations")) {
		if strings.HasPrefix(k, "autoscaling.knative.dev/") {
			p.add("metadata.annotations["+k+"]", "autoscaling annotations belong in spec.template.metadata.annotations, "+
				"never on the Service's own metadata")
		}
	}
	tmplMeta := deployMap(obj, "spec", "template", "metadata")
	if tmplMeta != nil {
		deployCheckObjectMeta(p, tmplMeta, "spec.template.metadata", false)
	}
	deployKnativeAutoscalingRules(p, deployMap(tmplMeta, "annotations"))

	spec := deployMap(obj, "spec", "template", "spec")
	if spec == nil {
		p.add("spec.template.spec", "required")
		return
	}
	if cc, ok := deployInt(spec["containerConcurrency"]); ok && (cc < 0 || cc > 1000) {
		p.add("spec.template.spec.containerConcurrency", fmt.Sprintf("%d: want 0 (unlimited) to 1000", cc))
	}
	if ts, ok := deployInt(spec["timeoutSeconds"]); ok && (ts < 0 || ts > 600) {
		p.add("spec.template.spec.timeoutSeconds", fmt.Sprintf("%d: want at most 600 (max-revision-timeout-seconds)", ts))
	}
	containers, _ := spec["containers"].([]any)
	if len(containers) != 1 {
		p.add("spec.template.spec.containers", fmt.Sprintf("want exactly one container, got %d", len(containers)))
	}
	// Volumes (ValidateVolumes): unique names, each one mounted by a container.
	volumes := map[string]map[string]any{}
	vols, _ := spec["volumes"].([]any)
	mounted := map[string]bool{}
	for _, c := range containers {
		ms, _ := deployMap(c)["volumeMounts"].([]any)
		for _, m := range ms {
			mounted[deployStr(m, "name")] = true
		}
	}
	for i, v := range vols {
		n := deployStr(v, "name")
		vp := fmt.Sprintf("spec.template.spec.volumes[%d]", i)
		if _, dup := volumes[n]; dup {
			p.add(vp+".name", fmt.Sprintf("duplicate volume name %q", n))
		}
		if !mounted[n] {
			p.add(vp+".name", fmt.Sprintf("volume with name %q not mounted", n))
		}
		volumes[n] = deployMap(v)
	}

	// Exactly one port across the containers: the one queue-proxy forwards to.
	type port struct {
		n    int64
		name string
	}
	var ports []port
	for i, c := range containers {
		cp := fmt.Sprintf("spec.template.spec.containers[%d]", i)
		pl, _ := deployMap(c)["ports"].([]any)
		for j, pv := range pl {
			pp := fmt.Sprintf("%s.ports[%d]", cp, j)
			n, ok := deployInt(deployMap(pv)["containerPort"])
			if !ok || n < 1 || n > 65535 {
				p.add(pp+".containerPort", "want a port from 1 to 65535")
				continue
			}
			if slices.Contains(deployKnativeReservedPorts, n) {
				p.add(pp+".containerPort", fmt.Sprintf("%d is reserved by Knative (queue-proxy, metrics, profiling)", n))
			}
			name := deployStr(pv, "name")
			if name != "" && name != "http1" && name != "h2c" {
				p.add(pp+".name", fmt.Sprintf("%q: Knative accepts only http1 or h2c", name))
			}
			ports = append(ports, port{n, name})
		}
	}
	if len(ports) != 1 {
		p.add("spec.template.spec.containers[].ports", fmt.Sprintf("want exactly one container port, got %d", len(ports)))
	}

	for i, c := range containers {
		cp := fmt.Sprintf("spec.template.spec.containers[%d]", i)
		cm := deployMap(c)
		if deployStr(cm, "image") == "" {
			p.add(cp+".image", "required")
		}
		envs, _ := cm["env"].([]any)
		seen := map[string]bool{}
		for j, e := range envs {
			name := deployStr(e, "name")
			ep := fmt.Sprintf("%s.env[%d]", cp, j)
			if slices.Contains(deployKnativeReservedEnv, name) {
				p.add(ep, fmt.Sprintf("%s is reserved: Knative sets it", name))
			}
			if seen[name] {
				p.add(ep, fmt.Sprintf("%s is set twice", name))
			}
			seen[name] = true
		}
		// Volume mounts (validateVolumeMounts): a declared volume, a mount path that is not
		// reserved, absolute and unique, and readOnly for every volume but emptyDir, PVC and
		// ephemeral ones.
		mounts, _ := cm["volumeMounts"].([]any)
		seenPath := map[string]bool{}
		for j, m := range mounts {
			mp := fmt.Sprintf("%s.volumeMounts[%d]", cp, j)
			vol, ok := volumes[deployStr(m, "name")]
			if !ok {
				p.add(mp+".name", fmt.Sprintf("%q: volumeMount has no matching volume in spec.template.spec.volumes", deployStr(m, "name")))
			}
			raw := deployStr(m, "mountPath")
			clean := path.Clean(raw)
			switch {
			case raw == "":
				p.add(mp+".mountPath", "required")
			case slices.Contains(deployKnativeReservedPaths, clean):
				p.add(mp+".mountPath", fmt.Sprintf("mountPath %q is a reserved path (%v)", clean, deployKnativeReservedPaths))
			case !path.IsAbs(raw):
				p.add(mp+".mountPath", fmt.Sprintf("%q: want an absolute path", raw))
			case seenPath[clean]:
				p.add(mp+".mountPath", fmt.Sprintf("%q must be unique", raw))
			}
			seenPath[clean] = true
			writable := vol["emptyDir"] != nil || vol["persistentVolumeClaim"] != nil || vol["ephemeral"] != nil
			if ro, _ := deployMap(m)["readOnly"].(bool); ok && !writable && !ro {
				p.add(mp+".readOnly", "volume mount should be readOnly for this type of volume")
			}
		}
		for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
			pv, present := cm[probe]
			if !present {
				if probe != "startupProbe" {
					p.add(cp+"."+probe, "required here: the platform must know when the function is ready and alive")
				}
				continue
			}
			pm := deployMap(pv)
			var handlers []string
			for _, h := range []string{"httpGet", "tcpSocket", "exec", "grpc"} {
				if _, ok := pm[h]; ok {
					handlers = append(handlers, h)
				}
			}
			if len(handlers) != 1 || (handlers[0] != "httpGet" && handlers[0] != "tcpSocket") {
				p.add(cp+"."+probe, fmt.Sprintf("want exactly one of httpGet or tcpSocket, got %v", handlers))
				continue
			}
			hv, hasPort := deployMap(pm[handlers[0]])["port"]
			if !hasPort || len(ports) != 1 {
				continue // no port: Knative uses the container port
			}
			if n, ok := deployInt(hv); ok {
				if n != ports[0].n {
					p.add(cp+"."+probe+"."+handlers[0]+".port", fmt.Sprintf("%d: must be the container port %d", n, ports[0].n))
				}
			} else if s, _ := hv.(string); s != ports[0].name || s == "" {
				p.add(cp+"."+probe+"."+handlers[0]+".port", fmt.Sprintf("%q: must be the container port %d or its name", s, ports[0].n))
			}
			if handlers[0] == "httpGet" && !strings.HasPrefix(deployStr(pm, "httpGet", "path"), "/") {
				p.add(cp+"."+probe+".httpGet.path", "want an absolute path such as /readyz")
			}
		}
	}
}

// The two autoscaler classes Knative Serving ships; KPA is the default.
const (
	deployKPA = "kpa.autoscaling.knative.dev"
	deployHPA = "hpa.autoscaling.knative.dev"
)

// deployKnativeClass returns the autoscaler class of a Revision template's annotations: the
// class annotation, or KPA, config-autoscaler's default pod-autoscaler-class.
func deployKnativeClass(ann map[string]any) string {
	if s, _ := ann["autoscaling.knative.dev/class"].(string); s != "" {
		return s
	}
	return deployKPA
}

// deployKnativeAutoscalingRules checks the autoscaling.knative.dev/ annotations of a Revision
// template: known keys (a typo is ignored by Knative, silently) and parseable values.
func deployKnativeAutoscalingRules(p *deployProblems, ann map[string]any) {
	num := func(k string) (float64, bool) {
		s, _ := ann["autoscaling.knative.dev/"+k].(string)
		if s == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			p.add("spec.template.metadata.annotations[autoscaling.knative.dev/"+k+"]", fmt.Sprintf("%q is not a number", s))
			return 0, false
		}
		return f, true
	}
	for _, k := range deploySortedKeys(ann) {
		short, ok := strings.CutPrefix(k, "autoscaling.knative.dev/")
		if !ok {
			continue
		}
		path := "spec.template.metadata.annotations[" + k + "]"
		if !slices.Contains(deployKnativeAutoscaling, short) {
			p.add(path, "unknown autoscaling annotation (Knative ignores it)")
			continue
		}
		s, _ := ann[k].(string)
		switch short {
		case "class":
			// validateClass: a class of Knative's own domain must be KPA or HPA; other
			// autoscalers' classes are left alone.
			if strings.HasSuffix(s, "autoscaling.knative.dev") && s != deployKPA && s != deployHPA {
				p.add(path, fmt.Sprintf("%q: want %s or %s", s, deployKPA, deployHPA))
			}
		case "metric":
			// validateMetric: the class decides (the default class is KPA, config-autoscaler's
			// pod-autoscaler-class): KPA scales on concurrency or rps only, HPA on any named
			// metric (cpu, memory or a custom one), other classes are left alone.
			switch class := deployKnativeClass(ann); {
			case class == deployKPA && s != "concurrency" && s != "rps":
				p.add(path, fmt.Sprintf("%q: the KPA class (the default) scales on concurrency or rps; cpu and memory need class %s", s, deployHPA))
			case class == deployHPA && s == "":
				p.add(path, "empty metric")
			}
		case "window":
			// validateWindow: 6s to 1h, whole seconds.
			if d, err := time.ParseDuration(s); err != nil || d < 6*time.Second || d > time.Hour || d.Truncate(time.Second) != d {
				p.add(path, fmt.Sprintf("%q: want a duration of whole seconds from 6s to 1h", s))
			}
		case "scale-down-delay", "scaleDownDelay":
			if d, err := time.ParseDuration(s); err != nil || d < 0 || d > time.Hour || d.Round(time.Second) != d {
				p.add(path, fmt.Sprintf("%q: want a duration of whole seconds from 0s to 1h", s))
			}
		case "scale-to-zero-pod-retention-period", "scaleToZeroPodRetentionPeriod":
			if d, err := time.ParseDuration(s); err != nil || d < 0 || d > time.Hour {
				p.add(path, fmt.Sprintf("%q: want a duration such as 1m, from 0s to 1h", s))
			}
		case "min-scale", "minScale", "max-scale", "maxScale", "initial-scale", "initialScale", "activation-scale":
			if n, err := strconv.Atoi(s); err != nil || n < 0 {
				p.add(path, fmt.Sprintf("%q: want an integer >= 0", s))
			}
		}
	}
	if t, ok := num("target"); ok && t < 0.01 {
		p.add("spec.template.metadata.annotations[autoscaling.knative.dev/target]", "want at least 0.01 (TargetMin)")
	}
	minS, okMin := num("min-scale")
	maxS, okMax := num("max-scale")
	if okMin && okMax && maxS > 0 && minS > maxS {
		p.add("spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]", fmt.Sprintf("%v is above max-scale %v", minS, maxS))
	}
}

// deployKafkaTopicRules checks a Strimzi KafkaTopic: the cluster label the Topic Operator
// selects on, and explicit partitions and replicas of at least one.
func deployKafkaTopicRules(p *deployProblems, obj map[string]any) {
	if s, _ := deployMap(obj, "metadata", "labels")["strimzi.io/cluster"].(string); s == "" {
		p.add("metadata.labels[strimzi.io/cluster]", "required: the Topic Operator ignores a KafkaTopic without it")
	}
	for _, f := range []string{"partitions", "replicas"} {
		n, ok := deployInt(deployMap(obj, "spec")[f])
		if !ok || n < 1 {
			p.add("spec."+f, "want an explicit integer >= 1 (not the broker default)")
		}
	}
	for _, k := range deploySortedKeys(deployMap(obj, "spec", "config")) {
		switch deployMap(obj, "spec", "config")[k].(type) {
		case string, json.Number, bool:
		default:
			p.add("spec.config."+k, "want a string, number or boolean")
		}
	}
	// A topic whose min.insync.replicas exceeds its replicas refuses every acks=all write (the
	// KafkaSink's and our producer's): NOT_ENOUGH_REPLICAS.
	replicas, okR := deployInt(deployMap(obj, "spec")["replicas"])
	minISR, okM := deployIntOrString(deployMap(obj, "spec", "config")["min.insync.replicas"])
	if okR && okM && minISR > replicas {
		p.add("spec.config.min.insync.replicas", fmt.Sprintf("%d is above replicas %d: every acks=all write is refused", minISR, replicas))
	}
}

// deployIntOrString reads an integer written as a number or as a string.
func deployIntOrString(v any) (int64, bool) {
	if s, ok := v.(string); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	return deployInt(v)
}

// deployISO8601Duration matches what the delivery webhooks accept (eventing's DeliverySpec.Validate
// parses backoffDelay, timeout and retryAfterMax with github.com/rickb777/date/period): an
// optional sign, P, then years, months, weeks and days, then T and hours, minutes and seconds,
// each a number (a decimal fraction allowed) with its designator, at least one of them; or P0.
var deployISO8601Duration = regexp.MustCompile(`^[-+]?P(?:0|(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?W)?(?:\d+(?:[.,]\d+)?D)?(?:T(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?S)?)?)$`)

// deployISODurationOK reports whether s is an ISO 8601 duration the delivery webhooks accept,
// and whether it is zero.
func deployISODurationOK(s string) (ok, zero bool) {
	if !deployISO8601Duration.MatchString(s) || strings.HasSuffix(s, "P") || strings.HasSuffix(s, "T") {
		return false, false
	}
	return true, !strings.ContainsAny(strings.NewReplacer("0", "", ".", "", ",", "").Replace(s[strings.Index(s, "P")+1:]), "123456789")
}

// deployDeliveryRules checks a delivery spec the way eventing-kafka-broker's ConsumerGroup and
// Consumer webhooks do (they validate it with eventing's DeliverySpec.Validate; the KafkaSource
// webhook does not, so a bad value is accepted on the source and then leaves it NotReady):
// every duration ISO 8601 (PT0.3S, never 300ms), a timeout above zero, retry >= 0, a known
// backoffPolicy, and no retryAfterMax (behind the delivery-retryafter feature, disabled by
// default).
func deployDeliveryRules(p *deployProblems, d map[string]any, path string) {
	if d == nil {
		return
	}
	for _, f := range []string{"backoffDelay", "timeout", "retryAfterMax"} {
		v, present := d[f]
		if !present {
			continue
		}
		s, _ := v.(string)
		ok, zero := deployISODurationOK(s)
		switch {
		case !ok:
			p.add(path+"."+f, fmt.Sprintf("%v: want an ISO 8601 duration such as PT0.3S or PT30S", v))
		case f == "timeout" && (zero || strings.HasPrefix(s, "-")):
			p.add(path+"."+f, fmt.Sprintf("%q: want a timeout above zero", s))
		}
	}
	if _, ok := d["retryAfterMax"]; ok {
		p.add(path+".retryAfterMax", "disallowed unless the delivery-retryafter feature is enabled (config-features, disabled by default)")
	}
	if v, ok := d["retry"]; ok {
		if n, isInt := deployInt(v); !isInt || n < 0 {
			p.add(path+".retry", fmt.Sprintf("%v: want an integer >= 0", v))
		}
	}
	if v, ok := d["backoffPolicy"]; ok && v != "exponential" && v != "linear" {
		p.add(path+".backoffPolicy", fmt.Sprintf("%v: want exponential or linear", v))
	}
}

// deployKafkaSourceAutoscaling is every autoscaling.eventing.knative.dev/ annotation
// eventing-kafka-broker (knative-v1.23) copies from a KafkaSource to its ConsumerGroup for KEDA
// (control-plane/pkg/autoscaler: class, then integers).
var deployKafkaSourceAutoscaling = []string{"class", "min-scale", "max-scale", "polling-interval",
	"cooldown-period", "lag-threshold", "activation-lag-threshold"}

// deployKafkaSourceRules checks what the KafkaSource, ConsumerGroup and Consumer webhooks and the
// KEDA integration enforce beyond the schema: required topics, bootstrap servers and sink;
// initialOffset and ordering values; the delivery spec; and the autoscaling annotations
// (a known key, class disabled or keda.autoscaling.knative.dev, int32 values,
// min-scale <= max-scale, a lag threshold of at least 1).
func deployKafkaSourceRules(p *deployProblems, obj map[string]any) {
	spec := deployMap(obj, "spec")
	for _, f := range []string{"topics", "bootstrapServers"} {
		if l, _ := spec[f].([]any); len(l) == 0 {
			p.add("spec."+f, "required")
		}
	}
	if deployMap(spec, "sink", "ref") == nil && deployStr(spec, "sink", "uri") == "" {
		p.add("spec.sink", "required: a ref or a uri")
	}
	if v, ok := spec["initialOffset"]; ok && v != "earliest" && v != "latest" {
		p.add("spec.initialOffset", fmt.Sprintf("%v: want earliest or latest", v))
	}
	if v, ok := spec["ordering"]; ok && v != "ordered" && v != "unordered" {
		p.add("spec.ordering", fmt.Sprintf("%v: want ordered or unordered", v))
	}
	deployDeliveryRules(p, deployMap(spec, "delivery"), "spec.delivery")

	ann := deployMap(obj, "metadata", "annotations")
	ints := map[string]int64{}
	for _, k := range deploySortedKeys(ann) {
		short, ok := strings.CutPrefix(k, "autoscaling.eventing.knative.dev/")
		if !ok {
			continue
		}
		kp := "metadata.annotations[" + k + "]"
		s, _ := ann[k].(string)
		switch {
		case !slices.Contains(deployKafkaSourceAutoscaling, short):
			p.add(kp, fmt.Sprintf("unknown autoscaling annotation (eventing-kafka-broker ignores it); want one of %v", deployKafkaSourceAutoscaling))
		case short == "class":
			if s != "keda.autoscaling.knative.dev" && s != "disabled" {
				p.add(kp, fmt.Sprintf("%q: want keda.autoscaling.knative.dev or disabled", s))
			}
		default:
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil || n < 0 {
				p.add(kp, fmt.Sprintf("%q: want an integer >= 0 (KEDA's ScaledObject field)", s))
				continue
			}
			ints[short] = n
		}
	}
	if lo, ok := ints["min-scale"]; ok {
		if hi, ok := ints["max-scale"]; ok && lo > hi {
			p.add("metadata.annotations[autoscaling.eventing.knative.dev/min-scale]", fmt.Sprintf("%d is above max-scale %d", lo, hi))
		}
	}
	if n, ok := ints["lag-threshold"]; ok && n < 1 {
		p.add("metadata.annotations[autoscaling.eventing.knative.dev/lag-threshold]", "want at least 1")
	}
}

// deploySecretRules checks a core v1 Secret structurally (no CRD schema for it).
func deploySecretRules(p *deployProblems, obj map[string]any) {
	deployAllowKeys(p, obj, "", "apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable")
	if t, ok := obj["type"]; ok {
		if s, _ := t.(string); s == "" {
			p.add("type", "want a string such as Opaque")
		}
	}
	keyRE := regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	total := 0
	for _, field := range []string{"data", "stringData"} {
		v, present := obj[field]
		if !present {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			p.add(field, "must be a mapping of strings")
			continue
		}
		for _, k := range deploySortedKeys(m) {
			total++
			if !keyRE.MatchString(k) {
				p.add(field+"."+k, "invalid key: alphanumerics, '-', '_', '.'")
			}
			s, ok := m[k].(string)
			if !ok {
				p.add(field+"."+k, "value must be a string (quote it)")
				continue
			}
			if field == "data" {
				if _, err := base64.StdEncoding.DecodeString(s); err != nil {
					p.add(field+"."+k, "data values are base64; use stringData for plain text")
				}
			}
		}
	}
	if total == 0 {
		p.add("", "a Secret with no data or stringData")
	}
}

// deployKafkaSinkRules checks a KafkaSink (eventing-kafka-broker, eventing.knative.dev/v1alpha1)
// structurally: the fields of its spec and the required topic and bootstrap servers.
func deployKafkaSinkRules(p *deployProblems, obj map[string]any) {
	deployAllowKeys(p, obj, "", "apiVersion", "kind", "metadata", "spec")
	spec := deployMap(obj, "spec")
	if spec == nil {
		p.add("spec", "required")
		return
	}
	deployAllowKeys(p, spec, "spec", "topic", "numPartitions", "replicationFactor", "bootstrapServers", "contentMode", "auth")
	if deployStr(spec, "topic") == "" {
		p.add("spec.topic", "required")
	}
	servers, _ := spec["bootstrapServers"].([]any)
	if len(servers) == 0 {
		p.add("spec.bootstrapServers", "required: a list of host:port")
	}
	for i, s := range servers {
		if str, _ := s.(string); !strings.Contains(str, ":") {
			p.add(fmt.Sprintf("spec.bootstrapServers[%d]", i), fmt.Sprintf("%v: want host:port", s))
		}
	}
	if m, ok := spec["contentMode"]; ok && m != "binary" && m != "structured" {
		p.add("spec.contentMode", fmt.Sprintf("%v: want binary or structured", m))
	}
	for _, f := range []string{"numPartitions", "replicationFactor"} {
		if v, ok := spec[f]; ok {
			if n, ok := deployInt(v); !ok || n < 1 {
				p.add("spec."+f, "want an integer >= 1")
			}
		}
	}
	if a, ok := spec["auth"]; ok {
		deployAllowKeys(p, deployMap(a), "spec.auth", "secret")
		deployAllowKeys(p, deployMap(a, "secret"), "spec.auth.secret", "ref")
		deployAllowKeys(p, deployMap(a, "secret", "ref"), "spec.auth.secret.ref", "name")
		if deployStr(a, "secret", "ref", "name") == "" {
			p.add("spec.auth.secret.ref.name", "required when auth is set")
		}
	}
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

// TestDeployManifestReferences checks what ties the manifests together: the Secret keys the
// Services read exist in the Secret template, the topics that sources and sinks name are
// declared KafkaTopics, and KafkaSources deliver to Services declared here.
func TestDeployManifestReferences(t *testing.T) {
	deployCheckReferences(t, deployLoadDocs(t, deployKnativeDir))
}

// deployCheckReferences checks the references between docs (see TestDeployManifestReferences).
func deployCheckReferences(t *testing.T, docs []deployDoc) {
	t.Helper()
	// Objects are keyed "namespace/name": a reference without a namespace stays in its own.
	secrets := map[string]map[string]bool{} // -> keys
	topics := map[string]bool{}             // topic names (any namespace)
	services := map[string]bool{}
	sinks := map[string]bool{}
	bootstrap := map[string]bool{} // the bootstrap services of the Strimzi clusters the topics name
	for _, d := range docs {
		ns, name := deployStr(d.obj, "metadata", "namespace"), deployStr(d.obj, "metadata", "name")
		switch deployStr(d.obj, "kind") {
		case "Secret":
			keys := map[string]bool{}
			for _, f := range []string{"data", "stringData"} {
				for k := range deployMap(d.obj, f) {
					keys[k] = true
				}
			}
			secrets[ns+"/"+name] = keys
		case "KafkaTopic":
			if tn := deployStr(d.obj, "spec", "topicName"); tn != "" {
				name = tn
			}
			topics[name] = true
			cluster, _ := deployMap(d.obj, "metadata", "labels")["strimzi.io/cluster"].(string)
			bootstrap[cluster+"-kafka-bootstrap."+ns] = true
		case "Service":
			services[ns+"/"+name] = true
		case "KafkaSink":
			sinks[ns+"/"+name] = true
		}
	}
	// A Strimzi bootstrap address (<cluster>-kafka-bootstrap.<namespace>[.svc…]:port) must be the
	// cluster and namespace the KafkaTopics are declared for, or the topics land elsewhere.
	strimziAddr := regexp.MustCompile(`^([a-z0-9-]+-kafka-bootstrap)\.([a-z0-9-]+)(\.svc.*)?:\d+$`)
	checkBrokers := func(d deployDoc, what string, addrs []string) {
		for _, a := range addrs {
			if m := strimziAddr.FindStringSubmatch(strings.TrimSpace(a)); m != nil && !bootstrap[m[1]+"."+m[2]] {
				t.Errorf("%s: %s %q is not the bootstrap service of the Strimzi cluster and namespace the KafkaTopics name (%v)",
					d, what, a, slices.Sorted(maps.Keys(bootstrap)))
			}
		}
	}
	needKey := func(d deployDoc, secret, key string) {
		ns := deployStr(d.obj, "metadata", "namespace")
		keys, ok := secrets[ns+"/"+secret]
		switch {
		case !ok:
			t.Errorf("%s reads Secret %s/%s, which no manifest here declares (secret.example.yaml)", d, ns, secret)
		case key != "" && !keys[key]:
			t.Errorf("%s reads key %q of Secret %q, which the template lacks", d, key, secret)
		}
	}
	refKey := func(d deployDoc, ref map[string]any) string {
		ns := deployStr(ref, "namespace")
		if ns == "" {
			ns = deployStr(d.obj, "metadata", "namespace")
		}
		return ns + "/" + deployStr(ref, "name")
	}
	for _, d := range docs {
		servers, _ := deployMap(d.obj, "spec")["bootstrapServers"].([]any)
		var addrs []string
		for _, s := range servers {
			if str, ok := s.(string); ok {
				addrs = append(addrs, strings.Split(str, ",")...)
			}
		}
		checkBrokers(d, "bootstrap server", addrs)
		switch deployStr(d.obj, "kind") {
		case "Service":
			spec := deployMap(d.obj, "spec", "template", "spec")
			vols, _ := spec["volumes"].([]any)
			for _, v := range vols {
				if s := deployMap(v, "secret"); s != nil {
					items, _ := s["items"].([]any)
					if len(items) == 0 {
						needKey(d, deployStr(s, "secretName"), "")
					}
					for _, it := range items {
						needKey(d, deployStr(s, "secretName"), deployStr(it, "key"))
					}
				}
			}
			containers, _ := spec["containers"].([]any)
			for _, c := range containers {
				envs, _ := deployMap(c)["env"].([]any)
				for _, e := range envs {
					if ref := deployMap(e, "valueFrom", "secretKeyRef"); ref != nil {
						needKey(d, deployStr(ref, "name"), deployStr(ref, "key"))
					}
					if deployStr(e, "name") == "KAFKA_BROKERS" {
						checkBrokers(d, "KAFKA_BROKERS", strings.Split(deployStr(e, "value"), ","))
					}
				}
				from, _ := deployMap(c)["envFrom"].([]any)
				for _, f := range from {
					if ref := deployMap(f, "secretRef"); ref != nil {
						needKey(d, deployStr(ref, "name"), "")
					}
				}
			}
		case "KafkaSink":
			if tp := deployStr(d.obj, "spec", "topic"); !topics[tp] {
				t.Errorf("%s writes to topic %q, which no KafkaTopic here declares", d, tp)
			}
		case "KafkaSource":
			tl, _ := deployMap(d.obj, "spec")["topics"].([]any)
			for _, tp := range tl {
				if s, _ := tp.(string); !topics[s] {
					t.Errorf("%s reads topic %v, which no KafkaTopic here declares", d, tp)
				}
			}
			if ref := deployMap(d.obj, "spec", "sink", "ref"); ref != nil && deployStr(ref, "kind") == "Service" {
				if n := refKey(d, ref); !services[n] {
					t.Errorf("%s delivers to Service %s, which no manifest here declares", d, n)
				}
			}
			if ref := deployMap(d.obj, "spec", "delivery", "deadLetterSink", "ref"); ref != nil && deployStr(ref, "kind") == "KafkaSink" {
				if n := refKey(d, ref); !sinks[n] {
					t.Errorf("%s dead-letters to KafkaSink %s, which no manifest here declares", d, n)
				}
			}
		}
	}
}

// TestDeploySecretsMountedAreRead checks least privilege for Secrets: every Secret key a Service
// mounts is a file the function reads (a *_FILE variable, or a path such as sslrootcert inside a
// mounted secret value), and every file it reads is mounted.
func TestDeploySecretsMountedAreRead(t *testing.T) {
	deployCheckSecretsMountedAreRead(t, deployLoadDocs(t, deployKnativeDir))
}

func deployCheckSecretsMountedAreRead(t *testing.T, docs []deployDoc) {
	t.Helper()
	secrets := map[string]map[string]string{} // namespace/name -> key -> value
	for _, d := range docs {
		if deployStr(d.obj, "kind") != "Secret" {
			continue
		}
		keys := map[string]string{}
		for k, v := range deployMap(d.obj, "stringData") {
			keys[k], _ = v.(string)
		}
		for k, v := range deployMap(d.obj, "data") {
			b, _ := base64.StdEncoding.DecodeString(deployStr(v))
			keys[k] = string(b)
		}
		secrets[deployStr(d.obj, "metadata", "namespace")+"/"+deployStr(d.obj, "metadata", "name")] = keys
	}
	absPath := regexp.MustCompile(`(?:^|[=\s])(/[^\s&"';]+)`)
	n := 0
	for _, d := range docs {
		if deployStr(d.obj, "kind") != "Service" {
			continue
		}
		n++
		ns := deployStr(d.obj, "metadata", "namespace")
		spec := deployMap(d.obj, "spec", "template", "spec")
		volumes := map[string]map[string]any{}
		vols, _ := spec["volumes"].([]any)
		for _, v := range vols {
			volumes[deployStr(v, "name")] = deployMap(v)
		}
		mounted := map[string]string{} // file path -> "secret/key"
		read := map[string]string{}    // file path -> who reads it
		containers, _ := spec["containers"].([]any)
		for _, c := range containers {
			ms, _ := deployMap(c)["volumeMounts"].([]any)
			for _, m := range ms {
				sec := deployMap(volumes[deployStr(m, "name")], "secret")
				if sec == nil {
					continue
				}
				name := deployStr(sec, "secretName")
				keys, ok := secrets[ns+"/"+name]
				if !ok {
					t.Errorf("%s mounts Secret %s/%s, which secret.example.yaml does not declare", d, ns, name)
					continue
				}
				files := map[string]string{} // path in the volume -> key
				if items, _ := sec["items"].([]any); len(items) > 0 {
					for _, it := range items {
						files[deployStr(it, "path")] = deployStr(it, "key")
					}
				} else {
					for k := range keys {
						files[k] = k
					}
				}
				for file, key := range files {
					full := path.Join(deployStr(m, "mountPath"), file)
					if sp := deployStr(m, "subPath"); sp != "" {
						if sp != file {
							continue
						}
						full = deployStr(m, "mountPath")
					}
					mounted[full] = name + "/" + key
					for _, mm := range absPath.FindAllStringSubmatch(keys[key], -1) {
						read[path.Clean(mm[1])] = "a path in Secret " + name + " key " + key
					}
				}
			}
			envs, _ := deployMap(c)["env"].([]any)
			for _, e := range envs {
				if name := deployStr(e, "name"); strings.HasSuffix(name, "_FILE") {
					read[path.Clean(deployStr(e, "value"))] = "env " + name
				}
			}
		}
		for _, f := range slices.Sorted(maps.Keys(mounted)) {
			if _, ok := read[f]; !ok {
				t.Errorf("%s mounts %s (Secret key %s), which nothing it runs reads: mount only the keys it uses", d, f, mounted[f])
			}
		}
		for _, f := range slices.Sorted(maps.Keys(read)) {
			if _, ok := mounted[f]; !ok {
				t.Errorf("%s: %s names %s, which no Secret mount provides", d, read[f], f)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Service among the manifests")
	}
}

// TestDeployValidatorRejectsBrokenManifests breaks a copy of each manifest in the ways a real
// cluster would silently accept or a webhook would refuse, and requires the validator to say so.
func TestDeployValidatorRejectsBrokenManifests(t *testing.T) {
	v := deployNewValidator(t)
	docs := deployLoadDocs(t, deployKnativeDir)

	container := func(o map[string]any) map[string]any {
		return deployMap(deployMap(o, "spec", "template", "spec")["containers"].([]any)[0])
	}
	templateAnn := func(o map[string]any) map[string]any {
		return deployMap(o, "spec", "template", "metadata", "annotations")
	}
	ensureMap := func(parent map[string]any, key string) map[string]any {
		if m, ok := parent[key].(map[string]any); ok {
			return m
		}
		m := map[string]any{}
		parent[key] = m
		return m
	}
	tests := []struct {
		name   string
		kind   string // "" applies to every document
		mutate func(o map[string]any)
		want   string
	}{
		{"typo at the top level", "", func(o map[string]any) { o["sepc"] = o["spec"] }, "sepc: unknown field"},
		{"typo in metadata", "", func(o map[string]any) { deployMap(o, "metadata")["label"] = map[string]any{"a": "b"} }, "metadata.label: unknown ObjectMeta field"},
		{"unquoted label value", "", func(o map[string]any) { ensureMap(deployMap(o, "metadata"), "labels")["enabled"] = true }, "is not a string"},
		{"no name", "", func(o map[string]any) { delete(deployMap(o, "metadata"), "name") }, "metadata.name: required"},

		{"typo in containerConcurrency", "Service", func(o map[string]any) {
			s := deployMap(o, "spec", "template", "spec")
			s["containerConcurency"] = s["containerConcurrency"]
		}, "spec.template.spec.containerConcurency: unknown field"},
		{"typo in a probe", "Service", func(o map[string]any) { deployMap(container(o), "readinessProbe")["periodSecond"] = json.Number("2") },
			"readinessProbe.periodSecond: unknown field"},
		{"typo in a container field", "Service", func(o map[string]any) { container(o)["resource"] = container(o)["resources"] },
			"containers[0].resource: unknown field"},
		{"wrong type", "Service", func(o map[string]any) { deployMap(o, "spec", "template", "spec")["containerConcurrency"] = "many" }, "schema:"},
		{"autoscaling annotation on the Service metadata", "Service", func(o map[string]any) {
			ensureMap(deployMap(o, "metadata"), "annotations")["autoscaling.knative.dev/min-scale"] = "0"
		}, "belong in spec.template.metadata.annotations"},
		{"misspelt autoscaling annotation", "Service", func(o map[string]any) { templateAnn(o)["autoscaling.knative.dev/min-scales"] = "0" },
			"unknown autoscaling annotation"},
		{"bad autoscaling value", "Service", func(o map[string]any) { templateAnn(o)["autoscaling.knative.dev/max-scale"] = "ten" }, "want an integer"},
		{"reserved port", "Service", func(o map[string]any) {
			deployMap(container(o)["ports"].([]any)[0])["containerPort"] = json.Number("8012")
		}, "8012 is reserved"},
		{"reserved env var", "Service", func(o map[string]any) {
			container(o)["env"] = append(container(o)["env"].([]any), map[string]any{"name": "PORT", "value": "9000"})
		}, "PORT is reserved"},
		{"two ports", "Service", func(o map[string]any) {
			container(o)["ports"] = append(container(o)["ports"].([]any), map[string]any{"containerPort": json.Number("9000")})
		}, "want exactly one container port"},
		{"exec probe", "Service", func(o map[string]any) {
			container(o)["livenessProbe"] = map[string]any{"exec": map[string]any{"command": []any{"/function", "-health"}}}
		}, "want exactly one of httpGet or tcpSocket"},
		{"probe on another port", "Service", func(o map[string]any) {
			deployMap(container(o), "readinessProbe", "httpGet")["port"] = json.Number("9000")
		}, "must be the container port"},
		{"no readiness probe", "Service", func(o map[string]any) { delete(container(o), "readinessProbe") }, "readinessProbe: required"},
		{"second container", "Service", func(o map[string]any) {
			s := deployMap(o, "spec", "template", "spec")
			s["containers"] = append(s["containers"].([]any), map[string]any{"image": "busybox:1.37"})
		}, "want exactly one container"},

		{"no cluster label", "KafkaTopic", func(o map[string]any) { delete(deployMap(o, "metadata", "labels"), "strimzi.io/cluster") },
			"strimzi.io/cluster"},
		{"zero partitions", "KafkaTopic", func(o map[string]any) { deployMap(o, "spec")["partitions"] = json.Number("0") }, "spec.partitions"},
		{"no replicas", "KafkaTopic", func(o map[string]any) { delete(deployMap(o, "spec"), "replicas") }, "spec.replicas"},
		{"typo in partitions", "KafkaTopic", func(o map[string]any) { deployMap(o, "spec")["partition"] = json.Number("3") },
			"spec.partition: unknown field"},

		{"typo in stringData", "Secret", func(o map[string]any) { o["stringdata"] = o["stringData"] }, "stringdata: unknown field"},
		{"data not base64", "Secret", func(o map[string]any) { o["data"] = map[string]any{"database-password": "not base64!"} }, "base64"},

		{"typo in KafkaSink spec", "KafkaSink", func(o map[string]any) { deployMap(o, "spec")["topics"] = []any{"sentence-dlq"} }, "spec.topics: unknown field"},
		{"KafkaSink without topic", "KafkaSink", func(o map[string]any) { delete(deployMap(o, "spec"), "topic") }, "spec.topic: required"},

		{"typo in KafkaSource spec", "KafkaSource", func(o map[string]any) { deployMap(o, "spec")["consumergroup"] = "x" },
			"spec.consumergroup: unknown field"},
		{"typo in KafkaSource delivery", "KafkaSource", func(o map[string]any) { ensureMap(deployMap(o, "spec"), "delivery")["retries"] = json.Number("3") },
			"spec.delivery.retries: unknown field"},

		// Serving 1.23's webhook (k8s_validation.go, annotation_validation.go).
		{"mount at a reserved path", "Service", func(o map[string]any) {
			deployMap(container(o)["volumeMounts"].([]any)[0])["mountPath"] = "/dev/"
		}, `mountPath "/dev" is a reserved path`},
		{"relative mount path", "Service", func(o map[string]any) {
			deployMap(container(o)["volumeMounts"].([]any)[0])["mountPath"] = "var/run/secrets"
		}, "want an absolute path"},
		{"two mounts at one path", "Service", func(o map[string]any) {
			ms := container(o)["volumeMounts"].([]any)
			deployMap(ms[len(ms)-1])["mountPath"] = deployStr(ms[0], "mountPath") + "/"
		}, "must be unique"},
		{"secret mount not readOnly", "Service", func(o map[string]any) {
			delete(deployMap(container(o)["volumeMounts"].([]any)[0]), "readOnly")
		}, "should be readOnly"},
		{"volume not mounted", "Service", func(o map[string]any) {
			s := deployMap(o, "spec", "template", "spec")
			s["volumes"] = append(s["volumes"].([]any), map[string]any{"name": "spare", "emptyDir": map[string]any{}})
		}, `volume with name "spare" not mounted`},
		{"cpu metric under the default class", "Service", func(o map[string]any) { templateAnn(o)["autoscaling.knative.dev/metric"] = "cpu" },
			"the KPA class (the default) scales on concurrency or rps"},
		{"memory metric under class kpa", "Service", func(o map[string]any) {
			templateAnn(o)["autoscaling.knative.dev/class"] = deployKPA
			templateAnn(o)["autoscaling.knative.dev/metric"] = "memory"
		}, "the KPA class (the default) scales on concurrency or rps"},
		{"unknown Knative class", "Service", func(o map[string]any) {
			templateAnn(o)["autoscaling.knative.dev/class"] = "kpa2.autoscaling.knative.dev"
		},
			"want kpa.autoscaling.knative.dev or hpa.autoscaling.knative.dev"},
		{"window below 6s", "Service", func(o map[string]any) { templateAnn(o)["autoscaling.knative.dev/window"] = "5s" }, "from 6s to 1h"},

		{"min.insync.replicas above replicas", "KafkaTopic", func(o map[string]any) {
			deployMap(o, "spec")["replicas"] = json.Number("1")
			deployMap(o, "spec", "config")["min.insync.replicas"] = json.Number("2")
		}, "every acks=all write is refused"},

		// The ConsumerGroup/Consumer webhooks (eventing's DeliverySpec.Validate) and KEDA.
		{"backoffDelay not ISO 8601", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["backoffDelay"] = "300ms" },
			"spec.delivery.backoffDelay: 300ms: want an ISO 8601 duration"},
		{"timeout not ISO 8601", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["timeout"] = "30s" },
			"spec.delivery.timeout: 30s: want an ISO 8601 duration"},
		{"zero timeout", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["timeout"] = "PT0S" }, "want a timeout above zero"},
		{"retryAfterMax without its feature", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["retryAfterMax"] = "PT60S" },
			"delivery-retryafter"},
		{"bad backoffPolicy", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["backoffPolicy"] = "exp" }, "want exponential or linear"},
		{"bad initialOffset", "KafkaSource", func(o map[string]any) { deployMap(o, "spec")["initialOffset"] = "oldest" }, "want earliest or latest"},
		{"misspelt KEDA annotation", "KafkaSource", func(o map[string]any) {
			ensureMap(deployMap(o, "metadata"), "annotations")["autoscaling.eventing.knative.dev/lagThreshold"] = "100"
		}, "unknown autoscaling annotation"},
		{"Knative Serving's class on a source", "KafkaSource", func(o map[string]any) {
			ensureMap(deployMap(o, "metadata"), "annotations")["autoscaling.eventing.knative.dev/class"] = deployKPA
		}, "want keda.autoscaling.knative.dev or disabled"},
		{"KEDA value not an integer", "KafkaSource", func(o map[string]any) {
			ensureMap(deployMap(o, "metadata"), "annotations")["autoscaling.eventing.knative.dev/max-scale"] = "three"
		}, "want an integer >= 0"},
		{"KEDA min-scale above max-scale", "KafkaSource", func(o map[string]any) {
			a := ensureMap(deployMap(o, "metadata"), "annotations")
			a["autoscaling.eventing.knative.dev/min-scale"], a["autoscaling.eventing.knative.dev/max-scale"] = "5", "3"
		}, "is above max-scale"},
	}

	broken := map[string]int{}
	kinds := map[string]bool{}
	for _, d := range docs {
		kinds[deployStr(d.obj, "kind")] = true
	}
	for _, tt := range tests {
		if tt.kind != "" && !kinds[tt.kind] {
			t.Logf("%s: no %s manifest in %s yet; case not run", tt.name, tt.kind, deployKnativeDir)
		}
		for _, d := range docs {
			if tt.kind != "" && deployStr(d.obj, "kind") != tt.kind {
				continue
			}
			t.Run(tt.name+"/"+d.file+"#"+strconv.Itoa(d.idx), func(t *testing.T) {
				obj := deployClone(d.obj)
				tt.mutate(obj)
				problems := v.validate(obj)
				if !slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }) {
					t.Errorf("validate(%s broken by %q) = %q, want a problem containing %q", d, tt.name, problems, tt.want)
				}
			})
			broken[d.String()]++
		}
	}
	for _, d := range docs {
		if broken[d.String()] == 0 {
			t.Errorf("%s: no broken copy of it was tried", d)
		}
	}
}

// TestDeployValidatorAcceptsWhatUpstreamAccepts keeps the webhook copies from being stricter than
// upstream: changes that Serving 1.23 and the delivery webhooks accept must pass here too.
func TestDeployValidatorAcceptsWhatUpstreamAccepts(t *testing.T) {
	v := deployNewValidator(t)
	docs := deployLoadDocs(t, deployKnativeDir)
	container := func(o map[string]any) map[string]any {
		return deployMap(deployMap(o, "spec", "template", "spec")["containers"].([]any)[0])
	}
	templateAnn := func(o map[string]any) map[string]any {
		return deployMap(o, "spec", "template", "metadata", "annotations")
	}
	tests := []struct {
		name   string
		kind   string
		mutate func(o map[string]any)
	}{
		{"secret mounted at /tmp", "Service", func(o map[string]any) { deployMap(container(o)["volumeMounts"].([]any)[0])["mountPath"] = "/tmp" }},
		{"secret mounted at /var/log", "Service", func(o map[string]any) {
			deployMap(container(o)["volumeMounts"].([]any)[0])["mountPath"] = "/var/log"
		}},
		{"writable emptyDir", "Service", func(o map[string]any) {
			s := deployMap(o, "spec", "template", "spec")
			s["volumes"] = append(s["volumes"].([]any), map[string]any{"name": "scratch", "emptyDir": map[string]any{}})
			container(o)["volumeMounts"] = append(container(o)["volumeMounts"].([]any), map[string]any{"name": "scratch", "mountPath": "/scratch"})
		}},
		{"cpu metric under class hpa", "Service", func(o map[string]any) {
			templateAnn(o)["autoscaling.knative.dev/class"] = deployHPA
			templateAnn(o)["autoscaling.knative.dev/metric"] = "cpu"
			delete(templateAnn(o), "autoscaling.knative.dev/target")
		}},
		{"rps metric under the default class", "Service", func(o map[string]any) { templateAnn(o)["autoscaling.knative.dev/metric"] = "rps" }},
		{"a third-party class with its own metric", "Service", func(o map[string]any) {
			templateAnn(o)["autoscaling.knative.dev/class"] = "keda.autoscaling.knative.dev/custom"
			templateAnn(o)["autoscaling.knative.dev/metric"] = "kafka-lag"
		}},
		{"fractional ISO 8601 seconds", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["backoffDelay"] = "PT0.5S" }},
		{"ISO 8601 minutes", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["timeout"] = "PT1M30S" }},
		{"zero backoffDelay", "KafkaSource", func(o map[string]any) { deployMap(o, "spec", "delivery")["backoffDelay"] = "PT0S" }},
		{"KEDA disabled", "KafkaSource", func(o map[string]any) {
			deployMap(o, "metadata", "annotations")["autoscaling.eventing.knative.dev/class"] = "disabled"
		}},
	}
	for _, tt := range tests {
		n := 0
		for _, d := range docs {
			if deployStr(d.obj, "kind") != tt.kind {
				continue
			}
			n++
			t.Run(tt.name+"/"+d.file, func(t *testing.T) {
				obj := deployClone(d.obj)
				tt.mutate(obj)
				if problems := v.validate(obj); len(problems) > 0 {
					t.Errorf("validate(%s changed by %q) = %q, want no problem: upstream accepts it", d, tt.name, problems)
				}
			})
		}
		if n == 0 {
			t.Errorf("%s: no %s manifest to change", tt.name, tt.kind)
		}
	}
}

// deployKustomization reads infra/knative/kustomization.yaml.
func deployKustomization(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployKnativeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := deployDecodeYAML(data)
	if err != nil || len(vals) != 1 {
		t.Fatalf("kustomization.yaml: want one YAML document, got %d (%v)", len(vals), err)
	}
	k, ok := vals[0].(map[string]any)
	if !ok {
		t.Fatal("kustomization.yaml: not a mapping")
	}
	return k
}

// TestDeployKustomization checks that `kubectl apply -k infra/knative` applies every manifest
// of the folder: the listed resources exist and cover every manifest but the *.example.yaml
// templates, and every image the Services name is rewritten by an images: entry.
func TestDeployKustomization(t *testing.T) {
	k := deployKustomization(t)
	var p deployProblems
	if deployStr(k, "apiVersion") != "kustomize.config.k8s.io/v1beta1" || deployStr(k, "kind") != "Kustomization" {
		p.add("", "want apiVersion kustomize.config.k8s.io/v1beta1, kind Kustomization")
	}
	deployAllowKeys(&p, k, "", "apiVersion", "kind", "resources", "namespace", "namePrefix", "nameSuffix",
		"labels", "commonLabels", "commonAnnotations", "images", "patches", "replicas", "replacements",
		"configMapGenerator", "secretGenerator", "generatorOptions", "components", "buildMetadata",
		"openapi", "crds", "configurations", "transformers", "generators", "validators", "sortOptions")
	for _, s := range p {
		t.Error("kustomization.yaml: " + s)
	}
	// Every object lands in a namespace of its own choosing whatever the kubectl context: either
	// each manifest names it, or the kustomization sets one for all, which must then not move the
	// KafkaTopics away from the namespace their Topic Operator watches.
	kns := deployStr(k, "namespace")
	for _, d := range deployLoadDocs(t, deployKnativeDir) {
		ns := deployStr(d.obj, "metadata", "namespace")
		switch {
		case kns == "" && ns == "":
			t.Errorf("%s: no metadata.namespace and kustomization.yaml sets none: it would land in the kubectl context's namespace", d)
		case kns != "" && ns != "" && ns != kns && deployStr(d.obj, "kind") == "KafkaTopic":
			t.Errorf("%s: kustomization.yaml's namespace %q would move it out of %q, where its Topic Operator watches", d, kns, ns)
		}
	}

	listed := map[string]bool{}
	var missing []string
	resources, _ := k["resources"].([]any)
	for _, r := range resources {
		name, _ := r.(string)
		if name == "" || strings.Contains(name, "/") {
			t.Errorf("kustomization.yaml: resource %v: want a file name in infra/knative", r)
			continue
		}
		if listed[name] {
			t.Errorf("kustomization.yaml: %s listed twice", name)
		}
		listed[name] = true
		if _, err := os.Stat(filepath.Join(deployKnativeDir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("kustomization.yaml lists %d file(s) that do not exist: %v; it references %v, so "+
			"`kubectl apply -k infra/knative` fails until they are written (the KafkaSources and the KafkaSink "+
			"come with the delivery work)", len(missing), missing, slices.Sorted(maps.Keys(listed)))
	}
	for _, f := range deployManifestFiles(t, deployKnativeDir) {
		if strings.HasSuffix(f, ".example.yaml") {
			if listed[f] {
				t.Errorf("kustomization.yaml lists %s: a template of placeholders must not be applied (it would overwrite real secrets)", f)
			}
			continue
		}
		if !listed[f] {
			t.Errorf("%s is not in kustomization.yaml's resources: `kubectl apply -k` would skip it", f)
		}
	}

	images := map[string]bool{}
	imgs, _ := k["images"].([]any)
	for _, i := range imgs {
		images[deployStr(i, "name")] = true
	}
	used := map[string]bool{}
	for _, d := range deployLoadDocs(t, deployKnativeDir) {
		if deployStr(d.obj, "kind") != "Service" {
			continue
		}
		cs, _ := deployMap(d.obj, "spec", "template", "spec")["containers"].([]any)
		for _, c := range cs {
			img := deployStr(c, "image")
			used[img] = true
			if !images[img] {
				t.Errorf("%s: image %q has no images: entry in kustomization.yaml, so it deploys the placeholder", d, img)
			}
		}
	}
	for img := range images {
		if !used[img] {
			t.Errorf("kustomization.yaml: images entry %q matches no container", img)
		}
	}
}
