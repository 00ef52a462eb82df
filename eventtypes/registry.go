// Package eventtypes is the registry of event types: Herald's built-in
// catalog, the operators' extensions of it, and the operators' custom
// types. Definitions live in the database; each process holds a compiled
// view of them and re-reads it when it is older than a short TTL, so that
// several API processes sharing one database agree within seconds, and a
// process that changed a definition sees the change at once.
package eventtypes

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// DefaultTTL is how old a process's view of the definitions may grow
// before a lookup re-reads them: a change made through another process is
// seen this much later at most. A re-read is one small query.
const DefaultTTL = 2 * time.Second

// loadTimeout bounds a re-read made for a lookup that has no context.
const loadTimeout = 5 * time.Second

// Source is where operators' definitions are kept (the store).
type Source interface {
	ListEventTypes(ctx context.Context) ([]*Def, error)
}

// Options tune a Registry.
type Options struct {
	TTL    time.Duration // 0: DefaultTTL
	Now    func() time.Time
	Logger *slog.Logger
}

// Registry answers which event types exist and how their payloads are
// validated. It is safe for concurrent use, and is a webhook.EventTypeSet.
type Registry struct {
	src  Source
	opts Options
	mu   sync.Mutex // one re-read at a time; the others wait for it
	cur  atomic.Pointer[snapshot]
}

// snapshot is one immutable view of every type.
type snapshot struct {
	at     time.Time // when it was read, or last failed to be
	loaded bool      // read from the source at least once
	types  map[string]Type
	names  []string        // built-in in catalog order, then custom by name
	defs   map[string]*Def // as read, to reuse what did not change
}

// New returns a registry over src; nothing is read until the first lookup.
func New(src Source, opts Options) *Registry {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{src: src, opts: opts}
}

// Lookup finds a type by name, for callers without a context; when the definitions cannot be read it answers from
// the last view (built-in types only, if there never was one).
func (r *Registry) Lookup(name string) (Type, bool) {
	t, ok := r.view().types[name]
	return t, ok
}

// Has says whether a type exists; a Registry is the webhook.EventTypeSet
// subscriptions are checked against.
func (r *Registry) Has(name string) bool {
	_, ok := r.Lookup(name)
	return ok
}

// Names lists every type's name: built-in ones first.
func (r *Registry) Names() []string { return slices.Clone(r.view().names) }

// Get finds a type by name: a not_found error if there is none, and an
// unavailable one if the name is not built in and the definitions have
// never been read (the database is down): Herald cannot tell.
func (r *Registry) Get(ctx context.Context, name string) (Type, error) {
	s := r.current(ctx)
	if t, ok := s.types[name]; ok {
		return t, nil
	}
	if !s.loaded {
		return Type{}, unavailable()
	}
	return Type{}, webhook.Errorf(webhook.ENotFound, "event type %q not found; see GET /api/v1/event-types", name)
}

// List returns every type, built-in ones first in catalog order.
func (r *Registry) List(ctx context.Context) ([]Type, error) {
	s := r.current(ctx)
	if !s.loaded {
		return nil, unavailable()
	}
	out := make([]Type, len(s.names))
	for i, n := range s.names {
		out[i] = s.types[n]
	}
	return out, nil
}

// Reload re-reads the definitions now: a process that changed one sees
// the change on its next lookup, not a TTL later.
func (r *Registry) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reload(ctx, r.cur.Load())
}

func unavailable() error {
	return webhook.Errorf(webhook.EUnavailable, "event types cannot be read now (the database is unavailable); retry later")
}

func (r *Registry) view() *snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	return r.current(ctx)
}

// current returns a view no older than the TTL, re-reading if need be.
func (r *Registry) current(ctx context.Context) *snapshot {
	if s := r.cur.Load(); r.fresh(s) {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.cur.Load()
	if r.fresh(s) { // re-read by another caller while this one waited
		return s
	}
	if err := r.reload(ctx, s); err != nil {
		r.opts.Logger.Warn("cannot read event type definitions; using the last ones read", "error", err)
	}
	return r.cur.Load()
}

func (r *Registry) fresh(s *snapshot) bool {
	return s != nil && r.opts.Now().Sub(s.at) < r.opts.TTL
}

// reload reads the definitions and installs a new view. When they cannot
// be read, the previous view stays, marked as read now so the source is
// not asked again until the TTL has passed. Called with mu held.
func (r *Registry) reload(ctx context.Context, prev *snapshot) error {
	defs, err := r.src.ListEventTypes(ctx)
	if err != nil {
		stale := snapshot{types: builtinTypes()}
		if prev != nil {
			stale = *prev
		}
		stale.at = r.opts.Now()
		stale.names = names(stale.types)
		r.cur.Store(&stale)
		return err
	}
	r.cur.Store(r.build(defs, prev))
	return nil
}

// build compiles the definitions into a view, reusing the types of prev
// whose definitions did not change. A definition that no longer compiles
// (written by another version of Herald, say) is left out and logged:
// one bad row must not take every type down.
func (r *Registry) build(defs []*Def, prev *snapshot) *snapshot {
	s := &snapshot{at: r.opts.Now(), loaded: true, types: builtinTypes(), defs: map[string]*Def{}}
	for _, d := range defs {
		s.defs[d.Name] = d
		if prev != nil && unchanged(prev.defs[d.Name], d) {
			s.types[d.Name] = prev.types[d.Name]
			continue
		}
		t, err := Build(d)
		if err != nil {
			r.opts.Logger.Error("an event type definition does not compile; it is ignored", "event_type", d.Name, "error", err)
			continue
		}
		s.types[d.Name] = t
	}
	s.names = names(s.types)
	return s
}

func unchanged(a, b *Def) bool {
	return a != nil && a.UpdatedAt.Equal(b.UpdatedAt) && a.Description == b.Description &&
		string(a.Schema) == string(b.Schema) && string(a.Example) == string(b.Example)
}

func builtinTypes() map[string]Type {
	m := map[string]Type{}
	for _, t := range All() {
		m[t.Name] = t
	}
	return m
}

// names orders a view's types: the built-in catalog's order, then the
// custom types by name.
func names(types map[string]Type) []string {
	out := Names()
	var custom []string
	for n, t := range types {
		if !t.Builtin {
			custom = append(custom, n)
		}
	}
	slices.Sort(custom)
	return append(out, custom...)
}
