package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// MaintenanceWorkflowName is the registered name of MaintenanceWorkflow.
const MaintenanceWorkflowName = "MaintenanceWorkflow"

// MaintenanceScheduleID is the Temporal Schedule that runs it daily.
const MaintenanceScheduleID = "herald-maintenance"

// Maintenance activity names.
const (
	ActivityDaysToRollUp   = "DaysToRollUp"
	ActivityRollupDay      = "RollupDay"
	ActivityDeleteAttempts = "DeleteOldAttempts"
	DefaultRetentionDays   = 30
)

// MaintenanceInput configures a maintenance run.
type MaintenanceInput struct {
	// RetentionDays is how long attempt rows are kept; the daily rollups
	// outlive them.
	RetentionDays int `json:"retention_days"`
}

// MaintenanceResult says what a run did.
type MaintenanceResult struct {
	RolledUp []string `json:"rolled_up"` // the days, as YYYY-MM-DD
	Rows     int      `json:"rows"`      // rollup rows written
	Deleted  int64    `json:"deleted"`   // attempt rows removed
}

// MaintenanceWorkflow rolls attempts up into daily analytics rows, every day
// since the last rollup through yesterday (rewriting rows that exist, so a
// rerun is harmless and a missed run is made up for), then deletes attempt
// rows older than the retention: by then every day before today is rolled up.
func MaintenanceWorkflow(ctx workflow.Context, in MaintenanceInput) (MaintenanceResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute, RetryPolicy: activityRetry})
	if in.RetentionDays <= 0 {
		in.RetentionDays = DefaultRetentionDays
	}
	today := workflow.Now(ctx).UTC().Truncate(24 * time.Hour)
	var res MaintenanceResult
	var days []time.Time
	if err := workflow.ExecuteActivity(ctx, ActivityDaysToRollUp, today).Get(ctx, &days); err != nil {
		return res, err
	}
	for _, day := range days {
		var n int
		if err := workflow.ExecuteActivity(ctx, ActivityRollupDay, day).Get(ctx, &n); err != nil {
			return res, err
		}
		res.RolledUp, res.Rows = append(res.RolledUp, day.Format("2006-01-02")), res.Rows+n
	}
	cutoff := today.AddDate(0, 0, -in.RetentionDays)
	err := workflow.ExecuteActivity(ctx, ActivityDeleteAttempts, cutoff).Get(ctx, &res.Deleted)
	return res, err
}
