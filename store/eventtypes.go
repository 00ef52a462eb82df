package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/schema"
)

// Operators' event type definitions: custom types, and extensions of
// built-in ones. The store keeps them as given; package eventtypes checks
// them before they are put here and reads them back into its registry.

type eventTypeRow struct {
	Name        string    `db:"name"`
	Description string    `db:"description"`
	Schema      string    `db:"payload_schema"`
	Example     *string   `db:"example"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
}

const eventTypeColumns = `name, description, payload_schema, example, created_at, updated_at`

func (r *eventTypeRow) def() *eventtypes.Def {
	d := &eventtypes.Def{Name: r.Name, Description: r.Description, Schema: json.RawMessage(r.Schema),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.Example != nil {
		d.Example = json.RawMessage(*r.Example)
	}
	return d
}

// PutEventType creates or replaces a definition, setting its CreatedAt
// and UpdatedAt; it reports whether the definition is new.
func (s *Store) PutEventType(ctx context.Context, d *eventtypes.Def) (created bool, err error) {
	now := s.now()
	var example *string
	if len(d.Example) > 0 {
		ex := string(d.Example)
		example = &ex
	}
	var createdAt time.Time
	// One statement, so two first PUTs of a name at once cannot both
	// insert: the second replaces the first.
	err = s.db.QueryRowxContext(ctx, s.db.Rebind(`INSERT INTO event_types (`+eventTypeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET description = excluded.description,
			payload_schema = excluded.payload_schema, example = excluded.example, updated_at = excluded.updated_at
		RETURNING created_at`), d.Name, d.Description, string(d.Schema), example, now, now).Scan(&createdAt)
	if err != nil {
		return false, err
	}
	d.CreatedAt, d.UpdatedAt = createdAt.UTC(), now
	return d.CreatedAt.Equal(now), nil
}

// GetEventType finds a definition by its type's name.
func (s *Store) GetEventType(ctx context.Context, name string) (*eventtypes.Def, error) {
	return getOne(ctx, s, (*eventTypeRow).def, "event type %q has no definition", `SELECT `+eventTypeColumns+` FROM event_types WHERE name = ?`, name)
}

// ListEventTypes lists every definition by name.
func (s *Store) ListEventTypes(ctx context.Context) ([]*eventtypes.Def, error) {
	return selectAll(ctx, s, (*eventTypeRow).def, `SELECT `+eventTypeColumns+` FROM event_types ORDER BY name`)
}

// DeleteEventType deletes a definition.
func (s *Store) DeleteEventType(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM event_types WHERE name = ?`), name)
	return changed(res, err, "event type %q has no definition", name)
}

// EventTypeSubscribers names the webhooks and integrations, in any status,
// whose subscriptions name the event type itself ("*" does not count).
func (s *Store) EventTypeSubscribers(ctx context.Context, eventType string) ([]string, error) {
	match := `EXISTS (SELECT 1 FROM json_each(webhooks.event_types) WHERE json_each.value = ?)`
	if s.dialect == schema.Postgres {
		match = `event_types @> jsonb_build_array(?::text)`
	}
	names := []string{}
	err := s.read.SelectContext(ctx, &names, s.db.Rebind(`SELECT name FROM webhooks WHERE `+match+` ORDER BY id`), eventType)
	return names, err
}
