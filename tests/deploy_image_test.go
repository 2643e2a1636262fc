package tests

// Image deploy tests: the Dockerfile, the static binaries it builds and their cold start.

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sentistream/sentistream/internal/testenv"
)

// deployDockerInstr is one Dockerfile instruction, continuation lines joined.
type deployDockerInstr struct {
	line int
	cmd  string // upper case
	args string
}

func deployParseDockerfile(t *testing.T) (instrs []deployDockerInstr, comments []string) {
	t.Helper()
	data, err := os.ReadFile(deployDockerfile)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			comments = append(comments, line)
			continue
		}
		if line == "" && cur.Len() == 0 {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		cont := strings.HasSuffix(line, "\\")
		cur.WriteString(strings.TrimSuffix(line, "\\"))
		cur.WriteByte(' ')
		if cont {
			continue
		}
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		instrs = append(instrs, deployDockerInstr{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	return instrs, comments
}

// deployDockerfileCmds returns the binaries the Dockerfile builds: the CMD values its header
// documents (--build-arg CMD=x) and its ARG CMD default.
func deployDockerfileCmds(t *testing.T) []string {
	t.Helper()
	instrs, comments := deployParseDockerfile(t)
	re := regexp.MustCompile(`--build-arg\s+CMD=([a-z0-9_-]+)`)
	var cmds []string
	for _, c := range comments {
		for _, m := range re.FindAllStringSubmatch(c, -1) {
			if !slices.Contains(cmds, m[1]) {
				cmds = append(cmds, m[1])
			}
		}
	}
	for _, in := range instrs {
		if in.cmd == "ARG" && strings.HasPrefix(in.args, "CMD=") {
			if d := strings.TrimPrefix(in.args, "CMD="); !slices.Contains(cmds, d) {
				cmds = append(cmds, d)
			}
		}
	}
	if len(cmds) == 0 {
		t.Fatal("Dockerfile: documents no CMD choices (# docker build --build-arg CMD=...)")
	}
	return cmds
}

// TestDockerfileLint checks the image rules: multi-stage, a pinned Go builder at least as new as
// go.mod's, a static build, and a final stage on distroless/static nonroot or scratch with a
// non-root user, no RUN (there is no shell), EXPOSE 8080 and an exec-form ENTRYPOINT.
func TestDockerfileLint(t *testing.T) {
	instrs, _ := deployParseDockerfile(t)
	globalArgs := map[string]string{}
	type stage struct {
		from, name string
		instrs     []deployDockerInstr
	}
	var stages []*stage
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			var img, name string
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					name = f[i+1]
					i++
				default:
					img = f[i]
				}
			}
			for k, v := range globalArgs {
				img = strings.ReplaceAll(img, "${"+k+"}", v)
				img = strings.ReplaceAll(img, "$"+k, v)
			}
			stages = append(stages, &stage{from: img, name: name})
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = v
		case len(stages) > 0:
			s := stages[len(stages)-1]
			s.instrs = append(s.instrs, in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stage(s); want a multi-stage build (a Go builder, then the runtime image)", len(stages))
	}

	builder := stages[0]
	repo, tag, _ := strings.Cut(strings.SplitN(builder.from, "@", 2)[0], ":")
	if !strings.HasSuffix(repo, "golang") {
		t.Errorf("Dockerfile: builder FROM %s: want the golang image", builder.from)
	}
	if tag == "" || strings.HasPrefix(tag, "latest") || strings.Contains(tag, "$") {
		t.Errorf("Dockerfile: builder FROM %s: pin a Go version, not latest or an unset ARG", builder.from)
	}
	gomod, err := os.ReadFile(filepath.Join(deployRepoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(gomod); m != nil {
		want := string(m[1]) + "." + string(m[2])
		if tm := regexp.MustCompile(`^(\d+)\.(\d+)`).FindStringSubmatch(tag); tm == nil || deployVersionLess(tm[1]+"."+tm[2], want) {
			t.Errorf("Dockerfile: builder golang:%s is older than go.mod's go %s", tag, want)
		}
	}
	var build string
	for _, in := range builder.instrs {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "./cmd/${CMD}"} {
		if !strings.Contains(build, want) {
			t.Errorf("Dockerfile: the builder's go build lacks %s: %q", want, build)
		}
	}
	if !slices.ContainsFunc(builder.instrs, func(in deployDockerInstr) bool { return in.cmd == "ARG" && strings.HasPrefix(in.args, "CMD") }) {
		t.Error("Dockerfile: the builder stage declares no ARG CMD (which binary to build)")
	}

	final := stages[len(stages)-1]
	switch {
	case final.from == "scratch":
	case strings.Contains(final.from, "distroless/static") && strings.Contains(final.from, "nonroot"):
	default:
		t.Errorf("Dockerfile: final FROM %s: want distroless/static (a nonroot tag) or scratch", final.from)
	}
	var user, entrypoint string
	exposed := false
	for _, in := range final.instrs {
		switch in.cmd {
		case "RUN":
			form := "exec-form"
			if !strings.HasPrefix(in.args, "[") {
				form = "shell-form"
			}
			t.Errorf("Dockerfile:%d: %s RUN in the final stage: it has no shell (and should run nothing)", in.line, form)
		case "USER":
			user = in.args
		case "EXPOSE":
			exposed = exposed || slices.Contains(strings.Fields(in.args), "8080")
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			if from := regexp.MustCompile(`--from=(\S+)`).FindStringSubmatch(in.args); from != nil &&
				from[1] != builder.name && from[1] != "0" {
				t.Errorf("Dockerfile:%d: COPY --from=%s: want the builder stage %q", in.line, from[1], builder.name)
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "root" || uid == "0" {
		t.Errorf("Dockerfile: final stage USER %q: want a non-root user such as 65532 (nonroot)", user)
	}
	if !exposed {
		t.Error("Dockerfile: final stage does not EXPOSE 8080")
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) == 0 {
		t.Errorf("Dockerfile: ENTRYPOINT %q: want exec form [\"/binary\"] (no shell to run a string)", entrypoint)
	}

	ignore, err := os.ReadFile(filepath.Join(deployRepoRoot, ".dockerignore"))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{".git", ".stack"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}

func deployVersionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range 2 {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return false
}

// deployBuildFlags returns the Dockerfile's go build flags for the static build.
func deployBuildFlags(t *testing.T) (ldflags string) {
	t.Helper()
	instrs, _ := deployParseDockerfile(t)
	for _, in := range instrs {
		if m := regexp.MustCompile(`-ldflags\s+"([^"]*)"`).FindStringSubmatch(in.args); m != nil && strings.Contains(in.args, "go build") {
			return m[1]
		}
	}
	t.Fatal(`Dockerfile: no go build -ldflags "..."`)
	return ""
}

// deployBuildStatic builds ./cmd/<name> as the Dockerfile does (CGO_ENABLED=0, -trimpath, its
// -ldflags) for linux into dir. A cmd without Go files yet is skipped outside CI and fails
// under CI.
func deployBuildStatic(t *testing.T, name, dir string) string {
	t.Helper()
	goFiles, _ := filepath.Glob(filepath.Join(deployRepoRoot, "cmd", name, "*.go"))
	if len(goFiles) == 0 {
		msg := fmt.Sprintf("cmd/%s does not exist yet", name)
		if testenv.InCI() {
			t.Fatal("CI is set but " + msg)
		}
		t.Skip(msg)
	}
	out := filepath.Join(dir, name)
	// -buildvcs=false: the image build has no .git (.dockerignore), so it stamps no VCS either.
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", deployBuildFlags(t), "-o", out, "./cmd/"+name)
	cmd.Dir = deployRepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, b)
	}
	return out
}

// TestStaticBinaries proves the Dockerfile's build without Docker: each binary it names builds
// with CGO_ENABLED=0 and is statically linked (no ELF interpreter, no needed shared libraries),
// so it runs on distroless/static or scratch. Binary sizes are logged: the image is the binary
// plus distroless/static's ~2 MiB.
func TestStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries; skipped in -short")
	}
	dir := t.TempDir()
	for _, name := range deployDockerfileCmds(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := deployBuildStatic(t, name, dir)
			f, err := elf.Open(out)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s has an ELF interpreter (PT_INTERP): dynamically linked", name)
				}
			}
			libs, err := f.ImportedLibraries()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(libs) > 0 {
				t.Errorf("%s needs shared libraries %v (DT_NEEDED): not static", name, libs)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: static %s binary, %d bytes (%.1f MiB); image ≈ %.1f MiB with distroless/static",
				name, f.Machine, fi.Size(), float64(fi.Size())/(1<<20), float64(fi.Size())/(1<<20)+2)
		})
	}
}

// deployColdStarts is how many times TestDeployColdStart starts each function.
const deployColdStarts = 20

// TestDeployColdStart measures cold start the way a scale-from-zero sees it: from starting the
// process to the first 200 from /readyz, for each function, deployColdStarts times, against the
// real PostgreSQL, Elasticsearch and Kafka (`make test` provides them). It logs min, p50, p90
// and max and asserts no timing; it asserts that each start becomes ready and that SIGTERM ends
// the process with status 0 within SHUTDOWN_TIMEOUT.
func TestDeployColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts binaries; skipped in -short")
	}
	dbURL := testenv.DatabaseURL(t)
	esURL := testenv.ElasticsearchURL(t)
	brokers := testenv.KafkaBrokers(t)
	dir := t.TempDir()

	// An isolated schema and index, removed afterwards.
	id := strings.ReplaceAll(uniqueName("coldstart"), "-", "_")
	esIndex := strings.ReplaceAll(id, "_", "-")
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+id+" CASCADE")
		_ = conn.Close(ctx)
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimRight(esURL, "/")+"/"+esIndex, nil)
		if err == nil {
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", id)
	u.RawQuery = q.Encode()

	env := map[string][]string{
		"score":     {"DATABASE_URL=" + u.String()},
		"index":     {"ELASTICSEARCH_URL=" + esURL, "ES_INDEX=" + esIndex},
		"dashboard": {"DATABASE_URL=" + u.String(), "ELASTICSEARCH_URL=" + esURL, "ES_INDEX=" + esIndex, "KAFKA_BROKERS=" + brokers},
	}
	var summary []string
	// Sequential on purpose: parallel starts would measure contention, not cold start.
	for _, name := range deployDockerfileCmds(t) {
		t.Run(name, func(t *testing.T) {
			bin := deployBuildStatic(t, name, dir)
			var times []time.Duration
			for i := range deployColdStarts {
				d := deployStartOnce(t, bin, append(slices.Clone(env[name]), "LOG_LEVEL=warn"))
				if i == 0 {
					t.Logf("%s: first start (includes any one-time schema or index setup) %s", name, d)
				}
				times = append(times, d)
			}
			slices.Sort(times)
			pct := func(p float64) time.Duration { return times[int(math.Ceil(p*float64(len(times))))-1] }
			line := fmt.Sprintf("%s: process start to /readyz 200, %d starts: min %s, p50 %s, p90 %s, max %s",
				name, len(times), times[0], pct(0.5), pct(0.9), times[len(times)-1])
			t.Log(line)
			summary = append(summary, line)
		})
	}
	for _, s := range summary {
		t.Log(s)
	}
}

// deployStartOnce starts bin on a free port, returns the time until /readyz answers 200, then
// sends SIGTERM and requires exit status 0 within 15s.
func deployStartOnce(t *testing.T, bin string, env []string) time.Duration {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append(env, "PORT="+strconv.Itoa(port))...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	client := &http.Client{Timeout: time.Second}
	readyURL := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var ready time.Duration
poll:
	for {
		res, err := client.Get(readyURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				ready = time.Since(start)
				break poll
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", filepath.Base(bin), err, logs.String())
		case <-deadline.C:
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("%s: /readyz not 200 within 30s\n%s", filepath.Base(bin), logs.String())
		case <-tick.C:
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("%s: after SIGTERM: %v, want exit status 0\n%s", filepath.Base(bin), err, logs.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("%s did not exit within 15s of SIGTERM\n%s", filepath.Base(bin), logs.String())
	}
	return ready
}
