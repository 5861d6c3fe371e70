package tss

import (
	"errors"
	"runtime"
	"time"
)

// Config bounds the engine's resources. Zero values are invalid; start from
// DefaultConfig.
type Config struct {
	// MaxSessions caps concurrently running sessions; more return ErrBusy.
	MaxSessions int
	// MaxMessageBytes caps one inbound payload, checked before parsing. ECDSA
	// keygen round-1 broadcasts are about 134 KB for 2-of-3 and grow with n.
	MaxMessageBytes int
	// SessionTimeout bounds every session in addition to the caller's ctx.
	SessionTimeout time.Duration
	// MaxPendingPerSession caps messages held for one session that has not
	// started on this node yet (Raft apply lag).
	MaxPendingPerSession int
	// MaxPendingTotal caps held messages across all not-yet-started sessions.
	MaxPendingTotal int
	// MaxPendingBytes caps the payload bytes held across all
	// not-yet-started sessions.
	MaxPendingBytes int
	// MaxPendingPerSender and MaxPendingBytesPerSender are each sender's
	// share of the held messages and bytes: a member over its share has
	// its own messages dropped (and counted, Engine.PendingDropped) while
	// the others keep theirs. When every other member's share fits in the
	// totals (SharePending sizes them so), no sender crowds out another.
	MaxPendingPerSender      int
	MaxPendingBytesPerSender int
	// PendingTTL drops held messages for a session that never starts.
	PendingTTL time.Duration
	// MaxEd25519MessageBytes caps the Ed25519 message (signed as-is).
	MaxEd25519MessageBytes int
	// RecentSessions is how many finished session IDs are remembered so late
	// messages for them are dropped and the IDs are not reused.
	RecentSessions int
	// HeavyWorkers caps the protocol steps of keygen, resharing and
	// presigning that compute at once on this node. Each step is seconds
	// of big-integer work; below the number of cores, it leaves a core to
	// raft's heartbeats and to the online phase of signatures, which are
	// never gated.
	HeavyWorkers int

	_ struct{}
}

// DefaultConfig returns settings for a cluster of up to about 15 members.
func DefaultConfig() Config {
	return Config{
		MaxSessions:          32,
		MaxMessageBytes:      4 << 20,
		SessionTimeout:       2 * time.Minute,
		MaxPendingPerSession: 256,
		MaxPendingTotal:      4096,
		MaxPendingBytes:      64 << 20,
		// An eighth of the totals: up to eight other members each keep a
		// full share; SharePending sizes it for the actual cluster.
		MaxPendingPerSender:      512,
		MaxPendingBytesPerSender: 8 << 20,
		PendingTTL:               time.Minute,
		MaxEd25519MessageBytes:   1024,
		RecentSessions:           1024,
		HeavyWorkers:             max(1, runtime.GOMAXPROCS(0)-1),
	}
}

// Validate reports the first setting that is out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxSessions < 1:
		return errors.New("tss: config: MaxSessions must be >= 1")
	case c.MaxMessageBytes < 1024:
		return errors.New("tss: config: MaxMessageBytes must be >= 1024")
	case c.SessionTimeout <= 0:
		return errors.New("tss: config: SessionTimeout must be > 0")
	case c.MaxPendingPerSession < 1:
		return errors.New("tss: config: MaxPendingPerSession must be >= 1")
	case c.MaxPendingTotal < c.MaxPendingPerSession:
		return errors.New("tss: config: MaxPendingTotal must be >= MaxPendingPerSession")
	case c.MaxPendingBytes < c.MaxMessageBytes:
		return errors.New("tss: config: MaxPendingBytes must be >= MaxMessageBytes")
	case c.MaxPendingPerSender < 1:
		return errors.New("tss: config: MaxPendingPerSender must be >= 1")
	case c.MaxPendingBytesPerSender < c.MaxMessageBytes:
		return errors.New("tss: config: MaxPendingBytesPerSender must be >= MaxMessageBytes")
	case c.PendingTTL <= 0:
		return errors.New("tss: config: PendingTTL must be > 0")
	case c.MaxEd25519MessageBytes < 1:
		return errors.New("tss: config: MaxEd25519MessageBytes must be >= 1")
	case c.RecentSessions < 0:
		return errors.New("tss: config: RecentSessions must be >= 0")
	case c.HeavyWorkers < 1:
		return errors.New("tss: config: HeavyWorkers must be >= 1")
	}
	return nil
}

// SharePending divides the pending totals evenly among senders (the other
// members of the cluster), so that each keeps a full share however much the
// others send. A share never falls below one session's messages or one
// message's bytes: with more senders than that allows, a flooding sender
// can still take the rest of the totals, but never another's held messages.
func (c *Config) SharePending(senders int) {
	senders = max(senders, 1)
	c.MaxPendingPerSender = max(c.MaxPendingTotal/senders, min(c.MaxPendingPerSession, c.MaxPendingTotal), 1)
	c.MaxPendingBytesPerSender = max(c.MaxPendingBytes/senders, c.MaxMessageBytes)
}
