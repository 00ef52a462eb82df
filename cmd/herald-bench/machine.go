package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// machine is what the figures were measured on: without it a figure
// cannot be compared with another.
type machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
	Commit      string `json:"commit"`
	// DiffSHA256 names the uncommitted changes measured along with Commit.
	DiffSHA256 string `json:"diff_sha256,omitempty"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Commit: "unknown"}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPU = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		m.MemoryBytes = kiB(v)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		// Uncommitted changes make the commit name other code.
		if diff, err := exec.Command("git", "diff", "HEAD").Output(); err == nil && len(diff) > 0 {
			m.Commit += "-dirty"
			m.DiffSHA256 = fmt.Sprintf("%x", sha256.Sum256(diff))
		}
	}
	return m
}

func (m machine) summary() string {
	commit := m.Commit
	if len(commit) > 12 && !strings.HasSuffix(commit, "-dirty") {
		commit = commit[:12]
	}
	if m.DiffSHA256 != "" {
		commit += " (diff " + m.DiffSHA256[:12] + ")"
	}
	return fmt.Sprintf("%s, %d cores, %.1f GiB, Linux %s, %s, commit %s",
		m.CPU, m.Cores, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.Go, commit)
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// kiB parses "123 kB" as /proc writes sizes.
func kiB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
	return n << 10
}

// rss reads VmRSS or VmHWM (the peak) of this process.
func rss(field string) int64 { return kiB(procField("/proc/self/status", field)) }

// resetPeakRSS starts VmHWM over from the current RSS, so that a second
// configuration's peak is its own (the first one's heap given back first).
func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
