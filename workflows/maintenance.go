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
	ActivityRollupDay       = "RollupDay"
	ActivityDeleteAttempts  = "DeleteOldAttempts"
	DefaultRetentionDays    = 30
	maintenanceRollupWindow = 3 // days rolled up each run: yesterday, and two more in case a run was missed
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

// MaintenanceWorkflow rolls the last days' attempts up into daily analytics
// rows (rewriting them if they exist, so a rerun is harmless), then deletes
// attempt rows older than the retention.
func MaintenanceWorkflow(ctx workflow.Context, in MaintenanceInput) (MaintenanceResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute, RetryPolicy: activityRetry})
	if in.RetentionDays <= 0 {
		in.RetentionDays = DefaultRetentionDays
	}
	today := workflow.Now(ctx).UTC().Truncate(24 * time.Hour)
	var res MaintenanceResult
	for i := maintenanceRollupWindow; i >= 1; i-- {
		day := today.AddDate(0, 0, -i)
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
