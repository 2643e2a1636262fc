package tests

import (
	"encoding/base64"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Reference tests of the deploy manifests: what ties them together (Secret keys, topics, sinks,
// Services), least privilege for mounted Secrets, and kustomization.yaml covering the folder.
// See deploy_test.go for the others.

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
