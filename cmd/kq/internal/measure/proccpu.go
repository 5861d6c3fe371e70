package measure

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// NodeCPU returns the CPU time (user + system) used so far by every kqd
// process on this machine that runs the configuration at configPath.
func NodeCPU(configPath string) (time.Duration, int) {
	want, err := filepath.Abs(configPath)
	if err != nil {
		return 0, 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var total time.Duration
	procs := 0
	for _, d := range dirs {
		args := procArgs(d)
		if len(args) == 0 || filepath.Base(args[0]) != "kqd" || !runsConfig(d, args, want) {
			continue
		}
		if cpu, ok := procCPU(d); ok {
			total += cpu
			procs++
		}
	}
	return total, procs
}

func procArgs(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
		out = append(out, string(a))
	}
	return out
}

// runsConfig reports whether the process's --config resolves to want.
func runsConfig(dir string, args []string, want string) bool {
	cwd, err := os.Readlink(filepath.Join(dir, "cwd"))
	if err != nil {
		return false
	}
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--config=")
		if !ok && a == "--config" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			if !filepath.IsAbs(v) {
				v = filepath.Join(cwd, v)
			}
			return filepath.Clean(v) == want
		}
	}
	return false
}

// procCPU reads utime + stime from /proc/PID/stat.
func procCPU(dir string) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces: fields
	// start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / clockTicks, true
}
