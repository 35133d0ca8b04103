package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine describes where the figures were measured.
type Machine struct {
	GoVersion, OS, Arch, CPU, SQLite string
	Cores                            int
	MemoryMiB                        int64
	// LoadAverage is /proc/loadavg at the start of the run: a busy machine shows here.
	LoadAverage string
}

func (m Machine) String() string {
	return fmt.Sprintf("%s, %s/%s, %s, %d cores, %d MiB memory, SQLite %s, load average at start %s",
		m.GoVersion, m.OS, m.Arch, m.CPU, m.Cores, m.MemoryMiB, m.SQLite, m.LoadAverage)
}

func describeMachine(ctx context.Context) Machine {
	m := Machine{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Cores: runtime.NumCPU(),
		CPU: procField("/proc/cpuinfo", "model name"), SQLite: "unknown"}
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n int64
		fmt.Sscan(kb, &n)
		m.MemoryMiB = n / 1024
	}
	m.LoadAverage = loadAverage()
	if db, err := sql.Open("sqlite3", ":memory:"); err == nil {
		db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&m.SQLite)
		db.Close()
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages, "" where unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
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
