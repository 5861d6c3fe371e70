package render

import (
	"fmt"
	"io"
)

// BenchView is `kq bench`.
type BenchView struct {
	Key            string             `json:"key"`
	Algorithm      string             `json:"algorithm"`
	Presign        bool               `json:"presign"`
	Concurrency    int                `json:"concurrency"`
	Seconds        float64            `json:"seconds"`
	OK             uint64             `json:"ok"`
	Errors         uint64             `json:"errors"`
	Presigned      uint64             `json:"presigned"`
	Throughput     float64            `json:"throughput_per_s"`
	LatencyMS      map[string]float64 `json:"latency_ms"`
	NodeCPUSeconds float64            `json:"node_cpu_seconds"`
	CPUPerSig      float64            `json:"node_cpu_seconds_per_signature"`
	NodeProcesses  int                `json:"node_processes"`
	FirstError     string             `json:"first_error,omitempty"`
}

func (v BenchView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintf(tw, "key\t%s (%s), presign %v, concurrency %d\n", v.Key, v.Algorithm, v.Presign, v.Concurrency)
	fmt.Fprintf(tw, "requests\t%d ok, %d errors, %d presigned, in %.1fs\n", v.OK, v.Errors, v.Presigned, v.Seconds)
	fmt.Fprintf(tw, "throughput\t%.1f signatures/s\n", v.Throughput)
	fmt.Fprintf(tw, "latency\tp50 %.1fms  p90 %.1fms  p99 %.1fms  p99.9 %.1fms  max %.1fms\n",
		v.LatencyMS["p50"], v.LatencyMS["p90"], v.LatencyMS["p99"], v.LatencyMS["p99.9"], v.LatencyMS["max"])
	fmt.Fprintf(tw, "node CPU\t%.2fs over %d kqd processes, %.1fms per signature\n", v.NodeCPUSeconds, v.NodeProcesses, v.CPUPerSig*1000)
	if v.FirstError != "" {
		fmt.Fprintf(tw, "first error\t%s\n", v.FirstError)
	}
	return tw.Flush()
}
