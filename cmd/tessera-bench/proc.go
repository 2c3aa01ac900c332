package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat (100 on Linux).
const clockTick = 100

// procCPU is a process's user + system CPU time so far, from /proc/PID/stat; 0 without a PID.
func procCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, nil
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its closing ')' are fixed.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unreadable times", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// procRSSMB is a process's resident memory in MB (VmRSS), 0 when unknown.
func procRSSMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// sumCPU is the CPU time of every listed process so far, summed (a process that is gone adds 0).
func sumCPU(pids []int) time.Duration {
	var t time.Duration
	for _, p := range pids {
		c, _ := procCPU(p)
		t += c
	}
	return t
}

// cpuSnapshot is the CPU time so far of each process a --db-pid selection matched.
type cpuSnapshot map[int]time.Duration

// since is the CPU the snapshot's processes used after earlier: a process that appeared in
// between (a new backend) counts whole, one that exited in between is lost (so the figure is a
// lower bound when connections churn; Tessera's pools keep theirs open).
func (s cpuSnapshot) since(earlier cpuSnapshot) (time.Duration, int) {
	var t time.Duration
	for pid, c := range s {
		t += c - earlier[pid]
	}
	return t, len(s)
}

// dbCPU reads the processes --db-pid names: PIDs as given; "postgres", every process whose
// command name is postgres (the server, its background workers and every backend, including
// other databases' — on a shared server that is more than this run); "postgres:DBNAME", only the
// backends whose process title names DBNAME ("postgres: 15/main: USER DBNAME HOST STATE"), which
// leaves out the WAL writer and checkpointer.
func dbCPU(sel []string) cpuSnapshot {
	snap := cpuSnapshot{}
	if len(sel) == 0 {
		return snap
	}
	var all []int
	needAll := false
	for _, s := range sel {
		if strings.HasPrefix(s, "postgres") {
			needAll = true
		}
	}
	if needAll {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
					all = append(all, pid)
				}
			}
		}
	}
	add := func(pid int) {
		if c, err := procCPU(pid); err == nil {
			snap[pid] = c
		}
	}
	for _, s := range sel {
		switch {
		case s == "postgres":
			for _, p := range all {
				add(p)
			}
		case strings.HasPrefix(s, "postgres:"):
			db := strings.TrimPrefix(s, "postgres:")
			for _, p := range all {
				if backendOf(p) == db {
					add(p)
				}
			}
		default:
			if pid, err := strconv.Atoi(s); err == nil {
				add(pid)
			}
		}
	}
	return snap
}

// backendOf is the database a PostgreSQL backend serves, from its process title, or "".
func backendOf(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return titleDatabase(strings.TrimRight(string(raw), "\x00 "))
}

// titleDatabase reads DBNAME out of "postgres: [CLUSTER: ]USER DBNAME HOST(PORT) STATE".
func titleDatabase(title string) string {
	rest, ok := strings.CutPrefix(title, "postgres: ")
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) > 0 && strings.HasSuffix(f[0], ":") { // the cluster name (cluster_name is set)
		f = f[1:]
	}
	if len(f) < 3 || !strings.Contains(f[2], "(") && f[2] != "[local]" {
		return "" // a background process: "checkpointer", "walwriter", ...
	}
	return f[1]
}
