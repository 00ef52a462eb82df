package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// MaintenanceWorkflowName is the registered name of MaintenanceWorkflow.
const MaintenanceWorkflowName = "MaintenanceWorkflow"

// MaintenanceScheduleID is the Temporal Schedule that runs it daily.
const MaintenanceScheduleID = "herald-maintenance"

// The maintenance workflow's activities: the days not rolled up before
// today, one day's roll-up (its rows), and deleting attempt rows older
// than a time (how many).
var (
	ActivityDaysToRollUp   = Activity[time.Time, []time.Time]{Name: "DaysToRollUp"}
	ActivityRollupDay      = Activity[time.Time, int]{Name: "RollupDay"}
	ActivityDeleteAttempts = Activity[time.Time, int64]{Name: "DeleteOldAttempts"}
)

// DefaultRetentionDays is how long attempt rows are kept.
const DefaultRetentionDays = 30

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
	days, err := ActivityDaysToRollUp.Run(ctx, today).Result(ctx)
	if err != nil {
		return res, err
	}
	for _, day := range days {
		n, err := ActivityRollupDay.Run(ctx, day).Result(ctx)
		if err != nil {
			return res, err
		}
		res.RolledUp, res.Rows = append(res.RolledUp, day.Format("2006-01-02")), res.Rows+n
	}
	cutoff := today.AddDate(0, 0, -in.RetentionDays)
	res.Deleted, err = ActivityDeleteAttempts.Run(ctx, cutoff).Result(ctx)
	return res, err
}
