package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/webhook"
)

// The API verbs (webhooks, events, deliveries, integrations, analytics,
// listen) are clients of a running Herald: they read HERALD_URL and
// HERALD_API_KEY and nothing else from the environment. Their flags do not
// fall back to HERALD_* variables as the server roles' do, since
// `webhooks create --url` would otherwise pick up HERALD_URL, the server.

// verb is one subcommand of a group such as `herald webhooks`.
type verb struct {
	name     string
	synopsis string // arguments and flags, for the group's usage
	run      func(c *cliCmd, args []string) error
}

// group is the command of a group of verbs, such as `herald webhooks`.
func group(name string, verbs []verb) runner {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runGroup(ctx, name, verbs, args, stdout, stderr)
	}
}

// runGroup runs the verb args[0] of a group.
func runGroup(ctx context.Context, group string, verbs []verb, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage:\n")
		for _, v := range verbs {
			fmt.Fprintf(w, "  herald %s %s %s\n", group, v.name, v.synopsis)
		}
		fmt.Fprintf(w, "\nEvery verb takes --json. Herald is HERALD_URL (default %s), the key HERALD_API_KEY.\n", client.DefaultURL)
	}
	switch {
	case len(args) == 0:
		usage(stderr)
		return errUsage
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		usage(stdout)
		return flag.ErrHelp
	}
	for _, v := range verbs {
		if v.name == args[0] {
			c := newCmd(ctx, group+" "+v.name, v.synopsis, stdout, stderr)
			return c.explain(v.run(c, args[1:]))
		}
	}
	usage(stderr)
	return fmt.Errorf("%s: unknown verb %q", group, args[0])
}

// cliCmd is one run of a verb: its flags, the client and the output.
type cliCmd struct {
	ctx    context.Context
	name   string
	fs     *flag.FlagSet
	json   bool
	stdout io.Writer
	api    *client.Client
}

func newCmd(ctx context.Context, name, synopsis string, stdout, stderr io.Writer) *cliCmd {
	c := &cliCmd{ctx: ctx, name: name, stdout: stdout}
	c.fs = flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	c.fs.BoolVar(&c.json, "json", false, "print the API's answer as JSON, for scripts")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: herald %s %s\n", name, synopsis)
		c.fs.PrintDefaults()
	}
	return c
}

// parse reads the flags, wherever they are among the arguments, checks the
// arguments against names (one in brackets is optional) and makes the
// client.
func (c *cliCmd) parse(args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, err
		}
		if c.fs.NArg() == 0 {
			break
		}
		pos = append(pos, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	required := 0 // names in brackets may be left out, from the end
	for _, n := range names {
		if !strings.HasPrefix(n, "[") {
			required++
		}
	}
	if len(pos) < required || len(pos) > len(names) {
		return nil, fmt.Errorf("%s takes %d argument(s) (%s), got %d; see herald %s -h", c.name, len(names), strings.Join(names, " "), len(pos), c.name)
	}
	var err error
	c.api, err = client.New(os.Getenv("HERALD_URL"), os.Getenv("HERALD_API_KEY"), client.WithUserAgent("herald-cli/"+version))
	return pos, err
}

// set names the flags given on the command line: an update sends only those.
func (c *cliCmd) set() map[string]bool {
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// show prints v as JSON with --json, else as table writes it.
func (c *cliCmd) show(v any, table func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// answer shows v, what a call answered, as show does; when the call failed
// it returns the call's error instead.
func (c *cliCmd) answer(v any, err error, table func(w io.Writer)) error {
	if err != nil {
		return err
	}
	return c.show(v, table)
}

// showArg shows what fetch answers for the one argument, called name in
// the usage.
func showArg[T any](c *cliCmd, args []string, name string, fetch func(arg string) (T, error), table func(io.Writer, T)) error {
	pos, err := c.parse(args, name)
	if err != nil {
		return err
	}
	v, err := fetch(pos[0])
	return c.answer(v, err, func(w io.Writer) { table(w, v) })
}

// say prints a line for people; --json prints v instead.
func (c *cliCmd) say(v any, format string, args ...any) error {
	return c.show(v, func(w io.Writer) { fmt.Fprintf(w, format+"\n", args...) })
}

// explain turns an API error into what a person needs: the message, each
// invalid field, and what to check when Herald cannot be reached.
func (c *cliCmd) explain(err error) error {
	var e *client.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		var b strings.Builder
		fmt.Fprintf(&b, "%s (HTTP %d %s)", e.Message, e.StatusCode, e.Code)
		for _, f := range e.Fields() {
			fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
		}
		if e.Code == webhook.EUnauthorized && os.Getenv("HERALD_API_KEY") == "" {
			b.WriteString("\n  set HERALD_API_KEY: herald dev prints one and keeps it in .herald/admin.key")
		}
		return errors.New(b.String())
	case errors.As(err, new(*url.Error)): // the request never got an answer
		return fmt.Errorf("%w\n  is Herald running there? HERALD_URL sets where it is", err)
	}
	return err
}

// parseID reads a webhook or delivery id argument.
func parseID(what, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q is not an id (a positive integer)", what, s)
	}
	return n, nil
}

// parseIDArg reads the one argument name, the id of a what (webhook, …).
func (c *cliCmd) parseIDArg(args []string, what, name string) (int64, error) {
	pos, err := c.parse(args, name)
	if err != nil {
		return 0, err
	}
	return parseID(what, pos[0])
}

// pageFlags registers a list's --limit and --offset.
func (c *cliCmd) pageFlags(limit, offset *int) {
	c.fs.IntVar(limit, "limit", 0, "how many (1-1000; default 50)")
	c.fs.IntVar(offset, "offset", 0, "how many to skip")
}

// pageLine ends a list's table: n shown of the total.
func pageLine(w io.Writer, n int, p client.Page) {
	fmt.Fprintf(w, "(%d of %d)\n", n, p.Total)
}

// withReason shows a status and, when given, why it was set.
func withReason(status webhook.Status, reason string) string {
	if reason != "" {
		return string(status) + " (" + reason + ")"
	}
	return string(status)
}

// csv splits a comma-separated flag value ("" is none).
func csv(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// kvFlag is a repeatable K=V flag.
type kvFlag map[string]string

func (k kvFlag) String() string { return "" }

func (k kvFlag) Set(s string) error {
	key, val, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return fmt.Errorf("%q is not K=V", s)
	}
	k[strings.TrimSpace(key)] = val
	return nil
}

// jsonArg reads a flag's JSON: inline, @file, or - for standard input.
func jsonArg(flagName, s string) (json.RawMessage, error) {
	raw := []byte(s)
	var err error
	switch {
	case s == "-":
		raw, err = io.ReadAll(os.Stdin)
	case strings.HasPrefix(s, "@"):
		raw, err = os.ReadFile(s[1:])
	}
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("--%s is not valid JSON", flagName)
	}
	return raw, nil
}

// jsonObject reads a flag's JSON object; "" is none.
func jsonObject(flagName, s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := jsonArg(flagName, s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("--%s must be a JSON object", flagName)
	}
	return m, nil
}

// deliveryFlags are the retry, rate and mode settings webhooks and
// integrations share.
type deliveryFlags struct {
	strategy, mode, filter                                     string
	maxRetries, retryDelay, maxDelay, timeout, perMin, perHour int
	multiplier, jitter                                         float64
}

func (d *deliveryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.strategy, "retry-strategy", "", "exponential_backoff, linear_backoff, fixed_interval or no_retry")
	fs.IntVar(&d.maxRetries, "max-retries", 0, "retries after the first attempt")
	fs.IntVar(&d.retryDelay, "retry-delay", 0, "seconds before the first retry")
	fs.Float64Var(&d.multiplier, "backoff-multiplier", 0, "growth of exponential backoff")
	fs.IntVar(&d.maxDelay, "max-delay", 0, "longest wait between attempts, seconds")
	fs.Float64Var(&d.jitter, "jitter", 0, "spread of each wait, a fraction (0.1 is ±10%)")
	fs.IntVar(&d.timeout, "timeout", 0, "seconds an attempt may take")
	fs.IntVar(&d.perMin, "rate-per-minute", 0, "attempts allowed per minute")
	fs.IntVar(&d.perHour, "rate-per-hour", 0, "attempts allowed per hour")
	fs.StringVar(&d.mode, "mode", "", "delivery mode: per_event, stream or ordered")
	fs.StringVar(&d.filter, "filter", "", `content filter, JSON ('{}' removes it); @file reads a file`)
}

// input is the settings given on the command line (set).
func (d *deliveryFlags) input(set map[string]bool) (client.DeliverySettings, error) {
	in := client.DeliverySettings{RetryStrategy: webhook.RetryStrategy(d.strategy), RetryDelaySeconds: d.retryDelay,
		BackoffMultiplier: d.multiplier, MaxDelaySeconds: d.maxDelay, TimeoutSeconds: d.timeout,
		RateLimitPerMinute: d.perMin, RateLimitPerHour: d.perHour, DeliveryMode: webhook.DeliveryMode(d.mode)}
	if set["max-retries"] {
		in.MaxRetries = &d.maxRetries
	}
	if set["jitter"] {
		in.JitterPercentage = &d.jitter
	}
	if d.filter != "" {
		raw, err := jsonArg("filter", d.filter)
		if err != nil {
			return in, err
		}
		in.Filter = raw
	}
	return in, nil
}

// when shows a time in local time, or "-".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// or shows s, or "-" when empty.
func or(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// compactJSON shows JSON on one line, "-" when absent.
func compactJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil || string(raw) == "null" || string(raw) == "{}" || len(raw) == 0 {
		return "-"
	}
	return string(raw)
}

// sortedPairs shows a map as K: V, sorted.
func sortedPairs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	for i, k := range keys {
		keys[i] = k + ": " + m[k]
	}
	return or(strings.Join(keys, ", "))
}

func statusCode(code *int) string {
	if code == nil {
		return "-"
	}
	return strconv.Itoa(*code)
}
