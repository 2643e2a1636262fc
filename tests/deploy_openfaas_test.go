package tests

// OpenFaaS deploy tests: stack.yml and the build context faas-cli makes from it.

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
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
	raw, err := os.ReadFile(deployStackFile)
	if err != nil {
		t.Fatal(err)
	}
	// faas-cli substitutes ${VAR} and ${VAR:-default} from the environment before parsing; with
	// none set, the defaults must give a complete file.
	data, err := deployEnvsubst(string(raw), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("stack.yml: %v", err)
	}
	vals, err := deployDecodeYAML([]byte(data))
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
		if strings.HasSuffix(image, ":latest") || !strings.Contains(path.Base(image), ":") {
			p.add(fp+".image", "pin a tag, not latest")
		}
		if lang != "" {
			// faas-cli reads ./template/<lang>/template.yml before it builds and pulls a
			// missing template from the store: keep it in the repository.
			tpl, err := os.ReadFile(filepath.Join(deployRepoRoot, "template", lang, "template.yml"))
			if err != nil {
				p.add(fp+".lang", fmt.Sprintf("template/%s/template.yml is missing: faas-cli would fetch it from the template store (%v)", lang, err))
			} else if v, err := deployDecodeYAML(tpl); err != nil || len(v) != 1 || deployStr(v[0], "language") != lang {
				p.add(fp+".lang", fmt.Sprintf("template/%s/template.yml: want language: %s", lang, lang))
			}
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
		read := map[string]bool{}
		for _, k := range deploySortedKeys(deployMap(fn, "environment")) {
			val := deployStr(fn, "environment", k)
			sec, ok := strings.CutPrefix(val, "/var/openfaas/secrets/")
			if ok && !secrets[sec] {
				p.add(fp+".environment."+k, fmt.Sprintf("reads secret %q, which is not in the function's secrets", sec))
			}
			read[sec] = ok
		}
		// And every secret it mounts is read: by a *_FILE variable, or the CA by the sslrootcert
		// of the URL in DATABASE_URL_FILE.
		for _, sec := range slices.Sorted(maps.Keys(secrets)) {
			if !read[sec] && !(sec == "sentistream-ca" && deployStr(fn, "environment", "DATABASE_URL_FILE") != "") {
				p.add(fp+".secrets", fmt.Sprintf("mounts %q, which no environment variable reads", sec))
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

	// The images come from REGISTRY and TAG.
	set := map[string]string{"REGISTRY": "registry.example:5000/team", "TAG": "v9.9.9"}
	sub, err := deployEnvsubst(string(raw), func(k string) (string, bool) { v, ok := set[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	vals, err = deployDecodeYAML([]byte(sub))
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range deployMap(vals[0], "functions") {
		if want := "registry.example:5000/team/sentistream-" + name + ":v9.9.9"; deployStr(fn, "image") != want {
			t.Errorf("stack.yml: with REGISTRY and TAG set, functions.%s.image = %q, want %q", name, deployStr(fn, "image"), want)
		}
	}
}

// deployEnvVar matches what faas-cli's envsubst (github.com/drone/envsubst) substitutes and this
// stack file may use: ${NAME} and ${NAME:-default}.
var deployEnvVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// deployEnvsubst substitutes s like faas-cli does before parsing a stack file. Any other use of $
// is an error: envsubst would read it as a variable too.
func deployEnvsubst(s string, lookup func(string) (string, bool)) (string, error) {
	out := deployEnvVar.ReplaceAllStringFunc(s, func(m string) string {
		sm := deployEnvVar.FindStringSubmatch(m)
		if v, ok := lookup(sm[1]); ok && v != "" {
			return v
		}
		return sm[2]
	})
	if i := strings.IndexByte(out, '$'); i >= 0 {
		return "", fmt.Errorf("a $ that is not ${NAME} or ${NAME:-default} at %q: envsubst would substitute it", out[max(0, i-20):min(len(out), i+20)])
	}
	return out, nil
}

// deployFaasCopy copies src to dest the way faas-cli's build does (go-sdk builder.copyFiles, as
// vendored by faas-cli 0.18): os.Stat, so a symbolic link is followed and its target copied; a
// folder recursively; anything else is opened and read as a file, so a socket or a device in
// the tree fails the copy, as it fails faas-cli.
func deployFaasCopy(src, dest string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if info.IsDir() {
		if err := os.MkdirAll(dest, info.Mode().Perm()|0o700); err != nil {
			return err
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := deployFaasCopy(filepath.Join(src, e.Name()), filepath.Join(dest, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	if !info.Mode().IsRegular() {
		// faas-cli's os.Open of a socket fails (ENXIO); of a FIFO it blocks. Either way no build.
		return fmt.Errorf("%s: %v is not a regular file: faas-cli cannot copy it", src, info.Mode().Type())
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dest, data, info.Mode().Perm())
}

// deployFaasBuildContext builds function fn's docker build context the way faas-cli's
// builder.CreateBuildContext does for lang dockerfile, with root as the directory faas-cli runs
// in: build/<fn>/ gets every entry of the handler folder but "build" and "template", then each
// configuration.copy path (which must lie inside root and not be root itself) at the same
// relative path. It returns the context folder.
func deployFaasBuildContext(root, out, fn, handler string, extra []string) (string, error) {
	ctx := filepath.Join(out, "build", fn)
	if err := os.RemoveAll(ctx); err != nil {
		return "", err
	}
	if err := os.MkdirAll(ctx, 0o700); err != nil {
		return "", err
	}
	hdir := filepath.Join(root, handler)
	entries, err := os.ReadDir(hdir)
	if err != nil {
		return "", fmt.Errorf("handler %s: %w", handler, err)
	}
	for _, e := range entries {
		if e.Name() == "build" || e.Name() == "template" {
			continue
		}
		if err := deployFaasCopy(filepath.Join(hdir, e.Name()), filepath.Join(ctx, e.Name())); err != nil {
			return "", err
		}
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	for _, p := range extra {
		abs, err := filepath.Abs(filepath.Join(root, p))
		if err != nil {
			return "", err
		}
		if abs == absRoot || !strings.HasPrefix(abs, absRoot+string(filepath.Separator)) {
			return "", fmt.Errorf("copy %s: faas-cli refuses a path outside the project or the whole project", p)
		}
		if err := deployFaasCopy(abs, filepath.Join(ctx, filepath.Clean(p))); err != nil {
			return "", err
		}
	}
	return ctx, nil
}

// deployContextForbidden are names that must never be in a build context: the repository, the
// local stack's data and sockets, build output, and what the image does not need.
var deployContextForbidden = []string{".git", ".stack", ".build", "build", "template", "bin", "reports", "tests", ".venv", "data"}

// deployCheckContext walks a build context and returns what must not be in it.
func deployCheckContext(ctx string) (problems []string, files int, size int64, err error) {
	err = filepath.WalkDir(ctx, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(ctx, p)
		if slices.Contains(deployContextForbidden, d.Name()) {
			problems = append(problems, rel+": must not be in the build context")
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&os.ModeSocket != 0:
			problems = append(problems, rel+": a socket")
		case info.Mode()&os.ModeSymlink != 0:
			problems = append(problems, rel+": a symbolic link (faas-cli copies its target; this copy did not)")
		case info.Mode().IsRegular():
			files++
			size += info.Size()
		}
		return nil
	})
	return problems, files, size, err
}

// TestOpenFaaSBuildContext builds each function's context as `faas-cli build` would from the
// repository root, checks it holds the Go module and nothing else (no .git, .stack, sockets, data
// folders), and builds the function's static binary from that context alone with the go build
// of the Dockerfile in it. A context copied from a tree with a socket must fail, as in faas-cli.
func TestOpenFaaSBuildContext(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries; skipped in -short")
	}
	raw, err := os.ReadFile(deployStackFile)
	if err != nil {
		t.Fatal(err)
	}
	data, err := deployEnvsubst(string(raw), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	vals, err := deployDecodeYAML([]byte(data))
	if err != nil || len(vals) != 1 {
		t.Fatalf("stack.yml: %v", err)
	}
	var extra []string
	cl, _ := deployMap(vals[0], "configuration")["copy"].([]any)
	for _, c := range cl {
		extra = append(extra, deployStr(c))
	}
	rootDockerfile, err := os.ReadFile(deployDockerfile)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	functions := deployMap(vals[0], "functions")
	for _, name := range deploySortedKeys(functions) {
		fn := deployMap(functions, name)
		t.Run(name, func(t *testing.T) {
			ctx, err := deployFaasBuildContext(deployRepoRoot, out, name, deployStr(fn, "handler"), extra)
			if err != nil {
				t.Fatalf("faas-cli's copy would fail: %v", err)
			}
			problems, files, size, err := deployCheckContext(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("build/%s/%s", name, p)
			}
			t.Logf("build/%s: %d files, %.1f MiB", name, files, float64(size)/(1<<20))
			df, err := os.ReadFile(filepath.Join(ctx, "Dockerfile"))
			if err != nil {
				t.Fatalf("no Dockerfile at the context's root: %v", err)
			}
			if string(df) != string(rootDockerfile) {
				t.Error("the context's Dockerfile differs from the top-level Dockerfile")
			}
			cmd := deployStr(fn, "build_args", "CMD")
			ldflags := regexp.MustCompile(`-ldflags\s+"([^"]*)"`).FindStringSubmatch(string(df))
			if cmd == "" || ldflags == nil || !strings.Contains(string(df), "CGO_ENABLED=0") || !strings.Contains(string(df), "./cmd/${CMD}") {
				t.Fatalf("the context's Dockerfile has no CGO_ENABLED=0 go build -ldflags of ./cmd/${CMD} (CMD %q)", cmd)
			}
			bin := filepath.Join(out, "bin", name)
			// As the Dockerfile does, from the context alone: its go.mod is the module, there is no
			// .git (-buildvcs=false), and nothing outside it is on any path.
			build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags[1], "-o", bin, "./cmd/"+cmd)
			build.Dir = ctx
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=-mod=readonly")
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./cmd/%s in build/%s: %v\n%s", cmd, name, err, b)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
				t.Errorf("%s built from build/%s is dynamically linked", cmd, name)
			}
		})
	}

	// The copy fails on a socket, as faas-cli's does on the PostgreSQL socket in .stack when the
	// handler is the whole checkout; and the check finds a .git or .stack that got in.
	t.Run("a socket in the handler fails the copy", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "r") // short: a unix socket path is at most 108 bytes
		if err := os.MkdirAll(filepath.Join(root, ".stack", "pg"), 0o755); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("unix", filepath.Join(root, ".stack", "pg", ".s.PGSQL.5432"))
		if err != nil {
			t.Skipf("cannot create a unix socket here: %v", err)
		}
		defer ln.Close()
		if _, err := deployFaasBuildContext(root, t.TempDir(), "fn", ".", nil); err == nil {
			t.Error("copying a handler folder that holds a socket succeeded; faas-cli's copy fails")
		}
		if err := os.MkdirAll(filepath.Join(root, "ok", ".git"), 0o755); err != nil {
			t.Fatal(err)
		}
		problems, _, _, err := deployCheckContext(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{".stack", ".git", "a socket"} {
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
				t.Errorf("deployCheckContext = %q, want a problem about %s", problems, want)
			}
		}
	})
}
