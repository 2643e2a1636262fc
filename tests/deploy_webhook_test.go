package tests

// Webhook tests of the deploy manifests: copies of what the Knative Serving, eventing-kafka-broker
// and Strimzi admission webhooks enforce beyond the schemas, structural checks for kinds without a
// schema (Secret, KafkaSink), and the tests that break each manifest or change it the way upstream
// accepts. See deploy_test.go for the others.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
