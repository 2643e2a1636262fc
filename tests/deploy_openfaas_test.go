package tests

// OpenFaaS deploy tests: stack.yml and the build context faas-cli makes from it.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The function fields faas-cli's stack file knows (stack.Function), and its top-level and
// provider fields.
var (
	deployStackFunctionFields = []string{"name", "lang", "handler", "image", "fprocess", "environment",
		"secrets", "skip_build", "constraints", "environment_file", "labels", "annotations", "limits",
		"requests", "readonly_root_filesystem", "build_args", "build_options", "platforms", "namespace"}
	deployStackTopFields      = []string{"version", "provider", "functions", "configuration"}
	deployStackProviderFields = []string{"name", "gateway", "network"}
)

// TestStackYAML checks stack.yml for the shape faas-cli requires and what the kafka-connector,
// the queue-worker and faas-netes read from it.
func TestStackYAML(t *testing.T) {
	data, err := os.ReadFile(deployStackFile)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := deployDecodeYAML(data)
	if err != nil || len(vals) != 1 {
		t.Fatalf("stack.yml: want one YAML document, got %d (%v)", len(vals), err)
	}
	stack, _ := vals[0].(map[string]any)
	var p deployProblems
	deployAllowKeys(&p, stack, "", deployStackTopFields...)
	switch v := stack["version"].(type) {
	case string:
		if v != "1.0" {
			p.add("version", fmt.Sprintf("%q: want 1.0", v))
		}
	case json.Number:
		if v.String() != "1" && v.String() != "1.0" {
			p.add("version", fmt.Sprintf("%s: want 1.0", v))
		}
	default:
		p.add("version", "required: 1.0")
	}
	provider := deployMap(stack, "provider")
	deployAllowKeys(&p, provider, "provider", deployStackProviderFields...)
	if deployStr(provider, "name") != "openfaas" {
		p.add("provider.name", fmt.Sprintf("%q: want openfaas", deployStr(provider, "name")))
	}
	if u, err := url.Parse(deployStr(provider, "gateway")); err != nil || u.Scheme == "" || u.Host == "" {
		p.add("provider.gateway", "want the gateway's URL")
	}
	functions := deployMap(stack, "functions")
	if len(functions) == 0 {
		p.add("functions", "required")
	}
	cmds := deployDockerfileCmds(t)
	for _, name := range deploySortedKeys(functions) {
		fp := "functions." + name
		fn := deployMap(functions, name)
		if fn == nil {
			p.add(fp, "must be a mapping")
			continue
		}
		deployAllowKeys(&p, fn, fp, deployStackFunctionFields...)
		lang, handler, image := deployStr(fn, "lang"), deployStr(fn, "handler"), deployStr(fn, "image")
		if image == "" && (lang == "" || handler == "") {
			p.add(fp, "needs image, or lang and handler")
		}
		if strings.HasSuffix(image, ":latest") {
			p.add(fp+".image", "pin a tag, not latest")
		}
		if lang == "dockerfile" {
			if _, err := os.Stat(filepath.Join(deployRepoRoot, handler, "Dockerfile")); err != nil {
				p.add(fp+".handler", fmt.Sprintf("lang dockerfile needs a Dockerfile in the handler folder: %v", err))
			}
			if c := deployStr(fn, "build_args", "CMD"); !slices.Contains(cmds, c) {
				p.add(fp+".build_args.CMD", fmt.Sprintf("%q: want one of the Dockerfile's %v", c, cmds))
			}
		}
		for _, field := range []string{"environment", "labels", "annotations", "build_args"} {
			for _, k := range deploySortedKeys(deployMap(fn, field)) {
				if _, ok := deployMap(fn, field)[k].(string); !ok {
					p.add(fp+"."+field+"."+k, "want a string (quote it)")
				}
			}
		}
		if deployStr(fn, "labels", "com.openfaas.scale.zero") != "true" {
			p.add(fp+".labels[com.openfaas.scale.zero]", `want "true": functions scale to zero`)
		}
		// Every secret file the environment points at is a secret the function mounts.
		secrets := map[string]bool{}
		sl, _ := fn["secrets"].([]any)
		for _, s := range sl {
			secrets[deployStr(s)] = true
		}
		for _, k := range deploySortedKeys(deployMap(fn, "environment")) {
			val := deployStr(fn, "environment", k)
			if sec, ok := strings.CutPrefix(val, "/var/openfaas/secrets/"); ok && !secrets[sec] {
				p.add(fp+".environment."+k, fmt.Sprintf("reads secret %q, which is not in the function's secrets", sec))
			}
		}
		if _, ok := deployMap(fn, "environment")["PORT"]; ok {
			p.add(fp+".environment.PORT", "faas-netes routes to 8080, the default; do not move it")
		}
	}
	for _, name := range []string{"score", "index"} {
		fp := "functions." + name
		if deployMap(functions, name) == nil {
			p.add(fp, "required")
			continue
		}
		ann := deployMap(functions, name, "annotations")
		if deployStr(ann, "topic") != "sentence" {
			p.add(fp+".annotations.topic", "want sentence: the kafka-connector invokes functions by this annotation")
		}
		codes := strings.Split(deployStr(ann, "com.openfaas.retry.codes"), ",")
		for _, want := range []string{"429", "503"} {
			if !slices.Contains(codes, want) {
				p.add(fp+".annotations[com.openfaas.retry.codes]", fmt.Sprintf("%v lacks %s", codes, want))
			}
		}
		for _, c := range codes {
			if n, err := strconv.Atoi(strings.TrimSpace(c)); err != nil || n < 400 || n > 599 || (n < 500 && n != 429 && n != 408) {
				p.add(fp+".annotations[com.openfaas.retry.codes]", fmt.Sprintf("%q: retry only 408, 429 and 5xx; other 4xx are final", c))
			}
		}
		if n, err := strconv.Atoi(deployStr(ann, "com.openfaas.retry.attempts")); err != nil || n < 1 {
			p.add(fp+".annotations[com.openfaas.retry.attempts]", "want an integer >= 1")
		}
		minW, err1 := time.ParseDuration(deployStr(ann, "com.openfaas.retry.min_wait"))
		maxW, err2 := time.ParseDuration(deployStr(ann, "com.openfaas.retry.max_wait"))
		if err1 != nil || err2 != nil || minW <= 0 || maxW < minW {
			p.add(fp+".annotations[com.openfaas.retry.min_wait/max_wait]", "want durations with 0 < min_wait <= max_wait")
		}
	}
	for _, s := range p {
		t.Error("stack.yml: " + s)
	}
}
