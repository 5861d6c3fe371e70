package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// The authz workload: principals with different roles on two tenants
// create, read, issue handles and sign, each through its own client
// certificate, each request to a node drawn from the seed (so most are
// forwarded to the leader by a follower). Midway the cluster-admin
// revokes one signer with `kq principal revoke`, and right after the
// revocation returns, one new client of that principal per node signs at
// once. jepsen/checker.Authz then holds every acknowledged request to the
// policy (model.Authority) and to the revocation.

// Authority is what the authz workload needs of a cluster besides its
// KeyService: the kq CLI, run as the bootstrap admin, and KeyService
// clients with a principal's certificate. jepsen/cluster.Cluster is one.
type Authority interface {
	KQ(ctx context.Context, args ...string) ([]byte, error)
	PrincipalClient(principal, node string) (kqpb.KeyServiceClient, error)
}

// The principals of the authz workload.
const (
	authzKeyAdminA = "ka" // key-admin and issuer of acme
	authzKeyAdminG = "kg" // key-admin and issuer of globex
	authzSignerA   = "sa" // signer of acme
	authzSignerG   = "sg" // signer of globex
	authzAuditorA  = "au" // auditor of acme
	// AuthzRevoked is the signer of acme revoked midway.
	AuthzRevoked = "rv"
)

// authzPrincipals is the order in which clients take principals: with six
// clients, one each.
var authzPrincipals = []string{authzSignerA, authzSignerG, AuthzRevoked, authzAuditorA, authzKeyAdminA, authzKeyAdminG}

// AuthzPolicy is the policy the authz workload applies. The bootstrap
// admin stays cluster-admin, and audits every tenant so that its reads
// (the final lists, the convergence check) see every key.
func AuthzPolicy() model.Authority {
	return model.Authority{
		Tenants: []string{"acme", "default", "globex"},
		Principals: map[string][]model.Grant{
			"admin":        {{Role: model.RoleClusterAdmin, Tenant: "*"}, {Role: model.RoleAuditor, Tenant: "*"}},
			authzKeyAdminA: {{Role: model.RoleKeyAdmin, Tenant: "acme"}, {Role: model.RoleIssuer, Tenant: "acme"}},
			authzKeyAdminG: {{Role: model.RoleKeyAdmin, Tenant: "globex"}, {Role: model.RoleIssuer, Tenant: "globex"}},
			authzSignerA:   {{Role: model.RoleSigner, Tenant: "acme"}},
			authzSignerG:   {{Role: model.RoleSigner, Tenant: "globex"}},
			authzAuditorA:  {{Role: model.RoleAuditor, Tenant: "acme"}},
			AuthzRevoked:   {{Role: model.RoleSigner, Tenant: "acme"}},
		},
	}
}

// authzKeys are the keys the authz workload signs with, and the key-admin
// that creates each and issues its handle.
var authzKeys = []struct{ name, admin string }{{"acme/k1", authzKeyAdminA}, {"globex/k1", authzKeyAdminG}}

// authzState is what the authz clients share: each key's handle, the
// handles anyone tried to issue (granted or not), the signing requests,
// and the keys created.
type authzState struct {
	mu      sync.Mutex
	handles map[string]handle.Token // key -> the handle its key-admin issued at setup
	tried   []triedHandle
	signs   []authzSign
	keys    []string // every key acknowledged created
	next    int
}

type triedHandle struct {
	key string
	tok handle.Token
}

type authzSign struct {
	principal, key, requestID string
	digest                    []byte
	tok                       handle.Token
	acked                     bool
	refused                   bool // a definite refusal: nothing to ask again
}

// asPrincipal dials with a principal's certificate.
type asPrincipal struct {
	a         Authority
	principal string
}

func (d asPrincipal) Client(node string) (kqpb.KeyServiceClient, error) {
	return d.a.PrincipalClient(d.principal, node)
}

func (w *Workload) authority() (Authority, error) {
	a, ok := w.dial.(Authority)
	if !ok {
		return nil, errors.New("workload: the authz workload needs a cluster that runs kq and dials as principals")
	}
	return a, nil
}

// clientAs returns a new recording client of principal.
func (w *Workload) clientAs(a Authority, principal string) *client.Client {
	return client.NewAs(w.rec, asPrincipal{a, principal}, w.handles, principal)
}

// setupAuthz mints a certificate per principal, applies the policy, and
// has each key-admin create its tenant's key and issue its handle, each
// recorded and retried until acknowledged.
func (w *Workload) setupAuthz(ctx context.Context) error {
	a, err := w.authority()
	if err != nil {
		return err
	}
	certErrs := make([]error, len(authzPrincipals))
	var certs sync.WaitGroup
	for i, p := range authzPrincipals {
		certs.Go(func() {
			if out, err := a.KQ(ctx, "certs", "issue", "--principal", p); err != nil {
				certErrs[i] = fmt.Errorf("workload: certificate of %s: %w: %s", p, err, out)
			}
		})
	}
	certs.Wait()
	if err := errors.Join(certErrs...); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kqjepsen-policy-")
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte(AuthzPolicy().YAML()), 0o600); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	for {
		out, err := a.KQ(ctx, "policy", "apply", file)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("workload: policy apply: %w: %s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	w.authz.handles = map[string]handle.Token{}
	errs := make([]error, len(authzKeys))
	var wg sync.WaitGroup
	for i, k := range authzKeys {
		wg.Go(func() { errs[i] = w.setupAuthzKey(ctx, a, k.name, k.admin) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// setupAuthzKey has admin create key and issue its handle.
func (w *Workload) setupAuthzKey(ctx context.Context, a Authority, key, admin string) error {
	c := w.clientAs(a, admin)
	err := w.setupStep(ctx, "key "+key, func() model.Output {
		return c.Create(ctx, w.cfg.Nodes[0], key, Ed25519, "setup-create-"+key)
	})
	if err != nil {
		return err
	}
	tok, err := handle.New()
	if err != nil {
		return err
	}
	err = w.setupStep(ctx, "handle of "+key, func() model.Output {
		return c.Issue(ctx, w.cfg.Nodes[0], key, "setup-handle-"+key, tok, client.HandleTTL)
	})
	if err != nil {
		return err
	}
	w.authz.mu.Lock()
	defer w.authz.mu.Unlock()
	w.authz.keys = append(w.authz.keys, key)
	w.authz.handles[key] = tok
	return nil
}

// runAuthz drives one client per principal in turn, and the revocation.
func (w *Workload) runAuthz(ctx context.Context) {
	a, err := w.authority()
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	if w.cfg.RevokeAfter > 0 {
		wg.Go(func() { w.revokeMidway(ctx, a) })
	}
	for i := range w.cfg.Clients {
		wg.Go(func() {
			principal := authzPrincipals[i%len(authzPrincipals)]
			rnd := rand.New(rand.NewPCG(w.cfg.Seed, uint64(i)+1))
			c := w.clientAs(a, principal)
			for ctx.Err() == nil {
				before := c.ID()
				nodes := w.nodes()
				w.authzStep(ctx, c, principal, i, rnd, nodes[rnd.IntN(len(nodes))])
				w.ops.Add(1)
				w.think(c, before, rnd)
			}
		})
	}
	wg.Wait()
}

// authzStep is one request of principal: mostly signatures with the
// key's handle, some with another key's handle or a handle whose issue
// may have been refused, handle issues, reads, lists and creates, on both
// tenants whatever the principal's roles.
func (w *Workload) authzStep(ctx context.Context, c *client.Client, principal string, id int, rnd *rand.Rand, node string) {
	key := authzKeys[rnd.IntN(len(authzKeys))].name
	if rnd.IntN(4) > 0 {
		// Mostly a tenant where the principal holds some role: there the
		// role decides, elsewhere every request reads as an unknown key.
		policy := AuthzPolicy()
		for _, k := range authzKeys {
			if policy.Visible(principal, model.TenantOf(k.name)) {
				key = k.name
				break
			}
		}
	}
	switch r := rnd.IntN(100); {
	case r < 55:
		w.authzSign(ctx, c, principal, id, rnd, node, key, w.pickHandle(rnd, key))
	case r < 67:
		tok, err := handle.New()
		if err != nil {
			return
		}
		w.authz.mu.Lock()
		w.authz.tried = append(w.authz.tried, triedHandle{key, tok})
		w.authz.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, signTimeout)
		defer cancel()
		c.Issue(ctx, node, key, fmt.Sprintf("h-%d-%d", id, rnd.Uint32()), tok, client.HandleTTL)
	case r < 87:
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		defer cancel()
		c.Get(ctx, node, key)
	case r < 95:
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		defer cancel()
		c.List(ctx, node)
	default:
		w.authz.mu.Lock()
		w.authz.next++
		name := fmt.Sprintf("%s/%s-%d", model.TenantOf(key), principal, w.authz.next)
		w.authz.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, createTimeout)
		defer cancel()
		if out := c.Create(ctx, node, name, Ed25519, fmt.Sprintf("c-%d-%d", id, rnd.Uint32())); out.Status == model.OK {
			w.authz.mu.Lock()
			w.authz.keys = append(w.authz.keys, name)
			w.authz.mu.Unlock()
		}
	}
}

// pickHandle is key's own handle most of the time, else the other key's
// or one somebody tried to issue, granted or not.
func (w *Workload) pickHandle(rnd *rand.Rand, key string) handle.Token {
	w.authz.mu.Lock()
	defer w.authz.mu.Unlock()
	switch r := rnd.IntN(10); {
	case r == 0 && len(w.authz.tried) > 0:
		return recent(rnd, w.authz.tried).tok
	case r == 1:
		for k, tok := range w.authz.handles {
			if k != key {
				return tok
			}
		}
	}
	return w.authz.handles[key]
}

func (w *Workload) authzSign(ctx context.Context, c *client.Client, principal string, id int, rnd *rand.Rand, node, key string, tok handle.Token) model.Output {
	s := authzSign{principal: principal, key: key, requestID: fmt.Sprintf("s-%s-%d-%d", principal, id, rnd.Uint32()), digest: digest(rnd), tok: tok}
	ctx, cancel := context.WithTimeout(ctx, signTimeout)
	defer cancel()
	out := c.SignWith(ctx, node, key, s.digest, s.requestID, tok, client.HandleTTL)
	s.acked = out.Status == model.OK && out.Signature != ""
	s.refused = out.Status == model.Denied || out.Status == model.NotFound || out.Status == model.Invalid
	w.authz.mu.Lock()
	defer w.authz.mu.Unlock()
	w.authz.signs = append(w.authz.signs, s)
	return out
}

// revokeMidway revokes AuthzRevoked with `kq principal revoke` after
// RevokeAfter, sending it again while its outcome is unknown, and right
// after it returns has one new client of the principal per node sign at
// once: a node that lets one through after the revocation was
// acknowledged is what the authz check catches.
func (w *Workload) revokeMidway(ctx context.Context, a Authority) {
	sleep(ctx, w.cfg.RevokeAfter)
	if ctx.Err() != nil {
		return
	}
	// The revocation is sent until it is acknowledged even if traffic
	// ends meanwhile: an unacknowledged one leaves nothing to check.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	admin := client.NewAs(w.rec, w.dial, w.handles, "admin")
	in := model.Input{Kind: model.RevokePrincipal, Target: AuthzRevoked}
	for ctx.Err() == nil {
		out := admin.Exec(ctx, "kq", in, func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(ctx, createTimeout)
			defer cancel()
			_, err := a.KQ(rctx, "principal", "revoke", AuthzRevoked)
			return err
		})
		w.ops.Add(1)
		if out.Status == model.OK {
			break
		}
		sleep(ctx, 500*time.Millisecond)
	}
	var wg sync.WaitGroup
	for i, node := range w.nodes() {
		wg.Go(func() {
			c := w.clientAs(a, AuthzRevoked)
			rnd := rand.New(rand.NewPCG(w.cfg.Seed, uint64(1000+i)))
			w.authzSign(ctx, c, AuthzRevoked, 1000+i, rnd, node, authzKeys[0].name, w.pickHandle(rnd, authzKeys[0].name))
			w.ops.Add(1)
		})
	}
	wg.Wait()
}

// finalAuthz reads every key through its tenant's key-admin and asks
// every signing request again, those that got a signature first, as the
// principal that made it; requests refused for certain are not asked
// again (nothing of theirs must last), nor are the revoked principal's
// (the cluster must refuse them now).
func (w *Workload) finalAuthz(ctx context.Context, leader string, budget time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	a, err := w.authority()
	if err != nil {
		return
	}
	admin := w.newClient()
	for _, node := range w.nodes() {
		retry(ctx, 0, func(ctx context.Context) model.Output { return admin.List(ctx, node) })
	}
	w.authz.mu.Lock()
	keys := append([]string(nil), w.authz.keys...)
	signs := append([]authzSign(nil), w.authz.signs...)
	w.authz.mu.Unlock()
	admins := map[string]string{"acme": authzKeyAdminA, "globex": authzKeyAdminG}
	for _, k := range keys {
		c := w.clientAs(a, admins[model.TenantOf(k)])
		retry(ctx, 0, func(ctx context.Context) model.Output { return c.Get(ctx, leader, k) })
	}
	// One client per principal, all at once.
	byPrincipal := map[string][]authzSign{}
	for _, acked := range []bool{true, false} {
		for _, s := range signs {
			if s.acked == acked && !s.refused && s.principal != AuthzRevoked {
				byPrincipal[s.principal] = append(byPrincipal[s.principal], s)
			}
		}
	}
	var wg sync.WaitGroup
	for principal, reqs := range byPrincipal {
		wg.Go(func() {
			c := w.clientAs(a, principal)
			for _, s := range reqs {
				attempts := 0
				if !s.acked {
					attempts = unackedAttempts
				}
				retry(ctx, attempts, func(ctx context.Context) model.Output {
					return c.SignWith(ctx, leader, s.key, s.digest, s.requestID, s.tok, client.HandleTTL)
				})
			}
		})
	}
	wg.Wait()
}
