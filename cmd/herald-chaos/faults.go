package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// schedule is when each fault happens, from the start of publishing.
type schedule struct {
	workerKillEvery time.Duration
	apiRestart      time.Duration
	temporalRestart time.Duration
	postgresRestart time.Duration // 0: PostgreSQL is left alone
	receiverDown    time.Duration
	receiverDownFor time.Duration
}

// injector runs the schedule against the run's processes and receivers.
type injector struct {
	sched    schedule
	workers  []*proc
	api      *proc
	temporal *proc
	down     *receiver

	mu     sync.Mutex
	counts map[string]int
	errs   []error
	kills  []time.Time // each worker kill -9, as it was sent
}

// killTimes returns when each worker was killed so far.
func (in *injector) killTimes() []time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.kills)
}

func (in *injector) count(kind string) {
	in.mu.Lock()
	in.counts[kind]++
	in.mu.Unlock()
}

func (in *injector) fail(err error) {
	in.mu.Lock()
	in.errs = append(in.errs, err)
	in.mu.Unlock()
}

// run injects faults until ctx ends; the one-off faults each happen once at
// their time, the worker kills repeat.
func (in *injector) run(ctx context.Context, log func(string, ...any)) {
	var wg sync.WaitGroup
	once := func(at time.Duration, kind string, do func() error) {
		if at <= 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(at):
			case <-ctx.Done():
				return
			}
			log("fault: %s", kind)
			if err := do(); err != nil {
				in.fail(fmt.Errorf("%s: %w", kind, err))
				return
			}
			in.count(kind)
		}()
	}
	bg := context.WithoutCancel(ctx)
	once(in.sched.apiRestart, "API restart (SIGTERM)", func() error { return in.api.restart(bg, syscall.SIGTERM, time.Second) })
	once(in.sched.temporalRestart, "Temporal server restart (kill -9)", func() error {
		return in.temporal.restart(bg, syscall.SIGKILL, time.Second)
	})
	once(in.sched.postgresRestart, "PostgreSQL restart", restartPostgres)
	once(in.sched.receiverDown, "receiver down", func() error {
		in.down.down()
		time.Sleep(in.sched.receiverDownFor)
		log("fault: receiver %s back", in.down.name)
		return in.down.back()
	})
	every := in.sched.workerKillEvery
	if every <= 0 {
		every = time.Duration(1<<63 - 1)
	}
	for i := 0; ; i++ {
		select {
		case <-time.After(every):
		case <-ctx.Done():
			wg.Wait()
			return
		}
		w := in.workers[i%len(in.workers)]
		log("fault: kill -9 %s", w.name)
		in.mu.Lock()
		in.kills = append(in.kills, time.Now())
		in.mu.Unlock()
		if err := w.restart(bg, syscall.SIGKILL, time.Second); err != nil {
			in.fail(fmt.Errorf("worker restart: %w", err))
			continue
		}
		in.count("worker kill -9")
	}
}

// restartPostgres restarts the machine's PostgreSQL cluster, as its
// operator would; everything connected loses its connections.
func restartPostgres() error {
	out, err := exec.Command("bash", "-c", `pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main restart -m fast`).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
