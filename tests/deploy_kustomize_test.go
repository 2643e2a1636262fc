package tests

// Kustomize tests: `kubectl apply -k` applies what kustomize renders, not the files one by one,
// so the base (infra/knative, three brokers) and the single-broker overlay
// (infra/knative-single-broker) are rendered with kustomize itself and the result is validated
// like the files: CRD schemas and webhook rules, references, the topics' replication, and that
// the overlay changes nothing but the topics' replicas and min.insync.replicas.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/testenv"
)

const (
	// deployKustomizeModule is the kustomize CLI the tests render with. v5.8.0 is the newest
	// that builds with this module's Go (v5.8.3 wants a newer one).
	deployKustomizeModule  = "sigs.k8s.io/kustomize/kustomize/v5"
	deployKustomizeVersion = "v5.8.0"
	// deploySingleBrokerDir is the single-broker overlay. It sits beside infra/knative: kustomize
	// refuses a base that contains its overlay ("cycle detected").
	deploySingleBrokerDir = "../infra/knative-single-broker"
)

// deployKustomize returns the kustomize binary, building it once into .build/ (git-ignored) with
// `go install`, which needs the Go module proxy the first time (about a minute on two cores).
// Without it the test skips, or fails under CI.
func deployKustomize(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(deployRepoRoot, ".build", "kustomize-"+deployKustomizeVersion))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kustomize")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	// Build into a fresh folder and rename it into place, so a concurrent or interrupted run
	// never sees half a binary.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "kustomize-build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Logf("building kustomize %s into %s (once; go install from the module proxy, about a minute)", deployKustomizeVersion, dir)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", deployKustomizeModule+"@"+deployKustomizeVersion)
	// GOFLAGS and GOWORK off: the install must not touch or read this module's go.mod.
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("go install %s@%s: %v\n%s", deployKustomizeModule, deployKustomizeVersion, err, out)
		if testenv.InCI() {
			t.Fatal("CI is set but " + msg)
		}
		t.Skip(msg)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(bin); statErr != nil { // someone else's rename did not win either
			t.Fatal(err)
		}
	}
	t.Logf("built kustomize %s in %s", deployKustomizeVersion, time.Since(start).Round(time.Second))
	return bin
}

// deployKustomizeBuild renders a kustomization directory and decodes its documents.
func deployKustomizeBuild(t *testing.T, bin, dir string) []deployDoc {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	vals, err := deployDecodeYAML(stdout.Bytes())
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var docs []deployDoc
	for i, v := range vals {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("kustomize build %s: document %d is %T", dir, i, v)
		}
		docs = append(docs, deployDoc{file: "kustomize build " + filepath.Base(dir), idx: i, obj: obj})
	}
	return docs
}

// deployObjectID names an object the way the API server does.
func deployObjectID(obj map[string]any) string {
	return deployStr(obj, "apiVersion") + " " + deployStr(obj, "kind") + " " +
		deployStr(obj, "metadata", "namespace") + "/" + deployStr(obj, "metadata", "name")
}

// TestDeployKustomizeBuild renders the base and the single-broker overlay and validates both.
func TestDeployKustomizeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kustomize; skipped in -short")
	}
	v := deployNewValidator(t)
	bin := deployKustomize(t)
	// The Secrets are templates outside the kustomization; the reference checks need them.
	var templates []deployDoc
	for _, d := range deployLoadDocs(t, deployKnativeDir) {
		if strings.HasSuffix(d.file, ".example.yaml") {
			templates = append(templates, d)
		}
	}

	shapes := []struct {
		name             string
		dir              string
		replicas, minISR int64
	}{
		{"three brokers (base)", deployKnativeDir, 3, 2},
		{"one broker (overlay)", deploySingleBrokerDir, 1, 1},
	}
	rendered := map[string][]deployDoc{}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			docs := deployKustomizeBuild(t, bin, sh.dir)
			rendered[sh.name] = docs
			kinds := map[string]int{}
			for _, d := range docs {
				kinds[deployStr(d.obj, "kind")]++
				for _, problem := range v.validate(d.obj) {
					t.Errorf("%s: %s", d, problem)
				}
				if deployStr(d.obj, "metadata", "labels", "app.kubernetes.io/part-of") != "sentistream" {
					t.Errorf("%s: no label app.kubernetes.io/part-of=sentistream", d)
				}
			}
			want := map[string]int{"Service": 4, "KafkaSource": 2, "KafkaSink": 1, "KafkaTopic": 2, "PingSource": 1, "SinkBinding": 1}
			if diff := cmp.Diff(want, kinds); diff != "" {
				t.Errorf("kinds rendered (-want +got):\n%s", diff)
			}
			all := append(slices.Clone(docs), templates...)
			deployCheckReferences(t, all)
			deployCheckSecretsMountedAreRead(t, all)

			partitions := map[string]int64{}
			for _, d := range docs {
				switch deployStr(d.obj, "kind") {
				case "KafkaTopic":
					spec := deployMap(d.obj, "spec")
					r, _ := deployInt(spec["replicas"])
					m, _ := deployIntOrString(deployMap(spec, "config")["min.insync.replicas"])
					if r != sh.replicas || m != sh.minISR {
						t.Errorf("%s: replicas %d, min.insync.replicas %d; want %d and %d for %s", d, r, m, sh.replicas, sh.minISR, sh.name)
					}
					partitions[deployStr(d.obj, "metadata", "name")], _ = deployInt(spec["partitions"])
				case "Service":
					cs, _ := deployMap(d.obj, "spec", "template", "spec")["containers"].([]any)
					for _, c := range cs {
						if img := deployStr(c, "image"); strings.HasPrefix(img, "sentistream/") || !strings.Contains(img, ":") {
							t.Errorf("%s: image %q is the placeholder, not rewritten by images:", d, img)
						}
					}
				}
			}
			// Consumers beyond the partitions sit idle: neither spec.consumers nor KEDA's
			// max-scale may exceed the partitions of the topics a source reads.
			for _, d := range docs {
				if deployStr(d.obj, "kind") != "KafkaSource" {
					continue
				}
				topics, _ := deployMap(d.obj, "spec")["topics"].([]any)
				for _, tp := range topics {
					n := partitions[deployStr(tp)]
					if c, ok := deployInt(deployMap(d.obj, "spec")["consumers"]); ok && c > n {
						t.Errorf("%s: consumers %d is above the %d partitions of %v", d, c, n, tp)
					}
					if s := deployStr(d.obj, "metadata", "annotations", "autoscaling.eventing.knative.dev/max-scale"); s != "" {
						if m, _ := strconv.ParseInt(s, 10, 64); m > n {
							t.Errorf("%s: KEDA max-scale %d is above the %d partitions of %v", d, m, n, tp)
						}
					}
				}
			}
		})
	}

	// The overlay is the base with the topics' replication changed, and nothing else.
	base, overlay := rendered[shapes[0].name], rendered[shapes[1].name]
	if base == nil || overlay == nil {
		return
	}
	norm := func(docs []deployDoc) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, d := range docs {
			obj := deployClone(d.obj)
			if deployStr(obj, "kind") == "KafkaTopic" {
				delete(deployMap(obj, "spec"), "replicas")
				delete(deployMap(obj, "spec", "config"), "min.insync.replicas")
			}
			out[deployObjectID(obj)] = obj
		}
		return out
	}
	if diff := cmp.Diff(norm(base), norm(overlay)); diff != "" {
		t.Errorf("the single-broker overlay changes more than the topics' replicas and min.insync.replicas (-base +overlay):\n%s", diff)
	}
}
