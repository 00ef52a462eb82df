package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/webhook"
)

type webhookRow struct {
	ID                  int64                `db:"id"`
	Name                string               `db:"name"`
	URL                 string               `db:"url"`
	Description         string               `db:"description"`
	Secret              string               `db:"secret"` // sealed
	Status              string               `db:"status"`
	StatusReason        string               `db:"status_reason"`
	PausedAt            *time.Time           `db:"paused_at"`
	ConsecutiveFailures int                  `db:"consecutive_failures"`
	PausedByDelivery    *int64               `db:"paused_by_delivery"`
	ResumedAt           *time.Time           `db:"resumed_at"`
	EventTypes          jsonColumn[[]string] `db:"event_types"`
	webhook.DeliverySettings
	CustomHeaders       string                                       `db:"custom_headers"` // sealed JSON
	Metadata            jsonColumn[map[string]any]                   `db:"metadata"`
	CreatedAt           time.Time                                    `db:"created_at"`
	UpdatedAt           time.Time                                    `db:"updated_at"`
	LastTriggeredAt     *time.Time                                   `db:"last_triggered_at"`
	PreviousSecret      string                                       `db:"previous_secret"` // sealed, or ''
	PreviousSecretUntil *time.Time                                   `db:"previous_secret_expires_at"`
	IntegrationType     string                                       `db:"integration_type"`
	Credentials         string                                       `db:"credentials"` // sealed JSON
	Config              string                                       `db:"config"`
	EventFilter         string                                       `db:"event_filter"`
	RetryOverrides      jsonColumn[map[string]webhook.RetryOverride] `db:"retry_overrides"`
}

const webhookColumns = `id, name, url, description, secret, status, status_reason, paused_at,
	consecutive_failures, paused_by_delivery, resumed_at, event_types, retry_strategy,
	max_retries, retry_delay_seconds, backoff_multiplier, max_delay_seconds, jitter_percentage,
	timeout_seconds, rate_limit_per_minute, rate_limit_per_hour, custom_headers, metadata,
	created_at, updated_at, last_triggered_at, integration_type, credentials, config,
	previous_secret, previous_secret_expires_at, delivery_mode, event_filter, retry_overrides`

func (s *Store) toRow(w *webhook.Webhook) (*webhookRow, error) {
	headers, err := json.Marshal(w.CustomHeaders)
	if err != nil {
		return nil, err
	}
	row := &webhookRow{
		ID: w.ID, Name: w.Name, URL: w.URL, Description: w.Description,
		Secret:              s.box.Seal(w.Secret),
		Status:              string(w.Status),
		StatusReason:        w.StatusReason,
		PausedAt:            dbTime(w.PausedAt),
		ConsecutiveFailures: w.ConsecutiveFailures,
		PausedByDelivery:    w.PausedByDelivery,
		ResumedAt:           dbTime(w.ResumedAt),
		EventTypes:          jsonColumn[[]string]{w.EventTypes},
		DeliverySettings:    w.DeliverySettings,
		CustomHeaders:       s.box.Seal(string(headers)),
		Metadata:            jsonColumn[map[string]any]{w.Metadata},
		EventFilter:         string(w.Filter),
		RetryOverrides:      jsonColumn[map[string]webhook.RetryOverride]{w.RetryOverrides},
		CreatedAt:           w.CreatedAt,
		UpdatedAt:           w.UpdatedAt,
		LastTriggeredAt:     w.LastTriggeredAt,
		Config:              "{}",
		PreviousSecretUntil: dbTime(w.PreviousSecretExpiresAt),
	}
	if row.DeliveryMode == "" {
		row.DeliveryMode = webhook.PerEvent
	}
	if w.PreviousSecret != "" {
		row.PreviousSecret = s.box.Seal(w.PreviousSecret)
	}
	if in := w.Integration; in != nil {
		row.IntegrationType, row.Credentials = in.Type, s.box.Seal(string(in.Credentials))
		if len(in.Config) > 0 {
			row.Config = string(in.Config)
		}
	}
	return row, nil
}

func (s *Store) fromRow(r *webhookRow) (*webhook.Webhook, error) {
	secret, err := s.box.Open(r.Secret)
	if err != nil {
		return nil, fmt.Errorf("store: webhook %d secret: %w", r.ID, err)
	}
	headersJSON, err := s.box.Open(r.CustomHeaders)
	if err != nil {
		return nil, fmt.Errorf("store: webhook %d custom headers: %w", r.ID, err)
	}
	headers := map[string]string{}
	if err := json.Unmarshal([]byte(headersJSON), &headers); err != nil {
		return nil, err
	}
	w := &webhook.Webhook{
		ID: r.ID, Name: r.Name, URL: r.URL, Description: r.Description, Secret: secret,
		Status:              webhook.Status(r.Status),
		StatusReason:        r.StatusReason,
		PausedAt:            utcPtr(r.PausedAt),
		ConsecutiveFailures: r.ConsecutiveFailures,
		PausedByDelivery:    r.PausedByDelivery,
		ResumedAt:           utcPtr(r.ResumedAt),
		EventTypes:          r.EventTypes.V,
		DeliverySettings:    r.DeliverySettings,
		CustomHeaders:       headers,
		Metadata:            r.Metadata.V,
		RetryOverrides:      r.RetryOverrides.V,
		CreatedAt:           r.CreatedAt.UTC(),
		UpdatedAt:           r.UpdatedAt.UTC(),
		LastTriggeredAt:     utcPtr(r.LastTriggeredAt),
	}
	if w.Metadata == nil {
		w.Metadata = map[string]any{}
	}
	if r.EventFilter != "" {
		w.Filter = json.RawMessage(r.EventFilter)
	}
	if w.RetryOverrides == nil {
		w.RetryOverrides = map[string]webhook.RetryOverride{}
	}
	if err := s.openRest(r, w); err != nil {
		return nil, err
	}
	return w, nil
}

// openRest unseals what fromRow has left: a rotated secret still in its
// overlap, and a connector's credentials.
func (s *Store) openRest(r *webhookRow, w *webhook.Webhook) error {
	if r.PreviousSecret != "" {
		prev, err := s.box.Open(r.PreviousSecret)
		if err != nil {
			return fmt.Errorf("store: webhook %d previous secret: %w", r.ID, err)
		}
		w.PreviousSecret, w.PreviousSecretExpiresAt = prev, utcPtr(r.PreviousSecretUntil)
	}
	if r.IntegrationType != "" {
		creds, err := s.box.Open(r.Credentials)
		if err != nil {
			return fmt.Errorf("store: integration %d credentials: %w", r.ID, err)
		}
		w.Integration = &webhook.Integration{Type: r.IntegrationType, Credentials: json.RawMessage(creds), Config: json.RawMessage(r.Config)}
	}
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Store) fromRows(rows []webhookRow) ([]*webhook.Webhook, error) {
	out := make([]*webhook.Webhook, 0, len(rows))
	for i := range rows {
		w, err := s.fromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// CreateWebhook inserts w, setting its ID and timestamps. A name already in
// use is an EConflict.
func (s *Store) CreateWebhook(ctx context.Context, w *webhook.Webhook) error {
	now := s.now()
	w.CreatedAt, w.UpdatedAt = now, now
	row, err := s.toRow(w)
	if err != nil {
		return err
	}
	q, args, err := sqlx.Named(`INSERT INTO webhooks (name, url, description, secret, status,
		status_reason, paused_at, consecutive_failures, paused_by_delivery, resumed_at, event_types,
		retry_strategy, max_retries, retry_delay_seconds, backoff_multiplier, max_delay_seconds,
		jitter_percentage, timeout_seconds, rate_limit_per_minute, rate_limit_per_hour,
		custom_headers, metadata, created_at, updated_at, integration_type, credentials, config, delivery_mode,
		event_filter, retry_overrides)
		VALUES (:name, :url, :description, :secret, :status, :status_reason, :paused_at,
		:consecutive_failures, :paused_by_delivery, :resumed_at, :event_types, :retry_strategy,
		:max_retries, :retry_delay_seconds, :backoff_multiplier, :max_delay_seconds,
		:jitter_percentage, :timeout_seconds, :rate_limit_per_minute, :rate_limit_per_hour,
		:custom_headers, :metadata, :created_at, :updated_at, :integration_type, :credentials, :config, :delivery_mode,
		:event_filter, :retry_overrides) RETURNING id`, row)
	if err != nil {
		return err
	}
	err = s.db.QueryRowxContext(ctx, s.db.Rebind(q), args...).Scan(&w.ID)
	if isUniqueViolation(err) {
		return nameTaken(w)
	}
	return err
}

// nameTaken is the conflict of a name in use. Webhooks and integrations
// share one namespace of names, so each can be addressed by name.
func nameTaken(w *webhook.Webhook) error {
	if w.Integration != nil {
		return webhook.Errorf(webhook.EConflict, "a webhook or integration named %q already exists", w.Name)
	}
	return webhook.Errorf(webhook.EConflict, "a webhook named %q already exists", w.Name)
}

// GetWebhook returns one subscriber (webhook or integration), secrets
// decrypted.
func (s *Store) GetWebhook(ctx context.Context, id int64) (*webhook.Webhook, error) {
	return s.getWebhook(ctx, s.read, id, "")
}

func (s *Store) getWebhook(ctx context.Context, q sqlx.QueryerContext, id int64, suffix string) (*webhook.Webhook, error) {
	var row webhookRow
	err := sqlx.GetContext(ctx, q, &row, s.db.Rebind(`SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`+suffix), id)
	if err != nil {
		return nil, notFound(err, "webhook %d not found", id)
	}
	return s.fromRow(&row)
}

// WebhookFilter narrows ListWebhooks. The zero filter lists plain webhooks.
type WebhookFilter struct {
	Status webhook.Status // "" for all
	// Integrations lists integrations instead of plain webhooks;
	// IntegrationType narrows them to one type.
	Integrations    bool
	IntegrationType string
	Page
}

// ListWebhooks returns one page of webhooks (or integrations), newest
// first, and the total number that match the filter.
func (s *Store) ListWebhooks(ctx context.Context, f WebhookFilter) ([]*webhook.Webhook, int, error) {
	f.Page = f.Page.norm()
	where, args := " WHERE integration_type = ''", []any{}
	switch {
	case f.IntegrationType != "":
		where, args = " WHERE integration_type = ?", append(args, f.IntegrationType)
	case f.Integrations:
		where = " WHERE integration_type <> ''"
	}
	if f.Status != "" {
		where, args = where+" AND status = ?", append(args, string(f.Status))
	}
	var total int
	if err := s.read.GetContext(ctx, &total, s.db.Rebind(`SELECT COUNT(*) FROM webhooks`+where), args...); err != nil {
		return nil, 0, err
	}
	var rows []webhookRow
	err := s.read.SelectContext(ctx, &rows, s.db.Rebind(`SELECT `+webhookColumns+` FROM webhooks`+where+
		` ORDER BY id DESC LIMIT ? OFFSET ?`), append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := s.fromRows(rows)
	return out, total, err
}

// UpdateWebhook reads the webhook, lets edit change it (and refuse by
// returning an error), and writes it back, all in one transaction.
func (s *Store) UpdateWebhook(ctx context.Context, id int64, edit func(*webhook.Webhook) error) (*webhook.Webhook, error) {
	var out *webhook.Webhook
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		w, err := s.getWebhook(ctx, tx, id, s.forUpdate())
		if err != nil {
			return err
		}
		if err := edit(w); err != nil {
			return err
		}
		w.ID = id
		w.UpdatedAt = s.now()
		row, err := s.toRow(w)
		if err != nil {
			return err
		}
		q, args, err := sqlx.Named(`UPDATE webhooks SET name = :name, url = :url, description = :description,
			secret = :secret, status = :status, status_reason = :status_reason, paused_at = :paused_at,
			consecutive_failures = :consecutive_failures, paused_by_delivery = :paused_by_delivery,
			resumed_at = :resumed_at, event_types = :event_types, retry_strategy = :retry_strategy,
			max_retries = :max_retries, retry_delay_seconds = :retry_delay_seconds,
			backoff_multiplier = :backoff_multiplier, max_delay_seconds = :max_delay_seconds,
			jitter_percentage = :jitter_percentage, timeout_seconds = :timeout_seconds,
			rate_limit_per_minute = :rate_limit_per_minute, rate_limit_per_hour = :rate_limit_per_hour,
			custom_headers = :custom_headers, metadata = :metadata, updated_at = :updated_at,
			credentials = :credentials, config = :config, previous_secret = :previous_secret,
			previous_secret_expires_at = :previous_secret_expires_at, delivery_mode = :delivery_mode,
			event_filter = :event_filter, retry_overrides = :retry_overrides
			WHERE id = :id`, row)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); err != nil {
			if isUniqueViolation(err) {
				return nameTaken(w)
			}
			return err
		}
		out = w
		return nil
	})
	return out, err
}

// GetWebhookByName returns the subscriber with this name.
func (s *Store) GetWebhookByName(ctx context.Context, name string) (*webhook.Webhook, error) {
	var row webhookRow
	err := s.read.GetContext(ctx, &row, s.db.Rebind(`SELECT `+webhookColumns+` FROM webhooks WHERE name = ?`), name)
	if err != nil {
		return nil, notFound(err, "%q not found", name)
	}
	return s.fromRow(&row)
}

// DeleteWebhook removes a webhook and, by cascade, its delivery history.
func (s *Store) DeleteWebhook(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM webhooks WHERE id = ?`), id)
		return changed(res, err, "webhook %d not found", id)
	})
}
