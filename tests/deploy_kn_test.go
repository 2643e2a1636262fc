package tests

// kn tests: the README's `kn service create` and `kn source kafka create` commands, with the
// `kubectl patch` after each, must make the same Services and KafkaSources as infra/knative. The
// commands are read from the README and turned into objects the way kn (knative-v1.23) and the
// kafka source plugin (knative-v1.22) build them; only what the YAML and kn can both express is
// compared (kn adds its own annotations, such as client.knative.dev/user-image).

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const deployReadme = "../README.md"

// deployShellWords splits a command line like a POSIX shell (single and double quotes, no
// expansion).
func deployShellWords(line string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// deployReadmeKnCommands returns the shell commands of the README's "The same with kn" code
// block, continuation lines joined, comments dropped, and `for fn in a b; do … done` loops
// unrolled with $fn substituted.
func deployReadmeKnCommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(deployReadme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, "#### The same with kn")
	if i < 0 {
		t.Fatal(`README.md has no "#### The same with kn" section`)
	}
	s = s[i:]
	a := strings.Index(s, "```sh\n")
	b := strings.Index(s[a+6:], "```")
	if a < 0 || b < 0 {
		t.Fatal("README.md: no sh code block in the kn section")
	}
	var lines []string
	var cur strings.Builder
	open := false // inside a multi-line quoted argument
	for _, l := range strings.Split(s[a+6:a+6+b], "\n") {
		if !open {
			if k := strings.Index(l, " #"); k >= 0 && !strings.Contains(l[:k], "'") {
				l = l[:k]
			}
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
		}
		cur.WriteString(strings.TrimSuffix(l, "\\"))
		cur.WriteByte('\n')
		if strings.Count(cur.String(), "'")%2 == 1 {
			open = true
			continue
		}
		open = false
		if strings.HasSuffix(l, "\\") {
			continue
		}
		if line := strings.TrimSpace(cur.String()); line != "" {
			lines = append(lines, line)
		}
		cur.Reset()
	}
	forRE := regexp.MustCompile(`^for (\w+) in ([\w ]+); do$`)
	var out []string
	for i := 0; i < len(lines); i++ {
		m := forRE.FindStringSubmatch(lines[i])
		if m == nil {
			out = append(out, lines[i])
			continue
		}
		j := i + 1
		for j < len(lines) && lines[j] != "done" {
			j++
		}
		for _, v := range strings.Fields(m[2]) {
			for _, body := range lines[i+1 : j] {
				out = append(out, strings.ReplaceAll(body, "$"+m[1], v))
			}
		}
		i = j
	}
	return out
}

// deployKnFlags parses the flags after the positional arguments of a kn command.
func deployKnFlags(words []string) (args []string, flags map[string][]string) {
	flags = map[string][]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") {
			args = append(args, w)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
		switch name {
		case "cluster-local", "no-lock-to-digest":
			flags[name] = append(flags[name], "true")
			continue
		}
		if !hasVal && i+1 < len(words) {
			i++
			val = words[i]
		}
		flags[name] = append(flags[name], val)
	}
	return args, flags
}

// deployServiceFacts is what a Knative Service says that kn can say too, as comparable strings.
func deployServiceFacts(obj map[string]any) map[string]string {
	f := map[string]string{}
	for k, v := range deployMap(obj, "metadata", "labels") {
		f["label "+k] = deployStr(v)
	}
	for k, v := range deployMap(obj, "spec", "template", "metadata", "labels") {
		f["revision label "+k] = deployStr(v)
	}
	for k, v := range deployMap(obj, "spec", "template", "metadata", "annotations") {
		f["revision annotation "+k] = deployStr(v)
	}
	spec := deployMap(obj, "spec", "template", "spec")
	cc, _ := deployInt(spec["containerConcurrency"])
	ts, _ := deployInt(spec["timeoutSeconds"])
	f["containerConcurrency"], f["timeoutSeconds"] = fmt.Sprint(cc), fmt.Sprint(ts)
	volumes := map[string]string{}
	vols, _ := spec["volumes"].([]any)
	for _, v := range vols {
		if s := deployMap(v, "secret"); s != nil {
			items := ""
			if it, ok := s["items"]; ok {
				items = fmt.Sprintf(" items %v", it)
			}
			volumes[deployStr(v, "name")] = "secret:" + deployStr(s, "secretName") + items
		}
	}
	cs, _ := spec["containers"].([]any)
	c := deployMap(cs[0])
	ports, _ := c["ports"].([]any)
	for _, pt := range ports {
		n, _ := deployInt(deployMap(pt)["containerPort"])
		f["port"] = fmt.Sprintf("%s:%d", deployStr(pt, "name"), n)
	}
	envs, _ := c["env"].([]any)
	for _, e := range envs {
		f["env "+deployStr(e, "name")] = deployStr(e, "value")
	}
	ms, _ := c["volumeMounts"].([]any)
	for _, m := range ms {
		ro, _ := deployMap(m)["readOnly"].(bool)
		f["mount "+deployStr(m, "mountPath")] = fmt.Sprintf("%s readOnly=%v", volumes[deployStr(m, "name")], ro)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		pm := deployMap(c, probe)
		port, _ := deployInt(deployMap(pm, "httpGet")["port"])
		period, _ := deployInt(pm["periodSeconds"])
		failure, _ := deployInt(pm["failureThreshold"])
		f[probe] = fmt.Sprintf("http %d %s period %d failure %d", port, deployStr(pm, "httpGet", "path"), period, failure)
	}
	for _, kind := range []string{"requests", "limits"} {
		r := deployMap(c, "resources", kind)
		f[kind] = fmt.Sprintf("cpu=%s,memory=%s", deployStr(r, "cpu"), deployStr(r, "memory"))
	}
	sc, _ := json.Marshal(c["securityContext"])
	f["securityContext"] = string(sc)
	return f
}

// deployKnServiceFacts builds the facts of the Service `kn service create` makes from flags,
// then applies the README's JSON patch operations (only "add" of a value, which is all it uses).
func deployKnServiceFacts(t *testing.T, name string, flags map[string][]string, patches [][]map[string]any) map[string]string {
	t.Helper()
	one := func(k string) string {
		if v := flags[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	// The object kn builds (knative/client pkg/flags/podspec_helper.go, pkg/commands/service).
	c := map[string]any{"name": "user-container", "image": one("image")}
	labels, tlabels, tann := map[string]any{}, map[string]any{}, map[string]any{}
	for _, l := range flags["label"] {
		k, v, _ := strings.Cut(l, "=")
		labels[k], tlabels[k] = v, v
	}
	if one("cluster-local") == "true" {
		labels["networking.knative.dev/visibility"] = "cluster-local"
	}
	for flag, ann := range map[string]string{"scale-min": "min-scale", "scale-max": "max-scale", "scale-target": "target", "scale-metric": "metric"} {
		if v := one(flag); v != "" {
			tann["autoscaling.knative.dev/"+ann] = v
		}
	}
	for _, a := range flags["annotation-revision"] {
		k, v, _ := strings.Cut(a, "=")
		tann[k] = v
	}
	if pn, pp, ok := strings.Cut(one("port"), ":"); ok {
		c["ports"] = []any{map[string]any{"name": pn, "containerPort": json.Number(pp)}}
	}
	var env []any
	for _, e := range flags["env"] {
		k, v, _ := strings.Cut(e, "=")
		env = append(env, map[string]any{"name": k, "value": v})
	}
	c["env"] = env
	var mounts, vols []any
	for i, m := range flags["mount"] {
		p, src, _ := strings.Cut(m, "=")
		kind, secret, _ := strings.Cut(src, ":")
		if kind != "secret" && kind != "sc" {
			t.Fatalf("kn service create %s: --mount %s: the test models secret mounts only", name, m)
		}
		vn := fmt.Sprintf("kn-volume-%d", i)
		mounts = append(mounts, map[string]any{"name": vn, "mountPath": p, "readOnly": true}) // a secret volume defaults to readOnly
		vols = append(vols, map[string]any{"name": vn, "secret": map[string]any{"secretName": secret}})
	}
	c["volumeMounts"] = mounts
	probe := func(flag, opts string) map[string]any {
		parts := strings.Split(one(flag), ":")
		if len(parts) != 4 || parts[0] != "http" {
			t.Fatalf("kn service create %s: --%s %q: want http::port:path", name, flag, one(flag))
		}
		pm := map[string]any{"httpGet": map[string]any{"port": json.Number(parts[2]), "path": parts[3]}}
		for _, o := range strings.Split(one(opts), ",") {
			k, v, _ := strings.Cut(o, "=")
			switch strings.ToLower(k) {
			case "periodseconds":
				pm["periodSeconds"] = json.Number(v)
			case "failurethreshold":
				pm["failureThreshold"] = json.Number(v)
			}
		}
		return pm
	}
	c["readinessProbe"] = probe("probe-readiness", "probe-readiness-opts")
	c["livenessProbe"] = probe("probe-liveness", "probe-liveness-opts")
	res := map[string]any{}
	for flag, kind := range map[string]string{"request": "requests", "limit": "limits"} {
		r := map[string]any{}
		for _, kv := range strings.Split(one(flag), ",") {
			k, v, _ := strings.Cut(kv, "=")
			r[k] = v
		}
		res[kind] = r
	}
	c["resources"] = res
	if one("security-context") == "strict" { // DefaultStrictSecCon
		c["securityContext"] = map[string]any{"allowPrivilegeEscalation": false, "runAsNonRoot": true,
			"capabilities": map[string]any{"drop": []any{"ALL"}}, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	}
	obj := map[string]any{
		"apiVersion": "serving.knative.dev/v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": one("n"), "labels": labels},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"labels": tlabels, "annotations": tann},
			"spec": map[string]any{"containerConcurrency": json.Number(one("concurrency-limit")),
				"timeoutSeconds": json.Number(one("timeout")), "containers": []any{c}, "volumes": vols},
		}},
	}
	for _, ops := range patches {
		for _, op := range ops {
			if op["op"] != "add" {
				t.Fatalf("kubectl patch ksvc %s: op %v: the test models add only", name, op["op"])
			}
			keys := strings.Split(strings.TrimPrefix(deployStr(op["path"]), "/"), "/")
			var cur any = obj
			for _, k := range keys[:len(keys)-1] {
				switch v := cur.(type) {
				case map[string]any:
					cur = v[k]
				case []any:
					var n int
					fmt.Sscan(k, &n)
					cur = v[n]
				}
			}
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("kubectl patch ksvc %s: path %v does not exist", name, op["path"])
			}
			m[keys[len(keys)-1]] = op["value"]
		}
	}
	return deployServiceFacts(obj)
}

// deployMergePatch applies an RFC 7386 JSON merge patch to target.
func deployMergePatch(target, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			tv, ok := target[k].(map[string]any)
			if !ok {
				tv = map[string]any{}
				target[k] = tv
			}
			deployMergePatch(tv, pv)
		default:
			target[k] = v
		}
	}
}

// TestDeployKnCommands compares what the README's kn commands make with infra/knative.
func TestDeployKnCommands(t *testing.T) {
	docs := deployLoadDocs(t, deployKnativeDir)
	yamlOf := func(kind, name string) map[string]any {
		for _, d := range docs {
			if deployStr(d.obj, "kind") == kind && deployStr(d.obj, "metadata", "name") == name {
				return d.obj
			}
		}
		return nil
	}
	type svc struct {
		flags   map[string][]string
		patches [][]map[string]any
	}
	services := map[string]*svc{}
	sources := map[string]map[string]any{}
	for _, line := range deployReadmeKnCommands(t) {
		w := deployShellWords(line)
		switch {
		case len(w) > 3 && w[0] == "kn" && w[1] == "service" && w[2] == "create":
			args, flags := deployKnFlags(w[3:])
			services[args[0]] = &svc{flags: flags}
		case len(w) > 3 && w[0] == "kubectl" && w[1] == "patch" && w[2] == "ksvc":
			args, flags := deployKnFlags(w[3:])
			s := services[args[0]]
			if s == nil || flags["type"][0] != "json" {
				t.Fatalf("README: %q patches ksvc %s before creating it, or not with --type json", line, args[0])
			}
			var ops []map[string]any
			if err := json.Unmarshal([]byte(flags["p"][0]), &ops); err != nil {
				t.Fatalf("README: %q: %v", line, err)
			}
			s.patches = append(s.patches, ops)
		case len(w) > 4 && w[0] == "kn" && w[1] == "source" && w[2] == "kafka" && w[3] == "create":
			// The object the plugin builds (kn-plugin-source-kafka pkg/factories createKafkaSource):
			// servers, topics, consumer group and sink; no labels or annotations on create.
			args, flags := deployKnFlags(w[4:])
			sink := strings.TrimPrefix(flags["sink"][0], "ksvc:")
			sources[args[0]] = map[string]any{
				"metadata": map[string]any{"name": args[0], "namespace": flags["n"][0]},
				"spec": map[string]any{
					"bootstrapServers": toAny(strings.Split(flags["servers"][0], ",")),
					"topics":           toAny(flags["topics"]),
					"consumerGroup":    flags["consumergroup"][0],
					"sink":             map[string]any{"ref": map[string]any{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": sink}},
				},
			}
		case len(w) > 3 && w[0] == "kubectl" && w[1] == "patch" && w[2] == "kafkasource":
			args, flags := deployKnFlags(w[3:])
			src := sources[args[0]]
			if src == nil || flags["type"][0] != "merge" {
				t.Fatalf("README: %q patches kafkasource %s before creating it, or not with --type merge", line, args[0])
			}
			var patch map[string]any
			if err := json.Unmarshal([]byte(flags["p"][0]), &patch); err != nil {
				t.Fatalf("README: %q: %v", line, err)
			}
			deployMergePatch(src, patch)
		}
	}

	for _, name := range []string{"score", "index", "dashboard"} {
		t.Run("Service "+name, func(t *testing.T) {
			s := services[name]
			y := yamlOf("Service", name)
			if s == nil || y == nil {
				t.Fatalf("README creates Service %s: %v; infra/knative declares it: %v", name, s != nil, y != nil)
			}
			if img := s.flags["image"]; len(img) == 0 || !strings.Contains(img[0], "sentistream-"+name+":") {
				t.Errorf("kn service create %s --image %v: want a sentistream-%s image", name, img, name)
			}
			got := deployKnServiceFacts(t, name, s.flags, s.patches)
			want := deployServiceFacts(y)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the README's kn commands make a Service %s that differs from service-%s.yaml (-yaml +kn):\n%s", name, name, diff)
			}
		})
	}
	for _, name := range []string{"sentistream-score", "sentistream-index"} {
		t.Run("KafkaSource "+name, func(t *testing.T) {
			got := sources[name]
			y := yamlOf("KafkaSource", name)
			if got == nil || y == nil {
				t.Fatalf("README creates KafkaSource %s: %v; infra/knative declares it: %v", name, got != nil, y != nil)
			}
			want := map[string]any{"metadata": deployClone(deployMap(y, "metadata")), "spec": deployClone(deployMap(y, "spec"))}
			// JSON from the README decodes numbers as float64; the YAML's as json.Number.
			norm := func(v map[string]any) map[string]any {
				b, _ := json.Marshal(v)
				var out map[string]any
				_ = json.Unmarshal(b, &out)
				return out
			}
			if diff := cmp.Diff(norm(want), norm(got)); diff != "" {
				t.Errorf("the README's kn source kafka create and patch make a KafkaSource %s that differs from the YAML (-yaml +kn):\n%s", name, diff)
			}
		})
	}
	for name := range services {
		if !slices.Contains([]string{"score", "index", "dashboard"}, name) {
			t.Errorf("README creates a Service %s that infra/knative does not declare", name)
		}
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
