package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

// procStat is what we read from /proc/<pid>/stat.
type procStat struct {
	ppid        int
	cpu         uint64 // utime + stime, ticks
	childrenCPU uint64 // cutime + cstime: reaped children, ticks
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may contain spaces: fields after it
	// start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("idpbench: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("idpbench: /proc/%d/stat: short", pid)
	}
	num := func(k int) uint64 { v, _ := strconv.ParseUint(f[k-3], 10, 64); return v }
	return procStat{ppid: int(num(4)), cpu: num(14) + num(15), childrenCPU: num(16) + num(17)}, nil
}

// treeCPU is the CPU time of pid and every live descendant, plus what its
// reaped children used (Apache prefork replaces workers).
func treeCPU(pid int) (time.Duration, error) {
	root, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	ticks := root.cpu + root.childrenCPU
	for _, c := range descendants(pid) {
		if st, err := readStat(c); err == nil {
			ticks += st.cpu
		}
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// descendants lists the live processes under pid.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil {
			parent[p] = st.ppid
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// rssKB is the resident set of pid and its descendants in KiB: total, and
// the anonymous part (heap, stacks; the rest is mapped files such as the
// bbolt file and the binary).
func rssKB(pid int) (total, anon int64) {
	for _, p := range append([]int{pid}, descendants(pid)...) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmRSS":
				total += n
			case "RssAnon":
				anon += n
			}
		}
	}
	return total, anon
}

// fileRSSKB splits pid's resident file-backed memory by mapped file (from
// /proc/<pid>/smaps), so that the report can say how much is the binary
// and how much the bbolt file.
func fileRSSKB(pid int) map[string]int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	path := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"):
			// A mapping header: range perms offset dev inode [path].
			path = ""
			if len(f) >= 6 && strings.HasPrefix(f[5], "/") {
				path = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:" && path != "":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			out[path] += n
		}
	}
	return out
}
