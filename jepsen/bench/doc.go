// Package bench measures keyquorum latency from the outside: it runs
// operations one after another, records each one's wall time, summarises the
// samples as percentiles and renders them as a markdown table. Like the rest
// of jepsen it knows the cluster only through its gRPC API; it starts no
// processes itself.
//
// Numbers from one machine are noisy. The package therefore favours ratios
// between rows measured in the same run over absolute values.
package bench
