package tests

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds what TestBenchEndToEnd needs besides the system: per-process CPU and memory
// from /proc, percentiles, and the markdown and PNG report.

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100 on every Linux
// architecture Go supports without cgo.
const clockTicks = 100

// procStat is what one /proc/<pid>/stat says about CPU and memory.
type procStat struct {
	ppid       int
	ticks      int64 // utime + stime
	childTicks int64 // cutime + cstime: reaped children
	rssBytes   int64
	startTicks int64 // starttime, to tell a reused pid apart
}

func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procStat{}, false
	}
	n := func(field int) int64 {
		v, _ := strconv.ParseInt(f[field-3], 10, 64)
		return v
	}
	return procStat{
		ppid:       int(n(4)),
		ticks:      n(14) + n(15),
		childTicks: n(16) + n(17),
		startTicks: n(22),
		rssBytes:   n(24) * int64(os.Getpagesize()),
	}, true
}

// vmHWM returns the process's lifetime peak resident set (VmHWM), in bytes.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procTree returns root and all its descendants.
func procTree(root int) []int {
	if root <= 0 {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readProcStat(pid); ok {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// watched is one row of the process table: a single process, or a service's process tree.
type watched struct {
	name string
	root int
	tree bool
}

// cpuSnapshot holds the CPU ticks of every process of a watched row at one moment.
type cpuSnapshot struct {
	at    time.Time
	ticks map[string]map[string]int64 // row -> pid/starttime -> ticks; "reaped" holds the root's childTicks
}

func (w watched) pids() []int {
	if w.tree {
		return procTree(w.root)
	}
	return []int{w.root}
}

func takeCPU(rows []watched) cpuSnapshot {
	snap := cpuSnapshot{at: time.Now(), ticks: map[string]map[string]int64{}}
	for _, w := range rows {
		m := map[string]int64{}
		for _, pid := range w.pids() {
			st, ok := readProcStat(pid)
			if !ok {
				continue
			}
			m[fmt.Sprintf("%d/%d", pid, st.startTicks)] = st.ticks
			if pid == w.root && w.tree {
				m["reaped"] = st.childTicks
			}
		}
		snap.ticks[w.name] = m
	}
	snap.ticks[machineRow] = map[string]int64{"busy": machineBusyTicks()}
	return snap
}

// machineRow is the cpuSnapshot row of every process on the machine, ours and anyone else's.
const machineRow = "whole machine"

// machineBusyTicks returns the CPU time of all CPUs not idle or waiting (/proc/stat).
func machineBusyTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i > 7 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return busy
}

// cpuPercent returns each row's CPU use between two snapshots, in percent of one core. A process
// that started in between counts from zero; one that ended and was reaped by the root of a tree
// counts through the root's cutime+cstime.
func cpuPercent(from, to cpuSnapshot) map[string]float64 {
	wall := to.at.Sub(from.at).Seconds()
	out := map[string]float64{}
	for name, m := range to.ticks {
		var d int64
		for k, v := range m {
			d += v - from.ticks[name][k]
		}
		out[name] = float64(d) / clockTicks / wall * 100
	}
	return out
}

// memPeaks samples the resident set of each row (summed over a tree) and keeps the peak.
type memPeaks struct {
	peak map[string]int64
}

func (p *memPeaks) sample(rows []watched) {
	if p.peak == nil {
		p.peak = map[string]int64{}
	}
	for _, w := range rows {
		var sum int64
		for _, pid := range w.pids() {
			if st, ok := readProcStat(pid); ok {
				sum += st.rssBytes
			}
		}
		p.peak[w.name] = max(p.peak[w.name], sum)
	}
}

// lifetimeHWM returns each row's VmHWM, summed over a tree.
func lifetimeHWM(rows []watched) map[string]int64 {
	out := map[string]int64{}
	for _, w := range rows {
		for _, pid := range w.pids() {
			out[w.name] += vmHWM(pid)
		}
	}
	return out
}

// stackPID reads a pid file of the local stack (infra/local), e.g. kafka/kafka.pid.
func stackPID(root, rel string) int {
	dir := os.Getenv("STACK_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".stack")
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

// dist summarises latencies in milliseconds.
type dist struct {
	n             int
	p50, p99, max float64
}

func summarise(ms []float64) dist {
	if len(ms) == 0 {
		return dist{}
	}
	v := slices.Clone(ms)
	slices.Sort(v)
	q := func(p float64) float64 { return v[max(0, int(math.Ceil(p*float64(len(v))))-1)] }
	return dist{n: len(v), p50: q(0.50), p99: q(0.99), max: v[len(v)-1]}
}

func (d dist) String() string {
	if d.n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s", fmtMS(d.p50), fmtMS(d.p99), fmtMS(d.max))
}

func fmtMS(ms float64) string {
	if ms >= 100 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// point is one latency observation: seconds into the run, latency in ms.
type point struct{ x, y float64 }

// series is one line of a chart panel.
type series struct {
	name  string
	c     color.RGBA
	pts   []point
	dots  bool // draw points only, no line
	faint bool
}

func (s series) color() color.RGBA {
	c := s.c
	if s.faint {
		c = color.RGBA{uint8(255 - (255-int(c.R))/3), uint8(255 - (255-int(c.G))/3), uint8(255 - (255-int(c.B))/3), 255}
	}
	return c
}

// panel is one chart: a title and its series, sharing the x range 0..xMax seconds.
type panel struct {
	title  string
	xMax   float64
	series []series
}

// writeChart draws the panels one above the other as a PNG: x = seconds into the run,
// y = latency in ms, with tick labels in a tiny built-in bitmap font.
func writeChart(path string, panels []panel) error {
	const (
		w, ph        = 1200, 380
		left, right  = 80, 30
		top, bottom  = 40, 40
		legendHeight = 0
	)
	img := image.NewRGBA(image.Rect(0, 0, w, ph*len(panels)))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	for i, p := range panels {
		oy := i * ph
		plot := image.Rect(left, oy+top, w-right, oy+ph-bottom-legendHeight)
		yMax := 0.0
		for _, s := range p.series {
			for _, pt := range s.pts {
				yMax = max(yMax, pt.y)
			}
		}
		yMax = niceCeil(max(yMax, 1))
		grey := color.RGBA{220, 220, 220, 255}
		black := color.RGBA{0, 0, 0, 255}
		toX := func(x float64) int { return plot.Min.X + int(x/p.xMax*float64(plot.Dx())) }
		toY := func(y float64) int { return plot.Max.Y - int(y/yMax*float64(plot.Dy())) }
		// Grid and ticks.
		for k := 0; k <= 5; k++ {
			y := yMax * float64(k) / 5
			py := toY(y)
			hline(img, plot.Min.X, plot.Max.X, py, grey)
			label := strconv.FormatFloat(y, 'f', -1, 64)
			drawText(img, plot.Min.X-8-textWidth(label), py-5, label, black)
		}
		xStep := niceCeil(p.xMax / 6)
		for x := 0.0; x <= p.xMax+1e-9; x += xStep {
			px := toX(x)
			vline(img, px, plot.Min.Y, plot.Max.Y, grey)
			label := strconv.FormatFloat(x, 'f', -1, 64)
			drawText(img, px-textWidth(label)/2, plot.Max.Y+8, label, black)
		}
		hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, black)
		vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, black)
		drawText(img, plot.Min.X, oy+12, strings.ToUpper(p.title), black)
		drawText(img, 8, plot.Min.Y-20, "MS", black)
		drawText(img, plot.Max.X-textWidth("S INTO RUN"), plot.Max.Y+24, "S INTO RUN", black)
		// Legend, top right.
		lx := plot.Max.X
		for j := len(p.series) - 1; j >= 0; j-- {
			s := p.series[j]
			name := strings.ToUpper(s.name)
			lx -= textWidth(name) + 30
			fill(img, image.Rect(lx, oy+14, lx+14, oy+22), s.color())
			drawText(img, lx+18, oy+12, name, black)
		}
		clampX := func(x int) int { return min(max(x, plot.Min.X), plot.Max.X) }
		clampY := func(y int) int { return min(max(y, plot.Min.Y), plot.Max.Y) }
		for _, s := range p.series {
			c := s.color()
			for k, pt := range s.pts {
				if math.IsNaN(pt.x) || math.IsNaN(pt.y) || math.IsInf(pt.y, 0) || math.IsInf(pt.x, 0) {
					continue
				}
				x, y := clampX(toX(pt.x)), clampY(toY(pt.y))
				if s.dots {
					img.Set(x, y, c)
					continue
				}
				fill(img, image.Rect(x-1, y-1, x+2, y+2), c)
				if k > 0 {
					line(img, clampX(toX(s.pts[k-1].x)), clampY(toY(s.pts[k-1].y)), x, y, c)
				}
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fill(img, image.Rect(x0, y, x1+1, y+1), c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fill(img, image.Rect(x, y0, x+1, y1+1), c) }

// line draws a straight line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// glyphs is a 3×5 bitmap font: digits, upper-case letters and a few signs.
var glyphs = map[rune][5]string{
	'0': {"111", "101", "101", "101", "111"}, '1': {"010", "110", "010", "010", "111"},
	'2': {"111", "001", "111", "100", "111"}, '3': {"111", "001", "111", "001", "111"},
	'4': {"101", "101", "111", "001", "001"}, '5': {"111", "100", "111", "001", "111"},
	'6': {"111", "100", "111", "101", "111"}, '7': {"111", "001", "001", "001", "001"},
	'8': {"111", "101", "111", "101", "111"}, '9': {"111", "101", "111", "001", "111"},
	'A': {"010", "101", "111", "101", "101"}, 'B': {"110", "101", "110", "101", "110"},
	'C': {"011", "100", "100", "100", "011"}, 'D': {"110", "101", "101", "101", "110"},
	'E': {"111", "100", "110", "100", "111"}, 'F': {"111", "100", "110", "100", "100"},
	'G': {"011", "100", "101", "101", "011"}, 'H': {"101", "101", "111", "101", "101"},
	'I': {"111", "010", "010", "010", "111"}, 'J': {"001", "001", "001", "101", "010"},
	'K': {"101", "101", "110", "101", "101"}, 'L': {"100", "100", "100", "100", "111"},
	'M': {"101", "111", "111", "101", "101"}, 'N': {"110", "101", "101", "101", "101"},
	'O': {"010", "101", "101", "101", "010"}, 'P': {"110", "101", "110", "100", "100"},
	'Q': {"010", "101", "101", "110", "011"}, 'R': {"110", "101", "110", "101", "101"},
	'S': {"011", "100", "010", "001", "110"}, 'T': {"111", "010", "010", "010", "010"},
	'U': {"101", "101", "101", "101", "111"}, 'V': {"101", "101", "101", "101", "010"},
	'W': {"101", "101", "111", "111", "101"}, 'X': {"101", "101", "010", "101", "101"},
	'Y': {"101", "101", "010", "010", "010"}, 'Z': {"111", "001", "010", "100", "111"},
	'/': {"001", "001", "010", "100", "100"}, '.': {"000", "000", "000", "000", "010"},
	':': {"000", "010", "000", "010", "000"}, '-': {"000", "000", "111", "000", "000"},
	'%': {"101", "001", "010", "100", "101"}, '=': {"000", "111", "000", "111", "000"},
	'(': {"010", "100", "100", "100", "010"}, ')': {"010", "001", "001", "001", "010"},
	',': {"000", "000", "000", "010", "100"},
}

const glyphScale = 2

func textWidth(s string) int { return len([]rune(s)) * 4 * glyphScale }

// drawText writes s with its top-left corner at (x, y); characters outside glyphs are blank.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for i, r := range []rune(s) {
		g, ok := glyphs[r]
		if !ok {
			continue
		}
		ox := x + i*4*glyphScale
		for row, bits := range g {
			for col, b := range bits {
				if b == '1' {
					fill(img, image.Rect(ox+col*glyphScale, y+row*glyphScale, ox+(col+1)*glyphScale, y+(row+1)*glyphScale), c)
				}
			}
		}
	}
}
