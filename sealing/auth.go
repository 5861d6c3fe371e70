package sealing

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

const (
	authFileName = "kek.auth"
	minAuthBytes = 16
	authDomain   = "keyquorum/sealing/kek-auth"
)

// authValue derives the KEK's 32-byte TPM auth value from Config.AuthFile or,
// without one, from Dir/kek.auth, generating the latter only when no sealed
// KEK exists yet (a fresh value could never unseal an existing KEK). Hashing
// the file content lets a secret store hand over any format and length.
func authValue(cfg Config, haveSealed bool, log *slog.Logger) ([]byte, error) {
	path := cfg.AuthFile
	if path == "" {
		path = filepath.Join(cfg.Dir, authFileName)
	}
	raw, err := ReadFile(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && cfg.AuthFile == "" && !haveSealed:
		raw = make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("sealing: auth value: %w", err)
		}
		if err := WriteFile(path, raw); err != nil {
			return nil, err
		}
		log.Warn("sealing: generated the KEK auth value into the data dir; "+
			"this guards only against a stolen TPM blob without the data dir, set AuthFile from a secret store in production",
			"path", path)
	case errors.Is(err, fs.ErrNotExist) && cfg.AuthFile == "":
		return nil, fmt.Errorf("sealing: %s is missing but a sealed KEK exists; restore it or supply AuthFile: %w", path, ErrAuthMismatch)
	default:
		return nil, fmt.Errorf("sealing: auth file: %w", err)
	}
	defer clear(raw)
	if len(raw) < minAuthBytes {
		return nil, fmt.Errorf("%w: auth file %s has %d bytes, want at least %d", ErrInvalidConfig, path, len(raw), minAuthBytes)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("sealing: auth file is readable by group or others", "path", path, "mode", fi.Mode().Perm().String())
	}
	return deriveAuth(raw), nil
}

// deriveAuth hashes the auth file content into a 32-byte TPM auth value
// with no zero bytes: go-tpm v0.9.8 builds session HMAC keys by cutting the
// auth value at its first zero byte (it means to trim trailing zeros only),
// while the TPM keeps interior zeros, so a raw digest fails unsealing with
// TPM_RC_BAD_AUTH about one time in ten. The base64 text of 24 digest bytes
// keeps 192 bits and fits the 32-byte limit of a SHA-256 object.
func deriveAuth(raw []byte) []byte {
	h := sha256.New()
	h.Write([]byte(authDomain))
	h.Write(raw)
	sum := h.Sum(nil)
	defer clear(sum)
	out := make([]byte, base64.RawStdEncoding.EncodedLen(24))
	base64.RawStdEncoding.Encode(out, sum[:24])
	return out
}
