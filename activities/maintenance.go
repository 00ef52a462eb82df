package activities

import (
	"context"
	"time"
)

// maintenanceStore is what the daily roll-up and retention touch.
type maintenanceStore interface {
	DaysToRollUp(ctx context.Context, today time.Time) ([]time.Time, error)
	DeleteAttemptsBefore(ctx context.Context, before time.Time) (int64, error)
	RollupDay(ctx context.Context, t time.Time) (int, error)
}

// DaysToRollUp lists the days a maintenance run rolls up.
func (a *Activities) DaysToRollUp(ctx context.Context, today time.Time) ([]time.Time, error) {
	return a.Store.DaysToRollUp(ctx, today)
}

// RollupDay writes the daily analytics rows of the UTC day starting at day.
func (a *Activities) RollupDay(ctx context.Context, day time.Time) (int, error) {
	return a.Store.RollupDay(ctx, day)
}

// DeleteOldAttempts removes attempt rows created before a time.
func (a *Activities) DeleteOldAttempts(ctx context.Context, before time.Time) (int64, error) {
	n, err := a.Store.DeleteAttemptsBefore(ctx, before)
	if err == nil {
		a.Logger.InfoContext(ctx, "old attempts deleted", "before", before, "rows", n)
	}
	return n, err
}
